"""API schemas of the inbox."""

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class NotificationRead(BaseModel):
    id: uuid.UUID
    template: str
    language: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None
    sms_status: str | None = Field(description="None: in-app only; queued, sent, delivered or failed")


class Inbox(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None
    unread: int = Field(description="unread notifications in the whole inbox")
