"""Throwaway test databases: a SQLite file in a temporary folder, or a PostgreSQL database of its own per run."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, delete, insert, select, text
from sqlalchemy.engine import make_url

from core.db import Database, sync_url
from core.models import metadata

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database and remove it afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / f'test-{uuid.uuid4().hex[:8]}.db'}"
        return
    assert PG_URL, "TEST_DATABASE_URL is not set"
    name = f"ti_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(sync_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


Snapshot = dict[str, list[dict[str, Any]]]


async def take_snapshot(database: Database) -> Snapshot:
    """Every row of every table, so each test can start from the freshly seeded state."""
    snapshot: Snapshot = {}
    async with database.engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = (await connection.execute(select(table))).mappings().all()
            snapshot[table.name] = [dict(row) for row in rows]
    return snapshot


async def restore_snapshot(database: Database, snapshot: Snapshot) -> None:
    tables: list[Table] = list(metadata.sorted_tables)
    if not tables:
        return
    async with database.write_engine.begin() as connection:
        if database.is_sqlite:
            for table in reversed(tables):
                await connection.execute(delete(table))
        else:
            names = ", ".join(f'"{table.name}"' for table in tables)
            # The audit tables refuse TRUNCATE by trigger; replica mode skips triggers for this test reset only.
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        for table in tables:
            if rows := snapshot.get(table.name):
                await connection.execute(insert(table), rows)
