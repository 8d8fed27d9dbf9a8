"""A notification to one account: what the inbox shows, and how its SMS copy fared."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from core.audit.models import JsonType
from core.models import IdMixin, TimestampMixin


class Notification(IdMixin, TimestampMixin, table=True):
    __tablename__ = "notification"
    __table_args__ = (
        # One notification per cause: a handler that runs twice for an event finds its first notification.
        UniqueConstraint("account_id", "dedupe_key"),
        Index("ix_notification_inbox", "account_id", "id"),
    )

    account_id: uuid.UUID = Field(foreign_key="account.id", ondelete="CASCADE")
    template: str = Field(max_length=50)
    language: str = Field(max_length=10)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    title: str = Field(max_length=200)
    body: str = Field(max_length=2000)
    dedupe_key: str = Field(max_length=100, description="the cause, e.g. the event id that asked for it")
    read_at: datetime | None = None
    sms_status: str | None = Field(
        default=None, max_length=20, description="None: in-app only | queued | sent | delivered | failed"
    )
