"""All SQL of the cloud domain."""

from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import insert_ignoring_conflicts
from core.models import utcnow
from services.cloud.models import CallbackNonce, CallbackReceipt, Payment, SmsMessage


async def payment_by_out_trade_no(session: AsyncSession, out_trade_no: str) -> Payment | None:
    return (await session.execute(select(Payment).where(Payment.out_trade_no == out_trade_no))).scalar()


async def payments_for(session: AsyncSession, purpose: str) -> list[Payment]:
    statement = select(Payment).where(Payment.purpose == purpose).order_by(Payment.created_at)
    return list((await session.execute(statement)).scalars())


async def sms_by_serial(session: AsyncSession, serial_no: str) -> SmsMessage | None:
    return (await session.execute(select(SmsMessage).where(SmsMessage.serial_no == serial_no))).scalar()


async def sms_by_client_token(session: AsyncSession, client_token: str) -> SmsMessage | None:
    return (await session.execute(select(SmsMessage).where(SmsMessage.client_token == client_token))).scalar()


async def claim_receipt(session: AsyncSession, notification_id: str, kind: str) -> bool:
    """Record that this notification is being applied; False when it was (or is being, by a delivery running at
    the same time, which this waits for on PostgreSQL) already."""
    statement = (
        insert_ignoring_conflicts(session.bind.dialect.name, CallbackReceipt.__table__)
        .values(notification_id=notification_id, kind=kind, received_at=utcnow())
        .on_conflict_do_nothing()
        .returning(CallbackReceipt.__table__.c.notification_id)
    )
    return (await session.execute(statement)).first() is not None


async def nonce_seen(session: AsyncSession, nonce: str) -> bool:
    return (await session.execute(select(CallbackNonce.nonce).where(CallbackNonce.nonce == nonce))).first() is not None


async def forget_nonces_before(session: AsyncSession, cutoff: datetime) -> None:
    await session.execute(delete(CallbackNonce).where(CallbackNonce.seen_at < cutoff))
