"""Permit applications and what hangs off them: history, documents, comments, requests for information.

An application pins the catalogue version it was made against (`service_id`), so a later edit of the service never
changes what was applied for. Fee lines and form data are JSON on the row: they are read with the application and
never queried on their own. The columns beside them are what the officer queue filters and orders by.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, text
from sqlmodel import Field

from core.audit.models import JsonType
from core.comments import CommentFields
from core.models import HistoryFields, IdMixin, TimestampMixin, VersionMixin, empty_list, utcnow

# The states of an application still holding its claim to renew a permit: all but those that end without one. (Queries
# use this very text, so that both databases see the partial index applies.)
RENEWING = text("renews IS NOT NULL AND status NOT IN ('rejected', 'withdrawn')")


class PermitApplication(IdMixin, TimestampMixin, VersionMixin, table=True):
    __tablename__ = "permit_application"
    __table_args__ = (
        # The officer queue: a department's applications by status, oldest deadline first.
        Index("ix_permit_application_queue", "department", "status", "due_at", "id"),
        Index("ix_permit_application_deadline", "department", "due_at", "id"),
        Index("ix_permit_application_assignee", "department", "assignee_id", "id"),
        Index("ix_permit_application_applicant", "applicant_id", "id"),
        Index("ix_permit_application_permit_number", "permit_number", unique=True),
        # A permit is renewed once: by one application under way or issued (one that ended without a permit frees it).
        Index("uq_permit_application_renews", "renews", unique=True, postgresql_where=RENEWING, sqlite_where=RENEWING),
    )

    reference: str = Field(max_length=30, unique=True, description="TI-P-2026-000123")
    service_id: uuid.UUID = Field(foreign_key="catalogue_service.id", description="the pinned catalogue version")
    service_code: str = Field(max_length=63, index=True)
    service_version: int
    department: str = Field(max_length=40, description="the service's competent department")
    applicant_id: uuid.UUID = Field(foreign_key="account.id")
    submitted_by_client: str | None = Field(default=None, max_length=100, description="a partner acting for them")
    holder_name: str = Field(max_length=200, description="the name the permit is issued to (a business or a person)")
    holder_public: bool = Field(
        default=False, description="the holder is a business named by the form: the public register may show it"
    )
    status: str = Field(default="draft", max_length=30)
    form: dict[str, Any] = Field(
        default_factory=dict, sa_type=JsonType, description="the answers, but for those the form marks personal"
    )
    form_sealed: str | None = Field(
        default=None,
        sa_type=Text,
        description="the personal answers: JSON, AES-GCM under the data key, bound to this application",
    )
    fees: list[dict[str, Any]] = Field(default_factory=empty_list, sa_type=JsonType)
    fee_total: int = 0
    paid_at: datetime | None = None
    refunded_at: datetime | None = None
    assignee_id: uuid.UUID | None = None
    rejection_proposed: bool = False
    conditions: list[str] = Field(default_factory=empty_list, sa_type=JsonType, description="set on approval")
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    # The SLA clock (core/sla.py): due and at-risk instants, moved on by the time spent paused (paused_seconds, all
    # of it; paused_clock_seconds, what the clock counts of it: for a clock of working days, the working days' part).
    due_at: datetime | None = None
    risk_at: datetime | None = None
    paused_at: datetime | None = None
    paused_seconds: int = 0
    paused_clock_seconds: int = 0
    escalated_at: datetime | None = None
    permit_number: str | None = Field(default=None, max_length=40)
    renews: str | None = Field(default=None, max_length=40, description="the number of the permit this one renews")


class PermitHistory(HistoryFields, table=True):
    """One row per transition: what happened, who did it, from which state to which, and why."""

    __tablename__ = "permit_history"
    __table_args__ = (Index("ix_permit_history_application", "application_id", "id"),)

    application_id: uuid.UUID = Field(foreign_key="permit_application.id", ondelete="CASCADE")


class PermitDocument(IdMixin, TimestampMixin, table=True):
    __tablename__ = "permit_document"
    __table_args__ = (Index("ix_permit_document_application", "application_id", "code"),)

    application_id: uuid.UUID = Field(foreign_key="permit_application.id", ondelete="CASCADE")
    code: str = Field(max_length=40, description="the checklist line of the pinned service")
    filename: str = Field(max_length=200, description="sanitised; the object key never derives from it")
    object_key: str = Field(max_length=200)
    media_type: str = Field(max_length=60)
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    status: str = Field(
        default="awaiting_upload", max_length=20, description="awaiting_upload | uploaded | accepted | rejected"
    )
    reason: str | None = Field(default=None, max_length=500)
    uploaded_at: datetime | None = None
    reviewed_by: str | None = Field(default=None, max_length=100)


class PermitComment(CommentFields, table=True):
    __tablename__ = "permit_comment"
    __table_args__ = (Index("ix_permit_comment_application", "application_id", "id"),)

    application_id: uuid.UUID = Field(foreign_key="permit_application.id", ondelete="CASCADE")


class InformationRequest(IdMixin, table=True):
    """An officer's request for information: pauses the SLA clock until answered; times out at `due_at`."""

    __tablename__ = "permit_information_request"
    __table_args__ = (
        Index("ix_permit_rfi_application", "application_id", "id"),
        Index("ix_permit_rfi_due", "status", "due_at"),
    )

    application_id: uuid.UUID = Field(foreign_key="permit_application.id", ondelete="CASCADE")
    question: str = Field(max_length=4000)
    documents: list[str] = Field(
        default_factory=empty_list, sa_type=JsonType, description="checklist codes to (re)upload"
    )
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow)
    due_at: datetime
    status: str = Field(default="open", max_length=20, description="open | answered | timed_out")
    answer: str | None = Field(default=None, max_length=4000)
    answered_at: datetime | None = None
