"""Scheduled jobs: what we keep of our dealings with the cloud is kept only as long as it serves."""

from datetime import timedelta
from typing import Any

from core.db import delete_in_batches
from core.models import first_id_at, utcnow
from core.worker import REGISTRY
from services.cloud.models import CallbackReceipt, SmsMessage

# An SMS record holds a phone number (sealed): kept half a year, for a citizen's complaint that a message never came;
# delivery reports arrive within days. A callback's receipt outlives the cloud's retries of it (a day) by far.
SMS_RETENTION = timedelta(days=180)
RECEIPT_RETENTION = timedelta(days=30)


@REGISTRY.every(3600, name="cloud.expire")
async def expire_records(state: Any) -> None:
    """SMS records and callback receipts past their retention."""
    now = utcnow()
    await delete_in_batches(state.db, SmsMessage.__table__, SmsMessage.id < first_id_at(now - SMS_RETENTION))
    await delete_in_batches(state.db, CallbackReceipt.__table__, CallbackReceipt.received_at < now - RECEIPT_RETENTION)
