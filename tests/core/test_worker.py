"""The worker: claiming, leases, retries, dead letters, scheduled jobs, and real worker processes."""

import asyncio
import signal
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from auth.models import Account
from bench.worker import CREATE_EFFECTS, DROP_EFFECTS, EFFECT, build, start_process
from core.audit.models import AuditEvent
from core.events import Event, OutboxEvent, define_event, emit
from core.models import aware, utcnow
from core.worker import (
    JOB_RETRY_SECONDS,
    GiveUp,
    NotAttempted,
    Registry,
    RetryLater,
    ScheduledJob,
    Worker,
    WorkerSettings,
)
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for

POISON = define_event("test.worker.poisoned", description="Tests: an event whose handler always fails.")
SLOW = define_event("test.worker.slow", description="Tests: a slow handler with an effect outside the database.")
FLAKY = define_event("test.worker.flaky", description="Tests: an event whose handler fails once.")
CRASHER = define_event("test.worker.crasher", description="Tests: an event whose handler kills the worker.")
REFUSED = define_event("test.worker.refused", description="Tests: an event whose handler is refused before it tries.")


class Killed(BaseException):
    """What a handler raises to stand for the process dying under it (OOM, SIGKILL): nothing in the worker catches
    it, and its open transaction rolls back."""


@pytest.fixture
async def effects(db):
    """A table the test handlers write one row per handled event into (no unique key: duplicates would show)."""
    async with db.write_engine.begin() as connection:
        await connection.execute(text(DROP_EFFECTS))
        await connection.execute(text(CREATE_EFFECTS))
    yield
    async with db.write_engine.begin() as connection:
        await connection.execute(text(DROP_EFFECTS))


async def _emit(db, name: str, count: int) -> list[uuid.UUID]:
    async with db.transaction() as session:
        rows = [emit(session, Event(name, subject=f"test:{i}", payload={"i": i})) for i in range(count)]
    return [row.id for row in rows]


async def _effect_counts(db) -> tuple[int, int]:
    async with db.transaction(write=False) as session:
        total = (await session.execute(text("SELECT count(*) FROM worker_effect"))).scalar_one()
        distinct = (await session.execute(text("SELECT count(DISTINCT event_id) FROM worker_effect"))).scalar_one()
    return total, distinct


async def _rows(db, ids: list[uuid.UUID]) -> list[OutboxEvent]:
    async with db.transaction(write=False) as session:
        return [await session.get(OutboxEvent, event_id) for event_id in ids]


async def _statuses(db, name: str) -> dict[str, int]:
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(OutboxEvent.status, func.count()).where(OutboxEvent.name == name).group_by(OutboxEvent.status)
        )
    return dict(rows.all())


async def test_each_event_is_handled_once_and_marked_done(db, database_url, effects, quiet_outbox) -> None:
    await _emit(db, EFFECT.name, 30)
    worker = build(database_url, 0, 60)
    try:
        assert await worker.drain() == 30
        assert await worker.drain() == 0
    finally:
        await worker.database.dispose()
    assert await _effect_counts(db) == (30, 30)
    assert await _statuses(db, EFFECT.name) == {"done": 30}


async def test_a_poisoned_handler_dead_letters_without_blocking_others(app, client, db, quiet_outbox) -> None:
    registry = Registry()
    handled: list[str] = []

    @registry.on(POISON.name, EFFECT.name, name="test.sometimes_fails")
    async def handler(session, event, state) -> None:
        if event.name == POISON.name:
            raise RuntimeError("cannot handle this one")
        handled.append(event.subject)

    poisoned = (await _emit(db, POISON.name, 1))[0]
    await _emit(db, EFFECT.name, 5)
    worker = Worker(db, registry=registry, settings=WorkerSettings(max_attempts=3, backoff_seconds=0))
    for _ in range(5):
        await worker.drain()
    assert sorted(handled) == [f"test:{i}" for i in range(5)]  # the others went through on the first round
    async with db.transaction(write=False) as session:
        dead = await session.get(OutboxEvent, poisoned)
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert "RuntimeError: cannot handle this one" in dead.last_error

    admin = bearer(await token_for(app, "admin", "admin"))
    listed = (await client.get("/api/v1/admin/outbox/dead-letters", headers=admin)).json()
    assert [item["id"] for item in listed["items"]] == [str(poisoned)]
    assert listed["items"][0]["attempts"] == 3
    citizen = bearer(await token_for(app, "13800000001", "openid"))
    assert_problem(await client.get("/api/v1/admin/outbox/dead-letters", headers=citizen), 403)
    retried = await client.post(f"/api/v1/admin/outbox/dead-letters/{poisoned}/retry", headers=admin)
    assert retried.status_code == 202
    assert_problem(await client.post(f"/api/v1/admin/outbox/dead-letters/{poisoned}/retry", headers=admin), 404)
    async with db.transaction(write=False) as session:
        again = await session.get(OutboxEvent, poisoned)
        # Its handlers run again (a message may go out twice): the audit trail says which administrator asked.
        administrator = (await session.execute(select(Account.id).where(Account.username == "admin"))).scalar_one()
        audited = (
            await session.execute(
                select(AuditEvent.subject, AuditEvent.detail).where(AuditEvent.action == "outbox.dead_letter.retried")
            )
        ).all()
    assert (again.status, again.attempts) == ("pending", 0)
    assert [(subject, detail) for subject, detail in audited] == [(str(administrator), {"name": POISON.name})]


async def test_a_worker_that_lost_its_lease_cannot_commit_a_second_effect(
    db, database_url, effects, quiet_outbox
) -> None:
    await _emit(db, EFFECT.name, 3)
    slow = build(database_url, 0, 0.2, worker_id="slow")
    fast = build(database_url, 0, 60, worker_id="fast")
    try:
        claimed = await slow.claim()
        assert len(claimed) == 3
        await asyncio.sleep(0.3)  # slow's lease runs out; fast takes the events over
        assert await fast.drain() == 3
        for event in claimed:
            await slow.handle(event)  # its effects roll back: the done-guard matches no row
    finally:
        await slow.database.dispose()
        await fast.database.dispose()
    assert await _effect_counts(db) == (3, 3)
    async with db.transaction(write=False) as session:
        workers = (await session.execute(text("SELECT DISTINCT worker FROM worker_effect"))).scalars().all()
    assert [w.split(":")[0] for w in workers] == ["fast"]


async def test_a_batch_slower_than_the_lease_keeps_its_events_and_never_repeats_an_outside_effect(
    db, quiet_outbox
) -> None:
    """Each event takes 0.4 s and the lease is 1 s, so a batch of 6 takes more than two leases to handle. The
    worker renews the lease of the batch as it goes: the other worker, polling all along, never takes an event
    over, every outside effect happens once, and every event counts one attempt."""
    calls: list[tuple[str, str]] = []
    registry = Registry()

    @registry.on(SLOW.name, name="test.slow")
    async def handler(session, event, state) -> None:
        calls.append((state, event.subject))  # an outside effect (a webhook POST): a rollback does not undo it
        await asyncio.sleep(0.4)

    ids = await _emit(db, SLOW.name, 6)
    settings = WorkerSettings(batch_size=6, lease_seconds=1.0, backoff_seconds=0, poll_seconds=0.05)
    a = Worker(db, registry=registry, settings=settings, context="A", worker_id="A")
    b = Worker(db, registry=registry, settings=settings, context="B", worker_id="B")

    async def b_polls() -> None:
        for _ in range(70):
            await b.run_once()
            await asyncio.sleep(0.05)

    await asyncio.gather(a.run_once(), b_polls())
    # Whichever worker claimed the batch first (A, unless the machine is busy) handled all of it, each event once.
    assert sorted(subject for _, subject in calls) == [f"test:{i}" for i in range(6)]
    assert len({worker for worker, _ in calls}) == 1
    assert [(row.status, row.attempts) for row in await _rows(db, ids)] == [("done", 1)] * 6


async def test_an_event_taken_over_before_it_was_started_is_skipped_not_run_twice(db, quiet_outbox) -> None:
    calls: list[tuple[str, str]] = []
    registry = Registry()

    @registry.on(SLOW.name, name="test.outside_effect")
    async def handler(session, event, state) -> None:
        calls.append((state, event.subject))

    ids = await _emit(db, SLOW.name, 2)
    settings = WorkerSettings(lease_seconds=0.2, backoff_seconds=0)
    slow = Worker(db, registry=registry, settings=settings, context="slow", worker_id="slow")
    one_at_a_time = WorkerSettings(batch_size=1, lease_seconds=0.2, backoff_seconds=0)
    other = Worker(db, registry=registry, settings=one_at_a_time, context="other", worker_id="other")
    first, second = await slow.claim()
    await asyncio.sleep(0.3)  # the lease runs out before slow gets to the events
    assert [event.subject for event in await other.claim()] == ["test:0"]  # other takes the first over ...
    await slow.handle(first)  # ... so slow skips it: no outside effect, no attempt counted
    await slow.handle(second)  # nobody took the second: slow still holds it and handles it
    assert calls == [("slow", "test:1")]
    assert [(row.status, row.locked_by, row.attempts) for row in await _rows(db, ids)] == [
        ("pending", "other", 0),
        ("done", "slow", 1),
    ]


async def test_claims_that_never_ran_an_event_do_not_count_as_attempts(db, quiet_outbox) -> None:
    registry = Registry()
    failures: list[str] = []

    @registry.on(FLAKY.name, name="test.flaky")
    async def handler(session, event, state) -> None:
        if not failures:
            failures.append(event.subject)
            raise RuntimeError("transient")

    (event_id,) = await _emit(db, FLAKY.name, 1)
    settings = WorkerSettings(lease_seconds=0.05, max_attempts=3, backoff_seconds=0)
    for n in range(4):  # four workers claimed it and died before they started it
        assert len(await Worker(db, registry=registry, settings=settings, worker_id=f"crashed-{n}").claim()) == 1
        await asyncio.sleep(0.06)
    assert [(row.status, row.attempts) for row in await _rows(db, [event_id])] == [("pending", 0)]
    survivor = Worker(db, registry=registry, settings=settings, worker_id="survivor")
    await survivor.run_once()  # its first real attempt fails, transiently
    [row] = await _rows(db, [event_id])
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "RuntimeError: transient")
    await survivor.drain()
    assert [(row.status, row.attempts) for row in await _rows(db, [event_id])] == [("done", 2)]


async def test_an_event_that_kills_its_worker_dead_letters_without_taking_its_batch_mates_down(
    db, quiet_outbox
) -> None:
    """The process dies while handling the first event of a batch, every time. Its batch-mates lose no attempt and
    are handled by the next worker (the crasher, having made more attempts, goes last), and once its attempts are
    used up the crasher is dead-lettered at claim, never run again."""
    registry = Registry()
    handled: list[str] = []

    @registry.on(CRASHER.name, FLAKY.name, name="test.crashes")
    async def handler(session, event, state) -> None:
        if event.name == CRASHER.name:
            raise Killed
        handled.append(event.subject)

    (crasher,) = await _emit(db, CRASHER.name, 1)  # first in line
    mates = await _emit(db, FLAKY.name, 3)
    settings = WorkerSettings(lease_seconds=0.05, max_attempts=3, backoff_seconds=0)

    async def a_worker_lives_and_dies(n: int) -> int:
        worker = Worker(db, registry=registry, settings=settings, worker_id=f"worker-{n}")
        try:
            return await worker.run_once()
        except Killed:
            await asyncio.sleep(0.06)  # its lease runs out
            return -1

    assert await a_worker_lives_and_dies(1) == -1
    assert [(row.status, row.attempts) for row in await _rows(db, [crasher, *mates])] == [
        ("pending", 1),
        *[("pending", 0)] * 3,  # claimed with it, never started: no attempt counted
    ]
    assert await a_worker_lives_and_dies(2) == -1  # handles the batch-mates, then the crasher
    assert sorted(handled) == ["test:0", "test:1", "test:2"]
    assert [(row.status, row.attempts) for row in await _rows(db, mates)] == [("done", 1)] * 3
    assert await a_worker_lives_and_dies(3) == -1  # its third and last attempt
    assert await a_worker_lives_and_dies(4) == 1  # claimed, and dead-lettered at once
    [row] = await _rows(db, [crasher])
    assert (row.status, row.attempts, row.locked_until) == ("dead", 3, None)
    assert row.last_error.startswith("gave up: every attempt started and none finished")
    assert await a_worker_lives_and_dies(5) == 0
    assert sorted(handled) == ["test:0", "test:1", "test:2"]


async def _due_now(db, ids: list[uuid.UUID]) -> None:
    async with db.transaction() as session:
        await session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(available_at=utcnow()))


async def _noted(session, event) -> None:
    """A write of the handler's (a webhook delivery's record of what became of it)."""
    await session.execute(
        text("INSERT INTO worker_effect (event_id, worker) VALUES (:id, 'noted')"), {"id": str(event.id)}
    )


async def test_an_event_not_attempted_waits_for_the_time_named_without_using_its_attempts(
    db, effects, quiet_outbox
) -> None:
    """Refused five times (more than its three attempts) before it tries, the event is still pending with no attempt
    used, each time waiting until the time its handler named, and the handler's writes kept; a time already past
    waits a second, so a handler refusing at once cannot spin the worker. Then it is handled: one attempt."""
    registry = Registry()
    named: list = []

    @registry.on(REFUSED.name, name="test.refused")
    async def handler(session, event, state) -> None:
        await _noted(session, event)
        if len(named) < 5:
            named.append(utcnow() + timedelta(seconds=30) if len(named) < 4 else utcnow() - timedelta(hours=1))
            raise NotAttempted("the receiver is resting", at=named[-1])

    (event_id,) = await _emit(db, REFUSED.name, 1)
    worker = Worker(db, registry=registry, settings=WorkerSettings(max_attempts=3, backoff_seconds=0))
    for round_ in range(5):
        assert await worker.run_once() == 1
        [row] = await _rows(db, [event_id])
        assert (row.status, row.attempts, row.locked_until, row.last_error) == ("pending", 0, None, None)
        if round_ < 4:
            assert aware(row.available_at) == named[round_]
        else:  # the time named had passed
            assert aware(row.available_at) > utcnow() + timedelta(seconds=0.5)
        assert await worker.run_once() == 0  # not due: the worker does not come back to it at once
        await _due_now(db, [event_id])
    assert await worker.run_once() == 1
    [row] = await _rows(db, [event_id])
    assert (row.status, row.attempts) == ("done", 1)
    assert await _effect_counts(db) == (6, 1)


async def test_attempts_that_started_and_never_finished_still_count_between_refusals(db, quiet_outbox) -> None:
    """A refusal gives its attempt back; a worker dying in the handler keeps it: with two attempts, refused, killed,
    refused, killed, the event is dead at the next claim, and its handler never runs again."""
    registry = Registry()
    outcomes = ["refused", "killed", "refused", "killed"]

    @registry.on(REFUSED.name, name="test.refused_or_killed")
    async def handler(session, event, state) -> None:
        if outcomes.pop(0) == "killed":
            raise Killed
        raise NotAttempted("the receiver is resting", at=utcnow())

    (event_id,) = await _emit(db, REFUSED.name, 1)
    settings = WorkerSettings(lease_seconds=0.05, max_attempts=2, backoff_seconds=0)
    seen = []
    for n in range(4):
        worker = Worker(db, registry=registry, settings=settings, worker_id=f"worker-{n}")
        try:
            await worker.run_once()
            await _due_now(db, [event_id])
        except Killed:
            await asyncio.sleep(0.06)  # its lease runs out
        seen.append((await _rows(db, [event_id]))[0].attempts)
    assert seen == [0, 1, 1, 2]
    assert await Worker(db, registry=registry, settings=settings).run_once() == 1  # claimed, and dead-lettered
    [row] = await _rows(db, [event_id])
    assert (row.status, row.attempts, outcomes) == ("dead", 2, [])
    assert row.last_error.startswith("gave up: every attempt started and none finished")


async def test_a_handler_names_when_to_retry_or_gives_up_keeping_its_writes(db, effects, quiet_outbox) -> None:
    """A handler with a schedule of its own names the time of the retry (hours away, where the worker's backoff
    says seconds); one that knows no retry can help gives up: dead at once, with attempts to spare."""
    registry = Registry()
    retry_at = utcnow() + timedelta(hours=5)

    @registry.on(REFUSED.name, name="test.scheduled")
    async def handler(session, event, state) -> None:
        await _noted(session, event)
        if event.attempts == 1:
            raise RetryLater("HTTP 503", at=retry_at)
        raise GiveUp("past its deadline")

    (event_id,) = await _emit(db, REFUSED.name, 1)
    worker = Worker(db, registry=registry, settings=WorkerSettings(max_attempts=8, backoff_seconds=2))
    await worker.run_once()
    [row] = await _rows(db, [event_id])
    assert (row.status, row.attempts, aware(row.available_at), row.last_error) == (
        "pending",
        1,
        retry_at,
        "RetryLater: HTTP 503",
    )
    await _due_now(db, [event_id])
    await worker.run_once()
    [row] = await _rows(db, [event_id])
    assert (row.status, row.attempts, row.last_error) == ("dead", 2, "GiveUp: past its deadline")
    assert await _effect_counts(db) == (2, 1)


async def test_a_scheduled_job_runs_once_per_period_across_workers(db) -> None:
    registry = Registry()
    runs: list[str] = []

    @registry.every(3600, name="test.hourly")
    async def hourly(state) -> None:
        runs.append(state)

    first = Worker(db, registry=registry, context="first")
    second = Worker(db, registry=registry, context="second")
    await first.ensure_jobs()
    await second.ensure_jobs()
    await asyncio.gather(first.run_due_jobs(), second.run_due_jobs())
    await first.run_due_jobs()
    assert len(runs) == 1
    async with db.transaction() as session:
        job = await session.get(ScheduledJob, "test.hourly")
        assert job.last_run_by in (first.worker_id, second.worker_id)
        await session.delete(job)


async def _wait_done(db, count: int, within: float, name: str = EFFECT.name) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await _statuses(db, name)).get("done", 0) == count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not all {count} events were handled: {await _statuses(db, name)}")


async def test_a_worker_killed_mid_batch_loses_nothing(db, database_url, effects, quiet_outbox) -> None:
    await _emit(db, EFFECT.name, 60)
    victim = start_process(database_url, 0.1, 2.0)  # 0.1 s per event, batches of 20: killed inside its first batch
    try:
        deadline = time.monotonic() + 30
        while (await _effect_counts(db))[0] == 0 and time.monotonic() < deadline:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        victim.kill()  # SIGKILL: no cleanup, its claimed batch keeps its lease until it expires
        victim.wait()
    partly = await _statuses(db, EFFECT.name)
    assert partly.get("pending", 0) > 0, partly
    survivor = start_process(database_url, 0, 2.0)
    try:
        await _wait_done(db, 60, 60)
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=20) == 0  # a graceful stop
    assert await _effect_counts(db) == (60, 60)


async def test_two_worker_processes_handle_2000_events_exactly_once(db, database_url, effects, quiet_outbox) -> None:
    await _emit(db, EFFECT.name, 2000)
    workers = [start_process(database_url, 0, 30.0) for _ in range(2)]
    try:
        await _wait_done(db, 2000, 240)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=20) for process in workers]
    assert codes == [0, 0]
    assert await _effect_counts(db) == (2000, 2000)
    async with db.transaction(write=False) as session:
        shares = (await session.execute(text("SELECT worker, count(*) FROM worker_effect GROUP BY worker"))).all()
    assert len(shares) == 2, shares  # both processes took part


async def test_the_embedded_worker_runs_inside_the_app_and_stops_with_it(settings, db, quiet_outbox) -> None:
    from main import create_app

    idle = define_event("test.worker.embedded", description="Tests: an event no handler cares about.")
    app = create_app(settings.model_copy(update={"worker_in_app": True, "worker_poll_seconds": 0.05}))
    async with app.router.lifespan_context(app):
        await _emit(db, idle.name, 3)
        await _wait_done(db, 3, 20, idle.name)
    await _emit(db, idle.name, 1)  # after shutdown nothing claims it
    await asyncio.sleep(0.3)
    assert await _statuses(db, idle.name) == {"done": 3, "pending": 1}


async def test_one_by_one_keeps_the_other_items_when_one_row_changed_meanwhile(db) -> None:
    from sqlalchemy.orm.exc import StaleDataError

    from core.worker import one_by_one

    done: list[int] = []

    async def work(session, item: int) -> None:
        await session.execute(text("SELECT 1"))
        if item == 2:
            raise StaleDataError("changed by a request meanwhile")
        done.append(item)

    await one_by_one(db, [1, 2, 3], work)
    assert done == [1, 3]

    async def broken(session, item: int) -> None:
        raise RuntimeError("a real fault")

    with pytest.raises(RuntimeError):  # only a stale row is skipped; anything else is the job's failure
        await one_by_one(db, [1], broken)


def test_the_worker_process_runs_one_worker_whatever_worker_in_app_says(settings, monkeypatch) -> None:
    """`python main.py worker` is the worker: with TI_WORKER_IN_APP also set (as `make run` sets it) its app started
    a second one beside it, which SIGTERM did not stop."""
    import main

    started: list[Worker] = []
    start = main._start_worker

    def counted(app):
        worker, task = start(app)
        started.append(worker)
        worker.stop()  # nothing claimed yet: it ends at once
        return worker, task

    monkeypatch.setattr(main, "_start_worker", counted)
    assert main._worker(settings.model_copy(update={"worker_in_app": True})) == 0
    assert len(started) == 1


async def test_a_scheduled_job_that_fails_is_tried_again_soon_not_a_period_later(db) -> None:
    registry = Registry()
    runs: list[bool] = []

    @registry.every(86400, name="test.daily")
    async def daily(state) -> None:
        runs.append(True)
        if len(runs) == 1:
            raise RuntimeError("the registry was down")

    worker = Worker(db, registry=registry, context=None)
    await worker.ensure_jobs()
    await worker.run_due_jobs()

    async def next_run() -> float:
        async with db.transaction(write=False) as session:
            job = await session.get(ScheduledJob, "test.daily")
            return (aware(job.next_run_at) - aware(job.last_run_at)).total_seconds()

    assert (len(runs), await next_run()) == (1, JOB_RETRY_SECONDS)  # failed: again in ten minutes, not tomorrow
    async with db.transaction() as session:
        await session.execute(update(ScheduledJob).values(next_run_at=utcnow()))  # ten minutes on
    await worker.run_due_jobs()
    assert (len(runs), await next_run()) == (2, 86400)  # done: its whole period
    async with db.transaction() as session:
        await session.delete(await session.get(ScheduledJob, "test.daily"))
