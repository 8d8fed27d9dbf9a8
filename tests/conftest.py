"""Fixtures: one migrated, seeded database per backend per run; each test starts from the seeded state.

The suite runs on SQLite always and on PostgreSQL too when TEST_DATABASE_URL is set: every database-backed test is
parametrized by backend, so one `pytest` run covers both (the summary prints the count per backend).
"""

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

# Keys the app would create under var/ go to a throwaway folder instead (every Settings() in the suite reads these).
_KEYS = Path(tempfile.mkdtemp(prefix="ti-test-keys-"))
os.environ["TI_AUDIT_KEY_FILE"] = str(_KEYS / "audit-ed25519.pem")
os.environ["TI_DATA_KEY_FILE"] = str(_KEYS / "data.key")
os.environ["TI_CLOUD_MOCK_DIR"] = str(_KEYS / "mock-cloud")
# The suite's one process starts many apps: none of them freezes the heap it shares with the others.
os.environ["TI_FREEZE_STARTUP_HEAP"] = "false"

import services.models  # noqa: E402
import services.tasks  # noqa: E402, F401  (the worker handlers the tests drive)
from core.audit import chain_pending  # noqa: E402
from core.db import Database  # noqa: E402
from core.events import OutboxEvent  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import utcnow  # noqa: E402
from core.settings import Settings  # noqa: E402
from main import create_app  # noqa: E402
from services.partners.service import Receivers  # noqa: E402
from services.seed import seed  # noqa: E402
from tests.databases import BACKENDS, fresh_database, restore_snapshot, take_snapshot  # noqa: E402


def pytest_report_header(config: pytest.Config) -> str:
    return f"databases under test: {', '.join(BACKENDS)}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup") or (
                outcome == "passed" and report.when != "call"
            ):
                continue
            backend = next((b for b in BACKENDS if f"[{b}" in report.nodeid or f"-{b}" in report.nodeid), "no-db")
            counts.setdefault(backend, {}).setdefault(outcome, 0)
            counts[backend][outcome] += 1
    terminalreporter.section("results per database")
    for backend in [*BACKENDS, "no-db"]:
        if backend in counts:
            summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts[backend].items()))
            terminalreporter.write_line(f"{backend}: {summary}")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env="test",
        demo=True,
        database_url=database_url,
        log_level="WARNING",
        access_log=False,
        webhook_allow_loopback=True,  # the suite's webhook receivers listen on 127.0.0.1
        worker_backoff_seconds=0,
        worker_max_attempts=3,
        webhook_retry_seconds=[0],  # a failed delivery is retried at once (tests that wait give their own schedule)
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    database: Database = application.state.db
    await seed(database, settings)
    await application.state.identity.ready()  # the signing keys are part of the seeded state
    async with database.transaction() as session:
        await chain_pending(session)  # the seed's audit entries, chained alike on both backends
    application.state.test_snapshot = await take_snapshot(database)
    yield application
    await database.dispose()


@pytest.fixture
async def db(app: FastAPI) -> Database:
    """The app's database, reset to the seeded state for this test."""
    database: Database = app.state.db
    # The previous test's cloud callbacks (SMS receipts, payment notifications) land before the reset, not during a
    # later test: one caught mid-transaction while another loop waits on the database would hold SQLite's lock.
    await app.state.cloud.mock.idle()
    await restore_snapshot(database, app.state.test_snapshot)
    app.state.identity.forget_cached_state()
    app.state.webhook_receivers = Receivers()  # no breaker opened by an earlier test's receiver
    return database


@pytest.fixture
async def quiet_outbox(db: Database) -> None:
    """Mark the seed's outbox events handled, so a test's worker sees (and counts) only the test's own events."""
    async with db.transaction() as session:
        await session.execute(update(OutboxEvent).values(status="done", processed_at=utcnow()))


def asgi_client(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(application, raise_app_exceptions=False), base_url="http://testserver"
    )


@pytest.fixture
async def client(app: FastAPI, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
