"""Scheduled job: codes are removed a day after they expired (they hold a keyed hash of a phone number)."""

from datetime import timedelta
from typing import Any

from auth.recovery import repository
from auth.recovery.models import PhoneCode
from core.db import delete_in_batches
from core.models import utcnow
from core.worker import REGISTRY

# Kept a day past expiry: long enough to look into a burst of codes asked for one number, no longer.
CODE_RETENTION = timedelta(days=1)


@REGISTRY.every(3600, name="auth.phone_codes.expire")
async def expire_phone_codes(state: Any) -> None:
    await delete_in_batches(state.db, PhoneCode.__table__, repository.expired_codes(utcnow() - CODE_RETENTION))
