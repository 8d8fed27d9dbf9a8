"""Worker handlers: which events notify whom, the SMS copies, and their delivery reports."""

import uuid
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.events import OutboxEvent
from core.sla import china_time
from core.worker import REGISTRY
from services.notifications import service


@REGISTRY.on("identity.account.updated", name="notifications.identity_verified")
async def identity_verified(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    if "identity" not in event.payload.get("fields", []):
        return
    await service.notify(
        session=session,
        identity=state.identity,
        account_id=uuid.UUID(event.subject.removeprefix("account:")),
        template="identity_verified",
        params={},
        dedupe_key=f"event:{event.id}",
    )


@REGISTRY.on(service.SMS_REQUESTED.name, name="notifications.send_sms")
async def send_sms(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    await service.send_sms(
        session=session,
        identity=state.identity,
        sms=state.cloud.cloud.sms,
        notification_id=uuid.UUID(str(event.payload["notification_id"])),
    )


@REGISTRY.on("cloud.sms.delivered", "cloud.sms.failed", name="notifications.sms_reported")
async def sms_reported(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    await service.sms_reported(session=session, purpose=event.subject, delivered=event.name == "cloud.sms.delivered")


@REGISTRY.on("identity.password.changed", name="notifications.password_changed")
async def password_changed(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """A password changed or reset, told to its owner (inbox, and SMS to a citizen) in case it was not them."""
    await service.notify(
        session=session,
        identity=state.identity,
        account_id=uuid.UUID(event.subject.removeprefix("account:")),
        template="password_changed",
        params={"changed_at": china_time(datetime.fromisoformat(event.payload["at"])), "how": event.payload["how"]},
        dedupe_key=f"event:{event.id}",
    )
