"""The worker: drains the transactional outbox into registered handlers, and runs scheduled jobs.

Claiming. A batch of due, pending events is claimed in one short transaction: `locked_by = me`,
`locked_until = now + lease`. On PostgreSQL the candidates are selected `FOR UPDATE SKIP LOCKED`, so workers on many
machines claim disjoint batches without waiting on each other; on SQLite the claim runs under the database's single
writer lock (`BEGIN IMMEDIATE`), which makes it a single-claimer path with the same SQL. The same statement
dead-letters a claimed event whose attempts are used up although it never finished (its workers kept dying or losing
their lease while handling it), with a `last_error` saying so: such an event is never handed to a handler again.

Starting. Claiming an event is not trying it. Just before its handlers run, one statement checks that this worker
still holds the event (`locked_by = me`: nobody took it over), counts the attempt (`attempts + 1`) and renews its
lease; an event this worker no longer holds is skipped, its handlers never run here. When half the lease has gone
since the batch was claimed or last renewed, the same statement renews the lease of the batch's events not yet
started, so a batch handled in order never outlives its lease unnoticed. Only the attempts that started count: a
worker that dies mid-batch costs the events it never reached nothing, and the one it was handling one attempt. The
batch is handled in order of attempts made, fewest first, so an event whose handling keeps killing the worker is the
last of any batch it is claimed in (the batch-mates it took down with it the first time have made fewer attempts),
and it is dead once its attempts are used up.

Processing. Each event is handled in its own transaction: every handler registered for its name runs on one session,
and the event is marked done in that same transaction, guarded by `locked_by = me`. So a handler's database effects
and "done" commit together or not at all, and a worker whose lease ran out (another took the event over) cannot
commit a second copy of the effects: its guard matches no row and it rolls back. Effects outside the database carry an
idempotency key derived from the event id (an SMS ClientToken, a webhook id), so a repeat is recognised downstream.
A handler whose work is long and idempotent may instead commit it in transactions of its own (the calendar recount,
a page of applications at a time): if the lease runs out meanwhile, another worker repeats it, to no harm. A single
handler that runs longer than the lease can still be taken over while it runs (outside effects then happen twice,
database effects once): the lease must exceed the slowest handler.

Failure. The transaction rolls back; the event goes back to pending with `available_at` pushed out by exponential
backoff with jitter and the error kept; after `max_attempts` it is dead (listable and retryable by an administrator).
A handler can instead end its attempt with one of three signals (`NotDone`); its writes then commit, in the same
transaction as what becomes of the event:
- `RetryLater`: the attempt failed and the handler keeps a record of it (a webhook delivery's status code); retried
  after the backoff, or at the time it names when it keeps a schedule of its own (a webhook's, spanning a day).
- `NotAttempted`: nothing was tried (what it calls is known to refuse until then: a receiver's open breaker). The
  attempt counted when it started is given back, and the event waits until the time it names (a second at least, so
  it cannot spin the worker); it never uses up the event's attempts, so such a handler keeps a limit of its own. A
  worker that dies in such a handler leaves its attempt counted, like any attempt that started and never finished.
- `GiveUp`: no retry can help (the handler's own deadline has passed): the event is dead at once.
A crashed worker's claimed events come back when their lease expires. SIGTERM stops claiming; the batch in hand is
finished first.

Scheduled jobs run from the same loop, once per period across all workers: a job runs in the worker whose
compare-and-set of `next_run_at` succeeds. That takes it for `JOB_RETRY_SECONDS` (at most its period), and only
once it has run for its whole period: one that failed, or whose worker died, is tried again soon, not a period later.
"""

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import case, func, literal, or_, select, text, update
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database, insert_ignoring_conflicts
from core.events import OutboxEvent
from core.models import aware, utcnow

logger = logging.getLogger("ti.worker")

EVENTS = Counter("worker_events_total", "Outbox events handled, by result.", ["result"])
HANDLER_SECONDS = Histogram("worker_handler_seconds", "Time to handle one event (all its handlers).", ["event"])
LAG = Gauge("outbox_lag_seconds", "Age of the oldest due pending event.", multiprocess_mode="max")
DEAD = Gauge("outbox_dead_letters", "Events that exhausted their attempts.", multiprocess_mode="max")
JOBS = Counter("worker_scheduled_runs_total", "Scheduled job runs, by job and result.", ["job", "result"])

Handler = Callable[[AsyncSession, OutboxEvent, Any], Awaitable[None]]


@dataclass
class Registry:
    """Handlers by event name ("*" receives every event) and scheduled jobs by name."""

    handlers: dict[str, list[tuple[str, Handler]]] = field(default_factory=dict)
    jobs: dict[str, tuple[float, Callable[[Any], Awaitable[None]]]] = field(default_factory=dict)

    def on(self, *event_names: str, name: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for event_name in event_names:
                entries = self.handlers.setdefault(event_name, [])
                if name not in [existing for existing, _ in entries]:
                    entries.append((name, handler))
            return handler

        return register

    def every(self, seconds: float, *, name: str) -> Callable[[Callable[[Any], Awaitable[None]]], Any]:
        def register(job: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
            self.jobs[name] = (seconds, job)
            return job

        return register

    def handlers_for(self, event_name: str) -> list[tuple[str, Handler]]:
        return [*self.handlers.get(event_name, []), *self.handlers.get("*", [])]


REGISTRY = Registry()


class ScheduledJob(SQLModel, table=True):
    __tablename__ = "scheduled_job"

    name: str = Field(primary_key=True, max_length=100)
    next_run_at: datetime
    last_run_by: str | None = Field(default=None, max_length=64)
    last_run_at: datetime | None = None


@dataclass
class WorkerSettings:
    batch_size: int = 50
    lease_seconds: float = 60.0
    max_attempts: int = 8
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 3600.0
    poll_seconds: float = 0.5


_outbox = OutboxEvent.__table__
_jobs = ScheduledJob.__table__
# How soon a scheduled job that failed (or whose worker died running it) is tried again, at most its period.
JOB_RETRY_SECONDS = 600
# The least an event a handler did not attempt waits: a handler that keeps refusing at once cannot spin the worker.
NOT_ATTEMPTED_MIN_SECONDS = 1.0


class Worker:
    def __init__(
        self,
        database: Database,
        *,
        context: Any = None,
        settings: WorkerSettings | None = None,
        registry: Registry = REGISTRY,
        worker_id: str | None = None,
    ) -> None:
        self.database, self.context, self.registry = database, context, registry
        self.settings = settings or WorkerSettings()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = asyncio.Event()
        self.rng = random.Random()  # noqa: S311 (jitter, not secrecy)
        self._renewed = time.monotonic()  # when the lease of the batch in hand was last set

    # -- the loop -------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until `stop()`: run due jobs, claim and handle a batch, sleep when there was nothing to do."""
        logger.info("worker started", extra={"worker": self.worker_id})
        await self.ensure_jobs()
        while not self.stopping.is_set():
            try:
                await self.run_due_jobs()
                handled = await self.run_once()
                await self.observe()
            except Exception:  # a database blip must not kill the worker; the next round tries again
                logger.exception("worker round failed", extra={"worker": self.worker_id})
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=self.settings.poll_seconds)
        logger.info("worker stopped", extra={"worker": self.worker_id})

    def stop(self) -> None:
        self.stopping.set()

    async def run_once(self) -> int:
        """Claim one batch and handle each of its events; the number claimed (dead-lettered ones included)."""
        batch, dead = await self._claim()
        for index, event in enumerate(batch):
            await self.handle(event, rest=batch[index + 1 :])
        return len(batch) + dead

    async def drain(self, *, rounds: int = 1000) -> int:
        """Handle everything due now (tests and the benchmark)."""
        total = 0
        for _ in range(rounds):
            handled = await self.run_once()
            total += handled
            if not handled:
                break
        return total

    # -- claiming and handling ------------------------------------------------------------------------------------

    async def claim(self) -> list[OutboxEvent]:
        """Claim a batch: the events to handle, in the order to handle them (fewest attempts first)."""
        batch, _dead = await self._claim()
        return batch

    async def _claim(self) -> tuple[list[OutboxEvent], int]:
        """The live events claimed, in order, and how many claimed events were dead-lettered instead."""
        self._renewed = time.monotonic()  # taken before the lease is set: it never looks longer than it is
        now = utcnow()
        candidates = (
            select(_outbox.c.id)
            .where(
                _outbox.c.status == "pending",
                _outbox.c.available_at <= now,
                or_(_outbox.c.locked_until.is_(None), _outbox.c.locked_until < now),
            )
            .order_by(_outbox.c.available_at, _outbox.c.id)
            .limit(self.settings.batch_size)
        )
        if not self.database.is_sqlite:
            candidates = candidates.with_for_update(skip_locked=True)
        # Still pending with its attempts used up: every attempt started and none finished (not even by failing,
        # which would have rescheduled or dead-lettered it), so its workers died or lost the lease while handling it.
        used_up = _outbox.c.attempts >= self.settings.max_attempts
        until = now + timedelta(seconds=self.settings.lease_seconds)
        gave_up = literal(
            "gave up: every attempt started and none finished (the worker handling it died or lost its lease)"
        ) + func.coalesce(literal("; before that: ") + _outbox.c.last_error, "")
        statement = (
            update(_outbox)
            .where(_outbox.c.id.in_(candidates.scalar_subquery()))
            .values(
                locked_by=self.worker_id,
                locked_until=case((used_up, None), else_=literal(until, _outbox.c.locked_until.type)),
                status=case((used_up, "dead"), else_=_outbox.c.status),
                last_error=case((used_up, func.substr(gave_up, 1, 1000)), else_=_outbox.c.last_error),
            )
            .returning(*_outbox.c)
        )
        async with self.database.transaction() as session:
            rows = (await session.execute(statement)).mappings().all()
        events = [OutboxEvent(**row) for row in rows]
        dead = [event for event in events if event.status == "dead"]
        for event in dead:
            EVENTS.labels("dead").inc()
            logger.warning(
                "event dead-lettered at claim: its attempts are used up",
                extra={"event_id": str(event.id), "event": event.name, "attempt": event.attempts, "dead": True},
            )
        live = [event for event in events if event.status != "dead"]
        return sorted(live, key=lambda event: (event.attempts, event.available_at, event.id)), len(dead)

    async def _start(self, event: OutboxEvent, rest: list[OutboxEvent]) -> bool:
        """Whether this worker still holds the event; if so its attempt is counted and its lease renewed (and the
        lease of the batch's events not yet started, once half the lease has gone since the last renewal)."""
        lease = self.settings.lease_seconds
        renew_rest = bool(rest) and time.monotonic() - self._renewed >= lease / 2
        ids = [event.id, *(other.id for other in rest)] if renew_rest else [event.id]
        renewed_at = time.monotonic()
        statement = (
            update(_outbox)
            .where(_outbox.c.id.in_(ids), _outbox.c.locked_by == self.worker_id, _outbox.c.status == "pending")
            .values(
                locked_until=utcnow() + timedelta(seconds=lease),
                attempts=case((_outbox.c.id == event.id, _outbox.c.attempts + 1), else_=_outbox.c.attempts),
            )
            .returning(_outbox.c.id, _outbox.c.attempts)
        )
        async with self.database.transaction() as session:
            if not self.database.is_sqlite:
                # Not waiting for this commit's WAL flush keeps the worker's throughput (one flush per event, the
                # handling's, as before). It is visible at once and survives the worker dying; only a crash of the
                # database server in the next fraction of a second could lose it: an attempt left uncounted.
                await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            held = {row.id: row.attempts for row in await session.execute(statement)}
        if renew_rest:
            self._renewed = renewed_at
        if event.id not in held:
            EVENTS.labels("lease_lost").inc()
            logger.warning("lease lost before handling; skipped", extra={"event_id": str(event.id)})
            return False
        event.attempts = held[event.id]
        return True

    async def handle(self, event: OutboxEvent, *, rest: list[OutboxEvent] | None = None) -> None:
        """Handle one claimed event, unless this worker no longer holds it. `rest`: the batch's events after it."""
        if not await self._start(event, rest or []):
            return
        started = time.perf_counter()
        try:
            async with self.database.transaction() as session:
                signal: NotDone | None = None
                try:
                    for _name, handler in self.registry.handlers_for(event.name):
                        await handler(session, event, self.context)
                except NotDone as exc:
                    signal = exc
                outcome = self._reschedule(event, signal) if signal else self._done(event)
                if (await session.execute(outcome)).rowcount != 1:
                    raise LeaseLost(f"event {event.id} was taken over by another worker")
        except LeaseLost:
            EVENTS.labels("lease_lost").inc()
            logger.warning("lease lost; effects rolled back", extra={"event_id": str(event.id)})
        except Exception as exc:
            async with self.database.transaction() as session:
                await session.execute(self._reschedule(event, exc))
            self._log_failure(event, exc)
        else:
            if isinstance(signal, NotAttempted):
                self._log_not_attempted(event, signal)
            elif signal:
                self._log_failure(event, signal)
            else:
                EVENTS.labels("done").inc()
        finally:
            HANDLER_SECONDS.labels(event.name).observe(time.perf_counter() - started)

    def _mine(self, event: OutboxEvent) -> Any:
        """The event's row, as long as this worker still holds it (the lease guard)."""
        return update(_outbox).where(
            _outbox.c.id == event.id, _outbox.c.locked_by == self.worker_id, _outbox.c.status == "pending"
        )

    def _done(self, event: OutboxEvent) -> Any:
        return self._mine(event).values(status="done", processed_at=utcnow(), locked_until=None, last_error=None)

    def _reschedule(self, event: OutboxEvent, exc: Exception) -> Any:
        """Back to pending after a jittered exponential backoff (2 s, 4 s, 8 s ... capped), or at the time the handler
        named; dead when out of tries or given up. An event not attempted gets its attempt back and waits."""
        now = utcnow()
        if isinstance(exc, NotAttempted):
            event.attempts -= 1
            return self._mine(event).values(
                attempts=_outbox.c.attempts - 1,
                available_at=max(exc.at, now + timedelta(seconds=NOT_ATTEMPTED_MIN_SECONDS)),
                locked_until=None,
            )
        if isinstance(exc, RetryLater) and exc.at is not None:
            available_at = exc.at
        else:
            delay = min(self.settings.backoff_seconds * 2 ** (event.attempts - 1), self.settings.backoff_max_seconds)
            delay *= self.rng.uniform(0.5, 1.0)  # spread, so the retries of a burst do not align
            available_at = now + timedelta(seconds=delay)
        return self._mine(event).values(
            status="dead" if self._dead(event, exc) else "pending",
            available_at=available_at,
            locked_until=None,
            last_error=f"{type(exc).__name__}: {exc}"[:1000],
        )

    def _dead(self, event: OutboxEvent, exc: Exception) -> bool:
        return event.attempts >= self.settings.max_attempts or isinstance(exc, GiveUp)

    def _log_not_attempted(self, event: OutboxEvent, signal: "NotAttempted") -> None:
        EVENTS.labels("not_attempted").inc()
        # At debug: a receiver that is down puts each of its deliveries back once a minute, and the count says enough.
        logger.debug(
            "event not attempted; put back",
            extra={"event_id": str(event.id), "event": event.name, "attempt": event.attempts, "reason": str(signal)},
        )

    def _log_failure(self, event: OutboxEvent, exc: Exception) -> None:
        dead = self._dead(event, exc)
        EVENTS.labels("dead" if dead else "retry").inc()
        logger.warning(
            "event handler failed",
            extra={
                "event_id": str(event.id),
                "event": event.name,
                "attempt": event.attempts,
                "dead": dead,
                "error": f"{type(exc).__name__}: {exc}"[:300],
            },
        )

    async def observe(self) -> None:
        async with self.database.transaction(write=False) as session:
            oldest = (
                await session.execute(
                    select(func.min(_outbox.c.available_at)).where(
                        _outbox.c.status == "pending", _outbox.c.available_at <= utcnow()
                    )
                )
            ).scalar()
            dead = (await session.execute(select(func.count()).where(_outbox.c.status == "dead"))).scalar_one()
        LAG.set(max(0.0, (utcnow() - aware(oldest)).total_seconds()) if oldest else 0.0)
        DEAD.set(dead)

    # -- scheduled jobs -------------------------------------------------------------------------------------------

    async def ensure_jobs(self) -> None:
        if not self.registry.jobs:
            return
        rows = [{"name": name, "next_run_at": utcnow()} for name in self.registry.jobs]
        async with self.database.transaction() as session:
            insert = insert_ignoring_conflicts(session.bind.dialect.name, _jobs)
            await session.execute(insert.values(rows).on_conflict_do_nothing(index_elements=["name"]))

    async def run_due_jobs(self) -> None:
        for name, (period, job) in self.registry.jobs.items():
            now = utcnow()
            # Taken for a short while first, the whole period only once it has run: a daily job that failed, or
            # whose worker died, was otherwise skipped for a day (jobs are idempotent: a second run does no harm).
            retry = min(period, JOB_RETRY_SECONDS)
            async with self.database.transaction() as session:
                won = await session.execute(
                    update(_jobs)
                    .where(_jobs.c.name == name, _jobs.c.next_run_at <= now)
                    .values(next_run_at=now + timedelta(seconds=retry), last_run_by=self.worker_id, last_run_at=now)
                )
            if won.rowcount != 1:
                continue  # not due, or another worker took this period
            try:
                await job(self.context)
            except Exception:
                JOBS.labels(name, "failed").inc()
                logger.exception("scheduled job failed", extra={"job": name})
                continue
            JOBS.labels(name, "ok").inc()
            if retry < period:
                async with self.database.transaction() as session:
                    await session.execute(
                        update(_jobs)
                        .where(_jobs.c.name == name, _jobs.c.last_run_by == self.worker_id, _jobs.c.last_run_at == now)
                        .values(next_run_at=now + timedelta(seconds=period))
                    )


class LeaseLost(Exception):
    pass


class NotDone(Exception):
    """What a handler raises to end its event's attempt other than done while its writes so far commit, in the same
    transaction as what becomes of the event (one of the three kinds below)."""


class RetryLater(NotDone):
    """The attempt failed: the event is tried again after the worker's backoff, or at `at` when the handler keeps a
    schedule of its own; dead when its attempts are used up."""

    def __init__(self, message: str, *, at: datetime | None = None) -> None:
        super().__init__(message)
        self.at = at


class NotAttempted(NotDone):
    """Nothing was tried (what the handler calls is known to refuse until `at`): the attempt counted when the handler
    started is given back, and the event waits until `at`, a second from now at least. It never uses up the event's
    attempts: a handler raising it keeps a limit of its own, and raises `GiveUp` past it."""

    def __init__(self, message: str, *, at: datetime) -> None:
        super().__init__(message)
        self.at = at


class GiveUp(NotDone):
    """No retry can help (the handler's own deadline has passed): the event is dead at once, retryable by an
    administrator like any dead event."""


# -- dead letters (the admin API) ---------------------------------------------------------------------------------


async def one_by_one(
    database: Database, items: list[Any], work: Callable[[AsyncSession, Any], Awaitable[None]]
) -> None:
    """`work(session, item)` for each item, each in a transaction of its own (for scheduled jobs over many rows): a
    row a request changed meanwhile (a stale version) loses only its own step, and the request wins."""
    for item in items:
        try:
            async with database.transaction() as session:
                await work(session, item)
        except StaleDataError:
            logger.info("scheduled step skipped: the row changed meanwhile", extra={"item": str(item)})


async def dead_letters(session: AsyncSession, *, limit: int, after: Any | None) -> list[Any]:
    statement = select(_outbox).where(_outbox.c.status == "dead").order_by(_outbox.c.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(_outbox.c.id > after)
    return list((await session.execute(statement)).mappings())


async def bring_forward(session: AsyncSession, event_id: uuid.UUID) -> bool:
    """Make a pending event due now (a retry waiting on its schedule, when its caller knows it may now succeed); False
    when it is not pending, or a worker holds it (it is being handled now)."""
    now = utcnow()
    result = await session.execute(
        update(_outbox)
        .where(
            _outbox.c.id == event_id,
            _outbox.c.status == "pending",
            or_(_outbox.c.locked_until.is_(None), _outbox.c.locked_until < now),
        )
        .values(available_at=now)
    )
    return result.rowcount == 1


async def retry_dead(session: AsyncSession, event_id: uuid.UUID) -> str | None:
    """Give a dead event a fresh set of attempts; its name, or None when there is no such dead event."""
    result = await session.execute(
        update(_outbox)
        .where(_outbox.c.id == event_id, _outbox.c.status == "dead")
        .values(status="pending", attempts=0, available_at=utcnow(), locked_by=None, locked_until=None)
        .returning(_outbox.c.name)
    )
    return result.scalar()
