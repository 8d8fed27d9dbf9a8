"""The worker: claiming, leases, retries, dead letters, scheduled jobs, and real worker processes."""

import asyncio
import signal
import time
import uuid

import pytest
from sqlalchemy import func, select, text

from bench.worker import CREATE_EFFECTS, DROP_EFFECTS, EFFECT, build, start_process
from core.events import Event, OutboxEvent, define_event, emit
from core.worker import Registry, ScheduledJob, Worker, WorkerSettings
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for

POISON = define_event("test.worker.poisoned", description="Tests: an event whose handler always fails.")


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
    assert (again.status, again.attempts) == ("pending", 0)


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
