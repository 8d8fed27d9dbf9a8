"""Database engines and THE commit point.

`get_session` yields an AsyncSession for one request, commits when the route succeeded and rolls back when it raised.
Services only `flush()`. Worker tasks and CLI commands use `Database.transaction()`, which has the same semantics.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

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


class Database:
    """The engines of one process: on SQLite a reader and a writer engine, on PostgreSQL one pooled engine."""

    def __init__(self, settings: Settings) -> None:
        self.url = async_url(settings.database_url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_async_engine(self.url, echo=settings.db_echo)
            self.write_engine = create_async_engine(self.url, echo=settings.db_echo)
            tune_sqlite(self.engine.sync_engine, begin="BEGIN")
            tune_sqlite(self.write_engine.sync_engine, begin="BEGIN IMMEDIATE")
        else:
            self.engine = create_async_engine(
                self.url,
                echo=settings.db_echo,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_pre_ping=True,
                connect_args={"timeout": settings.db_connect_timeout},
            )
            self.write_engine = self.engine
        self._readers = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._writers = async_sessionmaker(self.write_engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit if the block succeeds, roll back if it raises."""
        async with (self._writers if write else self._readers)() as session:
            try:
                yield session
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
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        return (self.engine,) if self.write_engine is self.engine else (self.engine, self.write_engine)


def get_database(request: Request) -> Database:
    return request.app.state.db


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session; safe methods read without taking SQLite's write lock."""
    database: Database = request.app.state.db
    async with database.transaction(write=request.method not in SAFE_METHODS) as session:
        yield session


# scope="function": commit before the response is sent, so a client never sees success for a change that then fails.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
