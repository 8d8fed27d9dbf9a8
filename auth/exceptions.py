"""Errors of the identity domain (problem+json through core.errors)."""

from core.errors import Conflict, NotFound, ValidationFailed, field_error


class AccountNotFound(NotFound):
    code, title = "account-not-found", "No such account"


class ClientNotFound(NotFound):
    code, title = "client-not-found", "No such client"


class PartnerNotFound(NotFound):
    code, title = "partner-not-found", "No such partner system"


class RepresentationNotFound(NotFound):
    code, title = "representation-not-found", "This partner system does not act for you"


class ConsentNotFound(NotFound):
    code, title = "consent-not-found", "You have not allowed this application to act for you"


class PhoneTaken(Conflict):
    code, title = "phone-taken", "An account with this phone number exists"


class UsernameTaken(Conflict):
    code, title = "username-taken", "This username is taken"


class ClientIdTaken(Conflict):
    code, title = "client-id-taken", "This client_id is taken"


class WeakPassword(ValidationFailed):
    code, title = "weak-password", "The password is too easy to guess"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "Choose another password: " + "; ".join(problems) + ".",
            errors=[field_error("password", problem, code="weak_password") for problem in problems],
        )


class InvalidClient(ValidationFailed):
    code, title = "invalid-client-registration", "The client registration is not valid"


class InvalidAccountChange(ValidationFailed):
    code, title = "invalid-account-change", "This change cannot be made to the account"


class InvalidDepartment(ValidationFailed):
    code, title = "invalid-department", "The department does not fit the account"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[field_error("department", detail, code="invalid_department")])


class LastAdministrator(Conflict):
    code, title = "last-administrator", "This would leave no active administrator"


class IdentityAlreadyVerified(Conflict):
    code, title = "identity-already-verified", "This account's identity is already verified"


class VerifiedName(Conflict):
    code, title = "name-verified", "The name was verified against an ID card"


class IdNumberTaken(Conflict):
    code, title = "id-number-taken", "Another account is verified with this ID number"
