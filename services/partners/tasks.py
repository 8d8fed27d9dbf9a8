"""Worker handlers: fan partner-visible events out to subscriptions, and deliver each one."""

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.events import OutboxEvent
from core.worker import REGISTRY
from services.partners import service


@REGISTRY.on("*", name="partners.fan_out")
async def fan_out(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    await service.fan_out(session=session, event=event)


@REGISTRY.on(service.DELIVERY_DUE.name, name="partners.deliver")
async def deliver(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    await service.deliver(
        database=state.db,
        session=session,
        identity=state.identity,
        http=state.webhook_http,
        delivery_id=uuid.UUID(str(event.payload["delivery_id"])),
        last_attempt=event.attempts >= state.settings.worker_max_attempts,
    )
