"""The kernel's scheduled jobs (run by the worker, once per period across all workers)."""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from core.audit import checkpoint_now
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
    async with state.db.transaction() as session:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow()))
        await session.execute(
            delete(OutboxEvent).where(
                OutboxEvent.status == "done", OutboxEvent.processed_at < utcnow() - OUTBOX_RETENTION
            )
        )
