"""Talent rule sets, and talent applications with their claims, evidence and history.

Rule sets: one row per version of a scheme. A version is never edited; a change is a new version.

The whole scheme is one JSON document (services/talent/rules.py); the columns beside it are what lists and the
lifecycle need. `version` is the scheme's version number, so the optimistic lock and the ETag are the `revision`.
At most one version of a code is active: a partial unique index says so on both databases.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Text, UniqueConstraint, text
from sqlmodel import Field

from core.audit.models import JsonType
from core.comments import CommentFields
from core.models import HistoryFields, IdMixin, RevisionMixin, TimestampMixin, VersionMixin

RULE_SET_STATUSES = ("draft", "active", "retired")
_ACTIVE = text("status = 'active'")
# An application that is not over yet; a person has at most one (a card is renewed by a new one afterwards).
OPEN_STATES = ("draft", "submitted", "verifying", "awaiting_applicant", "scored", "approved")
_OPEN = text("status IN (" + ", ".join(f"'{state}'" for state in OPEN_STATES) + ")")


class TalentRuleSet(IdMixin, TimestampMixin, RevisionMixin, table=True):
    __tablename__ = "talent_rule_set"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_talent_rule_set_code_version"),
        Index("uq_talent_rule_set_active", "code", unique=True, postgresql_where=_ACTIVE, sqlite_where=_ACTIVE),
        CheckConstraint("status IN ('draft', 'active', 'retired')", name="status"),
    )

    code: str = Field(max_length=63)
    version: int = Field(ge=1)
    status: str = Field(default="draft", max_length=10, description="draft | active | retired")
    name_zh: str = Field(max_length=300)
    name_en: str = Field(max_length=300)
    document: dict[str, Any] = Field(sa_type=JsonType)
    created_by: str | None = Field(default=None, max_length=100, description="the account (or client) that wrote it")
    activated_at: datetime | None = None
    retired_at: datetime | None = None


class TalentApplication(IdMixin, TimestampMixin, VersionMixin, table=True):
    """A talent registration: the person's claims are verified, scored against a rule set, reviewed, approved at a
    tier, and a talent card is issued. The score and tier are columns (queues filter by them); the per-criterion
    breakdown can reveal a salary band, so it is kept encrypted with the claims."""

    __tablename__ = "talent_application"
    __table_args__ = (
        Index("ix_talent_application_queue", "status", "due_at", "id"),
        Index("ix_talent_application_applicant", "applicant_id", "id"),
        Index("ix_talent_application_card_number", "card_number", unique=True),
        # The database holds the one-open-application rule, so two creates racing past the service's check cannot
        # both land.
        Index("uq_talent_application_open", "applicant_id", unique=True, postgresql_where=_OPEN, sqlite_where=_OPEN),
        CheckConstraint(
            "status IN ('draft', 'submitted', 'verifying', 'awaiting_applicant', 'scored', 'approved', "
            "'card_issued', 'rejected', 'withdrawn')",
            name="status",
        ),
    )

    reference: str = Field(max_length=30, unique=True, description="TI-T-2026-000123")
    applicant_id: uuid.UUID = Field(foreign_key="account.id")
    sponsored_by_client: str | None = Field(default=None, max_length=100, description="the employer's partner system")
    rule_set: str = Field(max_length=63, description="the scheme it is assessed against")
    status: str = Field(default="draft", max_length=30)
    assignee_id: uuid.UUID | None = Field(default=None, foreign_key="account.id")
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    # The SLA clock (core/sla.py).
    due_at: datetime | None = None
    risk_at: datetime | None = None
    paused_at: datetime | None = None
    paused_seconds: int = 0
    paused_clock_seconds: int = 0  # of paused_seconds, what the clock counts (the working days' part)
    escalated_at: datetime | None = Field(default=None, description="when the supervisors were told of the deadline")
    # A request for information: the question and by when it must be answered (the RFI timeout job reads it).
    question: str | None = Field(default=None, max_length=4000)
    answer_due_at: datetime | None = None
    # The scoring, with the exact rule-set version used: a later version never changes it.
    rule_set_version: int | None = None
    score: int | None = None
    scored_tier: str | None = Field(default=None, max_length=20)
    scored_at: datetime | None = None
    assessment_sealed: str | None = Field(
        default=None, sa_type=Text, description="the assessment with its breakdown, encrypted"
    )
    recommended_tier: str | None = Field(default=None, max_length=20, description="the reviewing officer's")
    rejection_proposed: bool = False
    reviewed_by: str | None = Field(default=None, max_length=100)
    approved_tier: str | None = Field(default=None, max_length=20)
    card_number: str | None = Field(default=None, max_length=40)


class TalentHistory(HistoryFields, table=True):
    __tablename__ = "talent_history"
    __table_args__ = (Index("ix_talent_history_application", "application_id", "id"),)

    application_id: uuid.UUID = Field(foreign_key="talent_application.id", ondelete="CASCADE")


class TalentComment(CommentFields, table=True):
    __tablename__ = "talent_comment"
    __table_args__ = (Index("ix_talent_comment_application", "application_id", "id"),)

    application_id: uuid.UUID = Field(foreign_key="talent_application.id", ondelete="CASCADE")


class TalentClaim(IdMixin, TimestampMixin, VersionMixin, table=True):
    """One declared claim (services/talent/claims.py), encrypted whole: salaries, tax records and birth dates are
    personal data, and nothing queries inside a claim."""

    __tablename__ = "talent_claim"
    __table_args__ = (
        Index("ix_talent_claim_application", "application_id", "id"),
        CheckConstraint("status IN ('pending', 'verified', 'unverifiable')", name="status"),
    )

    application_id: uuid.UUID = Field(foreign_key="talent_application.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    sealed: str = Field(sa_type=Text, description="the claim's fields as JSON, encrypted")
    status: str = Field(default="pending", max_length=20, description="pending | verified | unverifiable")
    method: str | None = Field(default=None, max_length=20, description="registry | officer")
    reason: str | None = Field(default=None, max_length=1000, description="why it could not be verified")
    verified_by: str | None = Field(default=None, max_length=100)
    verified_at: datetime | None = None


class TalentEvidence(IdMixin, TimestampMixin, table=True):
    """A document behind a claim, uploaded straight to object storage and checked there (cloud_service.check_upload)."""

    __tablename__ = "talent_evidence"
    __table_args__ = (
        Index("ix_talent_evidence_claim", "claim_id", "id"),
        Index("ix_talent_evidence_application", "application_id", "id"),
    )

    application_id: uuid.UUID = Field(foreign_key="talent_application.id", ondelete="CASCADE")
    claim_id: uuid.UUID = Field(foreign_key="talent_claim.id", ondelete="CASCADE")
    filename: str = Field(max_length=200)
    object_key: str = Field(max_length=200)
    media_type: str = Field(max_length=60)
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    status: str = Field(default="awaiting_upload", max_length=20, description="awaiting_upload | uploaded")
    uploaded_at: datetime | None = None
