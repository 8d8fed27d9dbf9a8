"""Transactional outbox: `emit()` writes an event in the caller's transaction, so an event exists if and only if the
change that caused it committed. The worker (core/worker.py) hands each event to its handlers; nothing is sent from
a request. An event's delivery state lives on its row: pending (with the attempts made, when it may next be tried,
and which worker holds its lease), done, or dead (its last error kept for an administrator to read and retry).

Event names come from one catalogue: each domain declares its events with `define_event()` at import time, and
`emit()` refuses a name that was never declared.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Index
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.audit.models import JsonType
from core.context import current_request_id
from core.models import new_id, utcnow

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,4}$")


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    description: str
    # Partners may subscribe webhooks to it (its payload holds nothing personal).
    partner_visible: bool = False


CATALOGUE: dict[str, EventType] = {}


def define_event(name: str, *, description: str, version: int = 1, partner_visible: bool = False) -> EventType:
    """Declare an event name (`domain.entity.happened`) and its schema version; declaring it again is a no-op."""
    if not _NAME.match(name):
        raise ValueError(f"event name {name!r} is not dotted lowercase like 'permit.application.submitted'")
    event_type = EventType(name=name, version=version, description=description, partner_visible=partner_visible)
    existing = CATALOGUE.setdefault(name, event_type)
    if existing.version != version:
        raise ValueError(f"event {name} is already declared with version {existing.version}")
    return existing


@dataclass(frozen=True)
class Event:
    name: str
    subject: str = field(metadata={"doc": "what the event is about, e.g. permit.application:<id>"})
    payload: dict[str, Any] = field(default_factory=dict)


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"
    # What the worker's claim query scans: pending events that are due.
    __table_args__ = (Index("ix_outbox_event_due", "status", "available_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=100, index=True)
    version: int
    subject: str = Field(max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    occurred_at: datetime = Field(default_factory=utcnow)
    request_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=10, description="pending | done | dead")
    attempts: int = 0
    available_at: datetime = Field(default_factory=utcnow, description="not to be tried before this")
    locked_by: str | None = Field(default=None, max_length=64, description="the worker holding the lease")
    locked_until: datetime | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    processed_at: datetime | None = None


def outbox_row(event: Event) -> dict[str, Any]:
    """The outbox row of a new event, every column given: for a caller that writes it with its own insert (one
    statement for several tables) rather than through `emit`; the rules are the same."""
    event_type = CATALOGUE.get(event.name)
    if event_type is None:
        raise KeyError(f"event {event.name!r} is not in the catalogue; declare it with define_event()")
    now = utcnow()
    return {
        "id": new_id(),
        "name": event.name,
        "version": event_type.version,
        "subject": event.subject,
        "payload": to_jsonable_python(event.payload),
        "occurred_at": now,
        "request_id": current_request_id(),
        "status": "pending",
        "attempts": 0,
        "available_at": now,
        "locked_by": None,
        "locked_until": None,
        "last_error": None,
        "processed_at": None,
    }


def emit(session: AsyncSession, event: Event) -> OutboxEvent:
    """Add the event to the caller's transaction (no flush, no I/O)."""
    row = OutboxEvent(**outbox_row(event))
    session.add(row)
    return row
