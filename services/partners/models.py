"""Webhook subscriptions of partner clients, and one delivery per (subscription, event)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from core.audit.models import JsonType
from core.models import IdMixin, TimestampMixin, VersionMixin, empty_list, utcnow


class WebhookSubscription(IdMixin, TimestampMixin, VersionMixin, table=True):
    __tablename__ = "webhook_subscription"

    client_id: str = Field(max_length=100, index=True, description="the partner client that owns it")
    url: str = Field(max_length=500)
    events: list[str] = Field(default_factory=empty_list, sa_type=JsonType)
    secret_encrypted: str = Field(max_length=300, description="the whsec_ signing secret, AES-GCM encrypted")
    active: bool = True
    description: str | None = Field(default=None, max_length=200)


class WebhookDelivery(IdMixin, TimestampMixin, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint(
            "subscription_id", "event_id"
        ),  # one delivery per event per subscription, however often fanned out
        Index("ix_webhook_delivery_list", "subscription_id", "id"),
    )

    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscription.id", ondelete="CASCADE")
    client_id: str = Field(max_length=100, index=True)
    event_id: uuid.UUID
    event_name: str = Field(max_length=100)
    body: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    status: str = Field(default="pending", max_length=20, description="pending | succeeded | dead")
    attempts: int = Field(default=0, description="requests sent to the receiver (one refused by its breaker is not)")
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = None
    # When its current round of sending began (made, replayed, or its dead send retried by an administrator): a
    # receiver that keeps refusing it is waited for until the retry schedule's span has passed since.
    queued_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime | None = Field(default_factory=utcnow, description="while pending: when it is tried next")
