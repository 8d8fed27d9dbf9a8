"""API schemas of the cloud domain: the callbacks the cloud sends us, and the account's identity check."""

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from auth.schemas import check_person_name

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number_is_valid(number: str) -> bool:
    """GB 11643: 17 digits and a mod 11-2 check character."""
    # [0-9], not \d, which takes any script's digits: a full-width number is another spelling of one, hashed apart.
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        return False
    return _CHECK[sum(int(digit) * weight for digit, weight in zip(number, _WEIGHTS, strict=False)) % 11] == number[-1]


class IdentityCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Becomes the account's name on a match: held to what every other way of naming an account is.
    name: Annotated[str, AfterValidator(check_person_name)] = Field(
        min_length=1, max_length=50, description="the name on the resident ID card"
    )
    id_number: str = Field(min_length=18, max_length=18, description="the 18-character resident ID number")

    @field_validator("id_number")
    @classmethod
    def _checksum(cls, value: str) -> str:
        value = value.upper()
        if not id_number_is_valid(value):
            raise ValueError("not a valid resident ID number (GB 11643 check character)")
        return value


class PaymentNotification(BaseModel):
    """As the cloud posts it (PascalCase, like the rest of its API)."""

    model_config = ConfigDict(extra="ignore")

    NotificationId: str = Field(min_length=1, max_length=100)
    EventType: Literal["TRANSACTION.SUCCESS", "TRANSACTION.FAIL", "REFUND.SUCCESS"]
    OutTradeNo: str = Field(min_length=1, max_length=32)
    OrderId: str = Field(min_length=1, max_length=64)
    Amount: int = Field(ge=0)
    Currency: str = Field(min_length=3, max_length=3)
    Status: str = Field(max_length=20)
    OutRefundNo: str | None = Field(default=None, max_length=64)
    OccurredAt: int


class SmsReceipt(BaseModel):
    """One delivery report, in the SMS service's own (snake_case) callback format."""

    model_config = ConfigDict(extra="ignore")

    sid: str = Field(min_length=1, max_length=64)
    mobile: str = Field(max_length=20)
    report_status: Literal["SUCCESS", "FAIL"]
    errmsg: str = Field(default="", max_length=100)
    description: str = Field(default="", max_length=200)
    user_receive_time: str = Field(default="", max_length=30)


class CallbackAck(BaseModel):
    result: Literal["applied", "duplicate"]
    count: int = Field(description="notifications in the request that changed something")


# -- documents in object storage -------------------------------------------------------------------------------------


class PresignedRead(BaseModel):
    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


class DocumentConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex SHA-256 of the file you uploaded")
