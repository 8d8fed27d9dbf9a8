"""Scheduled jobs of credentials."""

from typing import Any

from core.models import utcnow
from core.worker import REGISTRY
from services.credentials import service


@REGISTRY.every(86400, name="credentials.expiry_reminders")
async def expiry_reminders(state: Any) -> None:
    """Tell holders of credentials ending within 60 days (once per credential), a batch per transaction."""
    now, after = utcnow(), None
    while True:
        async with state.db.transaction() as session:
            after = await service.remind_expiring(session=session, identity=state.identity, now=now, after=after)
        if after is None:
            return
