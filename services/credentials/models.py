"""An issued credential (a permit or a talent card): what was signed, for whom, and its current status.

The signed token never changes; suspension and revocation change the row, and verification reads the status from it.
"Expired" is never stored: it follows from `valid_until` at the moment someone asks.
"""

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field

from core.audit.models import JsonType
from core.models import IdMixin, TimestampMixin, VersionMixin, empty_list


class Credential(IdMixin, TimestampMixin, VersionMixin, table=True):
    __tablename__ = "credential"
    __table_args__ = (
        # The holder's own list, newest first (ids are UUIDv7, so id order is issue order).
        Index("ix_credential_holder", "holder_account_id", "id"),
        # What the issuing domain looks up: the credential of a permit application or a talent registration.
        Index("ix_credential_subject", "subject_type", "subject_id"),
        # The expiry reminder job: active credentials by end of validity.
        Index("ix_credential_expiry", "status", "valid_until"),
    )

    number: str = Field(max_length=64, unique=True, description="e.g. TI-PERMIT-2026-000123")
    kind: str = Field(max_length=20, description="permit | talent_card")
    subject_type: str = Field(max_length=40, description="what it was issued for, e.g. permit_application")
    subject_id: uuid.UUID
    holder_account_id: uuid.UUID = Field(foreign_key="account.id", description="never shown publicly")
    holder_name: str = Field(max_length=200, description="as printed on the credential and the public register")
    department: str = Field(max_length=40, description="the issuing department's code")
    title: dict[str, str] = Field(sa_type=JsonType, description='{"zh-CN": ..., "en": ...}')
    conditions: list[dict[str, str]] = Field(default_factory=empty_list, sa_type=JsonType)
    valid_from: datetime
    valid_until: datetime
    status: str = Field(default="active", max_length=20, description="active | suspended | revoked")
    status_reason: str | None = Field(default=None, max_length=1000)
    status_changed_at: datetime | None = None
    # Revoked because a renewal replaced it (RFC 5280's "superseded"): an inspector scanning the old one is told
    # which credential is in force now, instead of what reads as a sanction.
    replaced_by: str | None = Field(
        default=None, max_length=64, foreign_key="credential.number", description="the renewal that replaced it"
    )
    # The partner system that filed the application for the holder: its events reach that partner alone (while the
    # holder's mandate stands), as the application's did; with none, no partner hears of it.
    filed_by_client: str | None = Field(default=None, max_length=100)
    kid: str = Field(max_length=100, description="the credential signing key's id")
    token: str = Field(description="the compact JWS")
