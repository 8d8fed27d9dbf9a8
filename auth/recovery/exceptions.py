"""Errors of codes, changes and resets (problem+json through core.errors)."""

from core.errors import AppError, ValidationFailed, field_error


class PhoneCodeInvalid(ValidationFailed):
    code, title = "phone-code-invalid", "The code is not right, or no longer valid"

    def __init__(self) -> None:
        # One answer for a wrong, used, expired or dead code, and for a number no code went to: nothing to tell apart.
        super().__init__(
            "This code is not right or is no longer valid. A code works once, for 10 minutes at most, and stops "
            "working after 5 tries: ask for a new one.",
            errors=[field_error("phone_code", "not right or no longer valid", code="phone_code_invalid")],
        )


class WrongPassword(ValidationFailed):
    code, title = "wrong-password", "The current password is not right"

    def __init__(self) -> None:
        super().__init__(
            "Your current password is not right.",
            errors=[field_error("current_password", "not right", code="wrong_password")],
        )


class Counted(Exception):
    """An error raised after writes that must stand although the request fails: a wrong try counted against a code,
    its audit entry. The route answers with `error` instead of raising it, so the request's transaction commits."""

    def __init__(self, error: AppError) -> None:
        super().__init__(str(error))
        self.error = error
