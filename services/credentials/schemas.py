"""API schemas of credentials: the holder's and staff's representation, actions, and the public verification answer."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.http.language import Bilingual, Localized

Kind = Literal["permit", "talent_card"]
PublicStatus = Literal["active", "suspended", "revoked", "expired"]
MAX_INPUT_BYTES = 8192  # a token, or the QR content holding one; anything longer is not ours


class CredentialText(Bilingual):
    """A title or condition as a credential carries it: both languages, signed."""

    zh: str = Field(alias="zh-CN", min_length=1, max_length=500)
    en: str = Field(min_length=1, max_length=500)


class CredentialRead(BaseModel):
    """What the holder and the issuing department's staff see (the holder's account id is never in it)."""

    id: uuid.UUID
    number: str
    kind: Kind
    subject_type: str
    subject_id: uuid.UUID
    holder_name: str
    department: str
    title: Localized
    conditions: list[Localized]
    valid_from: datetime
    valid_until: datetime
    status: PublicStatus = Field(description="active, suspended, revoked, or expired (past valid_until)")
    status_reason: str | None
    status_changed_at: datetime | None
    replaced_by: str | None = Field(
        description="the number of the credential that replaced this one (its renewal), when that is why it is revoked"
    )
    token: str = Field(description="the signed credential (compact JWS, typ ti-credential+jwt)")
    verify_url: str = Field(description="the public verification link the QR code holds")
    qr_url: str
    allowed_actions: list[str] = Field(description="what the caller may do now")
    version: int = Field(description="also the ETag; send it back in If-Match")
    created_at: datetime


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=1000, description="required to suspend or revoke")


class VerifyIn(BaseModel):
    """Exactly one of `token` (the JWS) and `qr` (the scanned QR content, a verification link)."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(default=None, min_length=1, max_length=MAX_INPUT_BYTES)
    qr: str | None = Field(default=None, min_length=1, max_length=MAX_INPUT_BYTES)

    @model_validator(mode="after")
    def _exactly_one(self) -> "VerifyIn":
        if (self.token is None) == (self.qr is None):
            raise ValueError("send either token or qr")
        return self


class VerificationResult(BaseModel):
    """A public answer: whether the signature holds and what the credential's status is. Nothing personal beyond the
    holder name printed on the credential itself."""

    integrity: Literal["valid", "invalid"] = Field(
        description="valid: signed by a published credential key of this issuer, well-formed"
    )
    status: Literal["active", "suspended", "revoked", "expired", "unknown"] = Field(
        description="from the register when the integrity is valid; unknown otherwise"
    )
    detail: Localized | None = Field(default=None, description="why the integrity is invalid or the status unknown")
    replaced_by: str | None = Field(
        default=None,
        description="revoked because a renewal replaced it: the number of the credential in force in its place "
        "(verify that one for its own status)",
    )
    kind: Kind | None = None
    number: str | None = None
    title: Localized | None = None
    holder_name: str | None = None
    department: str | None = None
    conditions: list[Localized] | None = None
    issuer: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    checked_at: datetime
