"""API schemas of partner webhooks."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

EventNames = list[str]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8, max_length=500, description="an https URL; checked against SSRF now and before every delivery"
    )
    events: EventNames = Field(min_length=1, max_length=50, description="partner-visible event names (GET .../events)")
    description: str | None = Field(default=None, max_length=200)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=8, max_length=500)
    events: EventNames | None = Field(default=None, min_length=1, max_length=50)
    active: bool | None = None
    description: str | None = Field(default=None, max_length=200)


class WebhookRead(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    description: str | None
    created_at: datetime
    version: int


class WebhookCreated(WebhookRead):
    secret: str = Field(description="whsec_... : shown once; verify each delivery's Webhook-Signature with it")


class DeliveryRead(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_name: str
    status: str = Field(description="pending | succeeded | dead")
    attempts: int = Field(
        description="requests sent to your receiver; while it keeps failing, its deliveries wait without one being "
        "sent (after 5 failures in a row, a minute at a time), and those waits are not attempts"
    )
    last_status_code: int | None = Field(description="your receiver's answer to the last attempt")
    last_error: str | None = Field(
        description="what went wrong at the last attempt, or why it was given up or is sent no more"
    )
    delivered_at: datetime | None
    next_attempt_at: datetime | None = Field(
        description="while pending: when it is tried next (by default, retries come 5 s, 5 min, 30 min, 2 h, 5 h, "
        "10 h and 10 h after the failures before them: about a day in all); null once delivered or dead"
    )
    created_at: datetime


class EventTypeRead(BaseModel):
    name: str
    version: int
    description: str
