"""The citizen access log: every read of a citizen's personal data by an officer, administrator or partner.

Written in the reading request's transaction (a read that failed left nothing to log); the citizen sees it at
`GET /api/v1/me/access-log`: who, from which department or partner system, when, and why.
"""

import uuid
from datetime import datetime

from sqlalchemy import Index, select
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import new_id, utcnow


class AccessLogEntry(SQLModel, table=True):
    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_citizen", "citizen_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    citizen_id: uuid.UUID
    reader_subject: str = Field(max_length=100, description="the account (or partner client) that read")
    reader_name: str | None = Field(default=None, max_length=100)
    reader_kind: str = Field(max_length=20, description="officer | administrator | partner")
    reader_department: str | None = Field(default=None, max_length=40)
    client_id: str | None = Field(default=None, max_length=100)
    purpose: str = Field(max_length=200, description="why, e.g. 'application TI-P-2026-000123'")
    object_type: str = Field(max_length=50)
    object_id: str = Field(max_length=100)
    occurred_at: datetime = Field(default_factory=utcnow)


def record(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID,
    reader_subject: str,
    reader_kind: str,
    purpose: str,
    object_type: str,
    object_id: object,
    reader_name: str | None = None,
    reader_department: str | None = None,
    client_id: str | None = None,
) -> None:
    """Add an access entry to the caller's transaction (no flush)."""
    session.add(
        AccessLogEntry(
            citizen_id=citizen_id,
            reader_subject=reader_subject,
            reader_name=reader_name,
            reader_kind=reader_kind,
            reader_department=reader_department,
            client_id=client_id,
            purpose=purpose[:200],
            object_type=object_type,
            object_id=str(object_id),
        )
    )


async def entries(
    session: AsyncSession, citizen_id: uuid.UUID, *, limit: int, before: uuid.UUID | None
) -> list[AccessLogEntry]:
    """Newest first; one more than `limit` to tell whether a page follows."""
    statement = select(AccessLogEntry).where(AccessLogEntry.citizen_id == citizen_id)
    if before is not None:
        statement = statement.where(AccessLogEntry.id < before)
    return list((await session.execute(statement.order_by(AccessLogEntry.id.desc()).limit(limit + 1))).scalars())
