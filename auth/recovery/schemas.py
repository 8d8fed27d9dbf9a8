"""API shapes of codes, password changes and resets. Request schemas forbid unknown fields."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from auth.schemas import MobilePhone, Password, Strict

PhoneCodeValue = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="The 6-digit code sent by SMS")]


class PhoneCodeRequest(Strict):
    phone: MobilePhone
    purpose: Literal["sign_up", "reset"] = Field(
        description="`sign_up`: to create an account with this number; `reset`: to set a new password for the "
        "citizen account that has it"
    )


class PhoneCodeAccepted(BaseModel):
    """The same answer whether or not an account has the number, and whether or not a code was sent to it."""

    expires_in: int = Field(description="Seconds a code sent now stays valid")
    resend_after: int = Field(description="Seconds before another code may be asked for this number")


class PasswordChange(Strict):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    password: Password


class PasswordReset(Strict):
    phone: MobilePhone
    phone_code: PhoneCodeValue
    password: Password


class PasswordSet(Strict):
    password: Password
