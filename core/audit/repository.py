"""Reads of the audit trail for the auditor API."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.audit.models import AuditCheckpoint, AuditEvent
from core.pagination import keyset, page_of

_event = AuditEvent.__table__
_checkpoint = AuditCheckpoint.__table__


async def list_events(
    session: AsyncSession,
    *,
    action: str | None,
    action_prefix: str | None,
    object_type: str | None,
    object_id: str | None,
    subject: str | None,
    outcome: str | None,
    occurred_after: datetime | None,
    occurred_before: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """Chained entries, newest first (an entry joins the trail once the sequencer has chained it)."""
    stmt = select(_event).where(_event.c.seq.is_not(None))
    for column, value in (
        (_event.c.action, action),
        (_event.c.object_type, object_type),
        (_event.c.object_id, object_id),
        (_event.c.subject, subject),
        (_event.c.outcome, outcome),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if action_prefix:
        stmt = stmt.where(_event.c.action.startswith(action_prefix, autoescape=True))
    if occurred_after:
        stmt = stmt.where(_event.c.occurred_at >= occurred_after)
    if occurred_before:
        stmt = stmt.where(_event.c.occurred_at < occurred_before)
    stmt = keyset(stmt, order_by=[_event.c.seq], cursor=cursor, limit=limit, descending=True)
    rows = (await session.execute(stmt)).mappings().all()
    return page_of(rows, limit=limit, key=lambda row: (row["seq"],))


async def list_checkpoints(session: AsyncSession, *, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    """Oldest first, so an export can be appended to as it grows."""
    stmt = keyset(select(_checkpoint), order_by=[_checkpoint.c.seq], cursor=cursor, limit=limit)
    rows = (await session.execute(stmt)).mappings().all()
    return page_of(rows, limit=limit, key=lambda row: (row["seq"],))
