"""Database engines and THE commit point.

`get_session` yields an AsyncSession for one request, commits when the route succeeded and rolls back when it raised.
Services only `flush()`. Worker tasks and CLI commands use `Database.transaction()`, which has the same semantics.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import delete, event, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from core.audit.chain import PENDING_KEY, POLICY_KEY, AuditPolicy
from core.audit.signing import CheckpointSigner, key_id_of, public_key_from_raw
from core.models import utcnow
from core.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def async_url(url: str) -> str:
    """The URL with the async driver this project uses for its dialect (asyncpg, aiosqlite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database: {parsed.get_backend_name()}")


def sync_url(url: str) -> str:
    """The URL with the sync driver (psycopg, pysqlite), for code that must run synchronously."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database: {parsed.get_backend_name()}")


def tune_sqlite(sync_engine: Any, *, begin: str) -> None:
    """WAL, a busy timeout and enforced foreign keys on every connection; we issue BEGIN ourselves.

    The driver's implicit BEGIN is deferred, so a transaction that reads and then writes fails at once with
    SQLITE_BUSY when another writer got in between. Write transactions therefore start with BEGIN IMMEDIATE,
    which waits (up to busy_timeout) for the write lock instead.
    """

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


PING_AFTER_IDLE_SECONDS = 1.0


def ping_when_idle(sync_engine: Any) -> None:
    """Pre-ping, but only connections that sat idle in the pool for a while.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, and on asyncpg a ping is three round trips (BEGIN, `;`,
    ROLLBACK): on a one-row read that is most of the request. A connection checked in a moment ago is alive; one that
    idled may have been cut by a restart or a firewall, so it is pinged and, if dead, replaced before use. A connection
    that dies mid-use is still caught by SQLAlchemy's disconnect handling, which invalidates the pool.
    """

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("connection failed its ping") from exc


def audit_policy(settings: Settings) -> AuditPolicy:
    signer = CheckpointSigner.from_file(settings.audit_key_file, create=not settings.is_production)
    retired = [public_key_from_raw(raw) for raw in settings.audit_retired_public_keys]
    return AuditPolicy(
        signer=signer,
        checkpoint_every=settings.audit_checkpoint_every,
        checkpoint_interval=timedelta(minutes=settings.audit_checkpoint_minutes),
        trusted_keys={signer.key_id: signer.public_key} | {key_id_of(key): key for key in retired},
    )


class Database:
    """The engines of one process: on SQLite a reader and a writer engine, on PostgreSQL one pooled engine."""

    def __init__(self, settings: Settings) -> None:
        self.url = async_url(settings.database_url)
        self.is_sqlite = self.url.startswith("sqlite")
        # hide_parameters: a database error's text (logged, and kept as a worker event's last error) never carries
        # the statement's values, which are often a citizen's data.
        if self.is_sqlite:
            self.engine = create_async_engine(self.url, echo=settings.db_echo, hide_parameters=True)
            self.write_engine = create_async_engine(self.url, echo=settings.db_echo, hide_parameters=True)
            tune_sqlite(self.engine.sync_engine, begin="BEGIN")
            tune_sqlite(self.write_engine.sync_engine, begin="BEGIN IMMEDIATE")
        else:
            self.engine = create_async_engine(
                self.url,
                echo=settings.db_echo,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                connect_args={"timeout": settings.db_connect_timeout},
                hide_parameters=True,
            )
            ping_when_idle(self.engine.sync_engine)
            self.write_engine = self.engine
            # Reads run in autocommit: at READ COMMITTED every statement takes its own snapshot anyway, so a
            # read-only BEGIN ... COMMIT buys no consistency and costs two round trips per request. Same pool.
            self.engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        self.audit_policy = audit_policy(settings)
        # Every session carries the audit policy, so the commit-time chain append can sign checkpoints.
        self.session_info = {POLICY_KEY: self.audit_policy}
        self._readers = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, info=self.session_info
        )
        self._writers = async_sessionmaker(
            self.write_engine, class_=AsyncSession, expire_on_commit=False, info=self.session_info
        )

    @asynccontextmanager
    async def transaction(self, *, write: bool = True, single_statement: bool = False) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit if the block succeeds, roll back if it raises.

        `single_statement=True` declares that the block writes with one statement at most (say, one audit entry).
        One statement is atomic by itself, so on PostgreSQL it runs in autocommit and skips the BEGIN and COMMIT
        round trips; on SQLite it is an ordinary write transaction.
        """
        autocommit = single_statement and not self.is_sqlite
        async with (self._writers if write and not autocommit else self._readers)() as session:
            try:
                yield session
                if _has_work(session):
                    await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self, *, within_seconds: float = 2.0) -> bool:
        """Whether the database answers a trivial query in time."""
        try:
            async with asyncio.timeout(within_seconds), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        return (self.engine,) if self.write_engine.pool is self.engine.pool else (self.engine, self.write_engine)


def _has_work(session: AsyncSession) -> bool:
    """Whether committing would do anything. A request answered from a cache never touched its session, and a
    commit through the async bridge costs as much as a small query."""
    sync = session.sync_session
    return bool(sync.in_transaction() or sync.new or sync.dirty or sync.deleted or sync.info.get(PENDING_KEY))


# Dependencies are async on purpose: FastAPI runs a plain `def` dependency in the thread pool, a hop per request.
async def get_database(request: Request) -> Database:
    return request.app.state.db


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session. Safe methods (GET, HEAD) get a read session: it never takes SQLite's write lock, and on
    PostgreSQL it runs in autocommit, so a GET route must not write through it (use `Database.transaction()`)."""
    database: Database = request.app.state.db
    async with database.transaction(write=request.method not in SAFE_METHODS) as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A write session whatever the method: for reads that must leave a record (a staff member's read of a citizen's
    data lands in the access log, in the same transaction as the read)."""
    database: Database = request.app.state.db
    async with database.transaction(write=True) as session:
        yield session


# scope="function": commit before the response is sent, so a client never sees success for a change that then fails.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
RecordingSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]


def insert_ignoring_conflicts(dialect: str, table: Any) -> Any:
    """The dialect's INSERT, which takes `.on_conflict_do_nothing()` (both dialects spell it the same)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def take_turns(session: Any, kind: int, key: str) -> None:
    """Until the transaction ends, hold PostgreSQL's advisory lock `kind` for `key` (any fixed int, and a name): the
    writers that take it for one key run one after another (SQLite's write transactions do anyway)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:kind, hashtext(:key))"), {"kind": kind, "key": key})


async def touch(session: Any, row: Any) -> None:
    """A change to what hangs off a versioned row (a claim, a document) is a change to the row: its version (the
    ETag) moves on, so a step that read the row before cannot commit beside the change (StaleDataError: 412)."""
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()


async def delete_in_batches(database: Database, table: Any, condition: Any, *, batch: int = 5000) -> int:
    """Delete the rows of `table` that meet `condition`, `batch` at a time, each batch a transaction of its own: a
    purge of a month's rows never holds its locks (or SQLite's one write lock) for long. How many went."""
    key = tuple_(*table.primary_key.columns)
    removed = 0
    while True:
        async with database.transaction() as session:
            doomed = select(*table.primary_key.columns).where(condition).limit(batch)
            # The condition again on the rows themselves: one changed since the subquery read it (a delivery replayed
            # at that moment) is read anew and kept (PostgreSQL rechecks a DELETE's own conditions, not a subquery's).
            gone = (await session.execute(delete(table).where(key.in_(doomed), condition))).rowcount
        removed += gone
        if gone < batch:
            return removed
