"""The kernel's scheduled jobs (run by the worker, once per period across all workers)."""

from datetime import timedelta
from typing import Any

from sqlalchemy import and_

from core.audit import checkpoint_now
from core.db import delete_in_batches
from core.events import OutboxEvent
from core.http.idempotency import IdempotencyRecord
from core.models import utcnow
from core.worker import REGISTRY

# Handled events are kept a week for inspection, then removed; dead ones stay until an administrator acts.
OUTBOX_RETENTION = timedelta(days=7)


@REGISTRY.every(300, name="audit.checkpoint")
async def audit_checkpoint(state: Any) -> None:
    """Sign the audit head if anything was chained since the last checkpoint."""
    async with state.db.transaction() as session:
        await checkpoint_now(session)


@REGISTRY.every(3600, name="kernel.expire")
async def expire_old_rows(state: Any) -> None:
    """Idempotency keys past their 24 hours; handled outbox events past retention."""
    now = utcnow()
    await delete_in_batches(state.db, IdempotencyRecord.__table__, IdempotencyRecord.expires_at < now)
    await delete_in_batches(
        state.db,
        OutboxEvent.__table__,
        and_(OutboxEvent.status == "done", OutboxEvent.processed_at < now - OUTBOX_RETENTION),
    )
