"""The background task that chains committed audit entries on PostgreSQL (see core/audit/chain.py for why)."""

import asyncio
import contextlib
import logging

from core.audit.chain import chain_pending
from core.db import Database

logger = logging.getLogger("ti.audit")


class AuditSequencer:
    """Runs in every app process (and in the worker); an advisory lock lets one of them chain at a time."""

    def __init__(self, database: Database, *, idle_seconds: float = 0.2, batch: int = 1000) -> None:
        self.database = database
        self.idle_seconds = idle_seconds
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        async with self.database.transaction() as session:
            return await chain_pending(session, limit=self.batch)

    async def run_forever(self) -> None:
        while True:
            try:
                chained = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("audit sequencer failed; retrying")
                chained = 0
                await asyncio.sleep(1)
            if chained < self.batch:
                await asyncio.sleep(self.idle_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="audit-sequencer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
