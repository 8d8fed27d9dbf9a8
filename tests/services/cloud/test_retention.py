"""What we keep of our dealings with the cloud goes once its retention is past, and not before."""

from datetime import timedelta

from sqlalchemy import select

from core.models import utcnow
from services.cloud import tasks
from services.cloud.models import CallbackReceipt, SmsMessage
from tests.helpers import id_made_at


async def test_sms_records_and_callback_receipts_past_retention_are_removed(app, db) -> None:
    now = utcnow()
    async with db.transaction() as session:
        for token, made in (
            ("sms-long-ago", now - tasks.SMS_RETENTION - timedelta(days=1)),
            ("sms-last-month", now - timedelta(days=30)),
        ):
            session.add(
                SmsMessage(
                    id=id_made_at(made),
                    created_at=made,
                    client_token=token,
                    phone_encrypted="sealed",
                    template="T1",
                    purpose="test.retention",
                )
            )
        for notification_id, received_at in (
            ("receipt-long-ago", now - tasks.RECEIPT_RETENTION - timedelta(days=1)),
            ("receipt-yesterday", now - timedelta(days=1)),
        ):
            session.add(CallbackReceipt(notification_id=notification_id, kind="payment", received_at=received_at))

    await tasks.expire_records(app.state)

    async with db.transaction(write=False) as session:
        tokens = await session.execute(select(SmsMessage.client_token).where(SmsMessage.purpose == "test.retention"))
        receipts = await session.execute(
            select(CallbackReceipt.notification_id).where(CallbackReceipt.notification_id.startswith("receipt-"))
        )
        assert list(tokens.scalars()) == ["sms-last-month"]
        assert list(receipts.scalars()) == ["receipt-yesterday"]
