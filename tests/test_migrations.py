"""The migrations build exactly the models' schema, and they come back down to nothing."""

from pathlib import Path

from sqlalchemy import create_engine, inspect

from core.db import Database, sync_url
from core.migrate import downgrade, drift, upgrade
from core.models import metadata
from core.settings import Settings
from services.seed import seed
from tests.databases import fresh_database, take_snapshot


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    assert drift(database_url, metadata) == []


def test_migrations_downgrade_to_base_and_up_again(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        upgrade(url)
        assert {table.name for table in metadata.sorted_tables} <= _tables(url)
        downgrade(url, "base")
        assert _tables(url) <= {"alembic_version"}
        upgrade(url)
        assert drift(url, metadata) == []


async def test_seed_is_idempotent(settings: Settings, db: Database) -> None:
    before = await take_snapshot(db)
    await seed(db, settings)
    assert await take_snapshot(db) == before
