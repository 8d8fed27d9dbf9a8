"""All SQL of partner webhooks. Every read and write a partner makes is scoped to its own client_id in the query."""

import uuid

from sqlalchemy import func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import take_turns
from core.events import OutboxEvent
from services.partners.models import WebhookDelivery, WebhookSubscription


async def subscription(session: AsyncSession, client_id: str, subscription_id: uuid.UUID) -> WebhookSubscription | None:
    statement = select(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id, WebhookSubscription.client_id == client_id
    )
    return (await session.execute(statement)).scalar()


async def subscriptions(
    session: AsyncSession, client_id: str, *, limit: int, after: uuid.UUID | None
) -> list[WebhookSubscription]:
    statement = select(WebhookSubscription).where(WebhookSubscription.client_id == client_id)
    if after is not None:
        statement = statement.where(WebhookSubscription.id > after)
    return list((await session.execute(statement.order_by(WebhookSubscription.id).limit(limit + 1))).scalars())


async def active_subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    statement = select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
    return list((await session.execute(statement)).scalars())


async def delivery_exists(session: AsyncSession, subscription_id: uuid.UUID, event_id: uuid.UUID) -> bool:
    statement = select(WebhookDelivery.id).where(
        WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.event_id == event_id
    )
    return (await session.execute(statement)).first() is not None


async def delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, client_id: str | None = None, for_update: bool = False
) -> WebhookDelivery | None:
    statement = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if client_id is not None:
        statement = statement.where(WebhookDelivery.client_id == client_id)
    return (await session.execute(statement.with_for_update() if for_update else statement)).scalar()


async def open_send(session: AsyncSession, delivery_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
    """The delivery's send in the outbox that is queued ("pending") or may be brought back ("dead"), the queued one
    first; held until the transaction ends, so an administrator's retry of the dead one side by side takes turns with
    the caller (on PostgreSQL: read unheld, a send could be revived under the caller, who then queued a second)."""
    statement = (
        select(OutboxEvent.id, OutboxEvent.status)
        .where(OutboxEvent.subject == f"webhook_delivery:{delivery_id}", OutboxEvent.status.in_(("pending", "dead")))
        .order_by(OutboxEvent.id)
        .with_for_update()
    )
    rows = (await session.execute(statement)).all()
    if not rows:
        return None
    send_id, status = min(rows, key=lambda row: row.status != "pending")
    return send_id, status


# The PostgreSQL advisory lock class of a partner's subscription writes (any fixed number).
_SUBSCRIPTION_WRITES = 0x7415_5B5C


async def subscription_count(session: AsyncSession, client_id: str) -> int:
    """How many subscriptions the partner has; its subscribers take turns from here to the end of the transaction, so
    a count and the insert after it are not outrun by another (creates side by side could pass the cap)."""
    await take_turns(session, _SUBSCRIPTION_WRITES, client_id)
    statement = select(func.count()).where(WebhookSubscription.client_id == client_id)
    return (await session.execute(statement)).scalar_one()


async def deliveries(
    session: AsyncSession, client_id: str, subscription_id: uuid.UUID, *, limit: int, before: uuid.UUID | None
) -> list[WebhookDelivery]:
    statement = select(WebhookDelivery).where(
        WebhookDelivery.client_id == client_id, WebhookDelivery.subscription_id == subscription_id
    )
    if before is not None:
        statement = statement.where(WebhookDelivery.id < before)
    return list((await session.execute(statement.order_by(WebhookDelivery.id.desc()).limit(limit + 1))).scalars())


async def record_attempt(session: AsyncSession, delivery_id: uuid.UUID, **values: object) -> None:
    """What came of a request sent to the receiver: an attempt, counted."""
    await record(session, delivery_id, attempts=WebhookDelivery.attempts + 1, **values)


async def record(session: AsyncSession, delivery_id: uuid.UUID, **values: object) -> None:
    await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))
