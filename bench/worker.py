"""Worker throughput: drain N outbox events with 1 and with 2 worker processes, and prove each effect happened once.

    python -m bench.worker [--events 10000] [--db postgresql|sqlite] [--batch-size 50]

The workers are real processes (`python -m bench.worker process URL DELAY LEASE`) running the real claiming loop over
a database built by the migrations. Their one handler writes a row per event into `worker_effect`, a table with no
unique key, so a duplicated effect would show in the count. The events are committed while the workers are already
polling, and the clock runs from that commit until the last event is done. The test suite uses the same process for
its kill-and-redeliver and two-process tests (tests/core/test_worker.py).
"""

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import warnings

from sqlalchemy import text

from bench.__main__ import ROOT, bench_database
from core.db import Database
from core.events import Event, OutboxEvent, define_event, emit
from core.settings import Settings
from core.worker import Registry, Worker, WorkerSettings

EFFECT = define_event("bench.worker.effect_requested", description="Benchmarks and tests: write one effect row.")
CREATE_EFFECTS = "CREATE TABLE worker_effect (event_id VARCHAR(40) NOT NULL, worker VARCHAR(100))"
DROP_EFFECTS = "DROP TABLE IF EXISTS worker_effect"
# Core statements through session.execute() on purpose, as in the app (pyproject.toml silences this for the tests).
warnings.filterwarnings("ignore", message=r"(?s).*You probably want to use .session.exec", category=DeprecationWarning)


def build(url: str, delay: float, lease: float, *, batch_size: int = 20, worker_id: str | None = None) -> Worker:
    """A worker whose one handler sleeps `delay` seconds, then writes the event's effect row."""
    database = Database(Settings(database_url=url, env="test", log_level="WARNING", _env_file=None))
    registry = Registry()

    @registry.on(EFFECT.name, name="bench.effect")
    async def effect(session, event, state) -> None:
        if delay:
            await asyncio.sleep(delay)
        await session.execute(
            text("INSERT INTO worker_effect (event_id, worker) VALUES (:event_id, :worker)"),
            {"event_id": str(event.id), "worker": worker.worker_id},
        )

    settings = WorkerSettings(batch_size=batch_size, lease_seconds=lease, poll_seconds=0.05, backoff_seconds=0)
    worker = Worker(database, registry=registry, settings=settings, worker_id=worker_id)
    return worker


async def run_process(url: str, delay: float, lease: float, batch_size: int) -> None:
    """The worker process: runs until SIGTERM, then finishes its batch and exits 0."""
    worker = build(url, delay, lease, batch_size=batch_size)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop)
    await worker.run()
    await worker.database.dispose()


def start_process(url: str, delay: float, lease: float, *, batch_size: int = 20) -> subprocess.Popen:
    command = [sys.executable, "-m", "bench.worker", "process", url, str(delay), str(lease), str(batch_size)]
    return subprocess.Popen(command, cwd=ROOT)


# -- the benchmark ------------------------------------------------------------------------------------------------


async def _count(database: Database, sql: str) -> int:
    async with database.transaction(write=False) as session:
        return (await session.execute(text(sql))).scalar_one()


async def drain_with(url: str, *, processes: int, events: int, batch_size: int) -> dict[str, float]:
    database = Database(Settings(database_url=url, env="test", log_level="WARNING", _env_file=None))
    async with database.write_engine.begin() as connection:
        await connection.execute(text(DROP_EFFECTS))
        await connection.execute(text(CREATE_EFFECTS))
        await connection.execute(OutboxEvent.__table__.delete())
    workers = [start_process(url, 0, 30.0, batch_size=batch_size) for _ in range(processes)]
    try:
        await asyncio.sleep(3)  # the processes start up and begin polling an empty outbox
        async with database.transaction() as session:
            for i in range(events):
                emit(session, Event(EFFECT.name, subject=f"bench:{i}", payload={"i": i}))
        started = time.perf_counter()
        done_sql = "SELECT count(*) FROM outbox_event WHERE status = 'done'"
        while await _count(database, done_sql) < events:  # noqa: ASYNC110 (other processes do the work)
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=60) for process in workers]
    effects = await _count(database, "SELECT count(*) FROM worker_effect")
    distinct = await _count(database, "SELECT count(DISTINCT event_id) FROM worker_effect")
    async with database.write_engine.begin() as connection:
        await connection.execute(text(DROP_EFFECTS))
    await database.dispose()
    if codes != [0] * processes or (effects, distinct) != (events, events):
        raise SystemExit(f"not exactly once: exit codes {codes}, {effects} effects for {distinct} of {events} events")
    return {"processes": processes, "seconds": seconds, "events_per_second": events / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    with bench_database(args.db) as url:
        env = {**os.environ, "TI_DATABASE_URL": url, "TI_LOG_LEVEL": "WARNING"}
        subprocess.run([sys.executable, "main.py", "migrate"], cwd=ROOT, env=env, check=True)
        results = [
            asyncio.run(drain_with(url, processes=n, events=args.events, batch_size=args.batch_size)) for n in (1, 2)
        ]
    print(f"{args.events} events on {args.db}, batches of {args.batch_size}; every effect exactly once")
    for result in results:
        print(
            f"  {result['processes']} worker process(es): {result['seconds']:.1f} s, "
            f"{result['events_per_second']:.0f} events/s"
        )
    print(f"  2 processes / 1 process: {results[1]['events_per_second'] / results[0]['events_per_second']:.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["process"]:
        url, delay, lease, batch_size = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        asyncio.run(run_process(url, delay, lease, batch_size))
    else:
        main()
