"""One-time codes sent by SMS to prove a phone number is held (sign-up, password reset)."""

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from core.models import new_id, utcnow


class PhoneCode(SQLModel, table=True):
    """A code as it is kept: never the code itself (nor the phone number), only keyed hashes of them. Only the newest
    code of a phone number and purpose can be used; it dies once used, at `expires_at`, or after its fifth try."""

    __tablename__ = "phone_code"
    __table_args__ = (Index("ix_phone_code_phone_hash_purpose", "phone_hash", "purpose", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    phone_hash: str = Field(max_length=64, description="the phone number's keyed lookup hash")
    purpose: str = Field(max_length=20, description="sign_up | reset")
    code_hash: str = Field(max_length=64, description="keyed hash of the code, bound to this row's id")
    # For a reset, the account the phone number belonged to when the code was asked for (none: no code was sent).
    account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    tries: int = Field(default=0, description="tries made with this code, the right one included")
    used_at: datetime | None = None
