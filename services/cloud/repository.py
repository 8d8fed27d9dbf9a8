"""All SQL of the cloud domain."""

from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

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


async def receipt_exists(session: AsyncSession, notification_id: str) -> bool:
    statement = select(CallbackReceipt.notification_id).where(CallbackReceipt.notification_id == notification_id)
    return (await session.execute(statement)).first() is not None


async def nonce_seen(session: AsyncSession, nonce: str) -> bool:
    return (await session.execute(select(CallbackNonce.nonce).where(CallbackNonce.nonce == nonce))).first() is not None


async def forget_nonces_before(session: AsyncSession, cutoff: datetime) -> None:
    await session.execute(delete(CallbackNonce).where(CallbackNonce.seen_at < cutoff))
