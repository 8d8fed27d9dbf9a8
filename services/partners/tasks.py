"""Worker handlers: fan partner-visible events out to subscriptions, and deliver each one."""

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import and_
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import delete_in_batches
from core.events import OutboxEvent
from core.models import first_id_at, utcnow
from core.worker import REGISTRY
from services.partners import service
from services.partners.models import WebhookDelivery

# A partner can list and replay its deliveries for 30 days after they last moved; those still being sent stay.
DELIVERY_RETENTION = timedelta(days=30)


@REGISTRY.on("*", name="partners.fan_out")
async def fan_out(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    await service.fan_out(session=session, event=event)


@REGISTRY.on(service.DELIVERY_DUE.name, name="partners.deliver")
async def deliver(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    settings = state.settings
    await service.deliver(
        database=state.db,
        session=session,
        identity=state.identity,
        http=state.webhook_http,
        receivers=state.webhook_receivers,
        delivery_id=uuid.UUID(str(event.payload["delivery_id"])),
        attempt=event.attempts,
        schedule=service.RetrySchedule(tuple(settings.webhook_retry_seconds), settings.worker_max_attempts),
    )


@REGISTRY.every(3600, name="partners.expire")
async def expire_deliveries(state: Any) -> None:
    """Deliveries that succeeded or gave up more than DELIVERY_RETENTION ago (each holds a copy of an event)."""
    before = utcnow() - DELIVERY_RETENTION
    await delete_in_batches(
        state.db,
        WebhookDelivery.__table__,
        and_(
            WebhookDelivery.id < first_id_at(before),  # made before then, found off the primary key ...
            WebhookDelivery.updated_at < before,  # ... and not replayed since
            WebhookDelivery.status != "pending",
        ),
    )
