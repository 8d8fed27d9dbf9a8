"""All SQL of notifications."""

import uuid

from sqlalchemy import func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import utcnow
from services.notifications.models import Notification


async def by_dedupe_key(session: AsyncSession, account_id: uuid.UUID, dedupe_key: str) -> Notification | None:
    statement = select(Notification).where(Notification.account_id == account_id, Notification.dedupe_key == dedupe_key)
    return (await session.execute(statement)).scalar()


async def unread_about(session: AsyncSession, account_id: uuid.UUID, template: str, reference: str) -> bool:
    """Whether the account has an unread notification of this template about this application (by its reference)."""
    statement = select(Notification.params).where(
        Notification.account_id == account_id, Notification.template == template, Notification.read_at.is_(None)
    )
    return any(params.get("reference") == reference for params in (await session.execute(statement)).scalars())


async def get(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    return await session.get(Notification, notification_id)


async def inbox(
    session: AsyncSession, account_id: uuid.UUID, *, limit: int, before: uuid.UUID | None, unread: bool | None
) -> list[Notification]:
    """Newest first (ids are UUIDv7, so id order is time order); one more than `limit` to tell if a page follows."""
    statement = select(Notification).where(Notification.account_id == account_id)
    if before is not None:
        statement = statement.where(Notification.id < before)
    if unread is True:
        statement = statement.where(Notification.read_at.is_(None))
    elif unread is False:
        statement = statement.where(Notification.read_at.is_not(None))
    statement = statement.order_by(Notification.id.desc()).limit(limit + 1)
    return list((await session.execute(statement)).scalars())


async def unread_count(session: AsyncSession, account_id: uuid.UUID) -> int:
    statement = select(func.count()).where(Notification.account_id == account_id, Notification.read_at.is_(None))
    return (await session.execute(statement)).scalar_one()


async def mark_read(session: AsyncSession, account_id: uuid.UUID, notification_id: uuid.UUID) -> bool:
    """Owner-scoped: another person's notification matches no row."""
    result = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.account_id == account_id)
        .values(read_at=func.coalesce(Notification.read_at, utcnow()))
    )
    return result.rowcount == 1


async def set_sms_status(session: AsyncSession, notification_id: uuid.UUID, *, status: str, expected: str) -> None:
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.sms_status == expected)
        .values(sms_status=status)
    )
