"""Alembic, driven from code: the CLI, the tests and the benchmark all migrate the same way.

Migrations run on the sync drivers (psycopg, pysqlite): no event loop is needed, so they can run from anywhere.
"""

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import JSON, MetaData, create_engine
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from core.db import sync_url
from core.settings import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    # Passed as an attribute, not an ini option, so a password with `%` survives configparser.
    config.attributes["database_url"] = sync_url(database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render SQLModel's column types as plain SQLAlchemy ones, so migrations never import application code."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JSON) and "postgresql" in getattr(obj, "_variant_mapping", {}):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Objects the migrations create by hand (full-text indexes and their columns and tables) are not model drift."""
    if reflected and compare_to is None and name:
        if type_ == "table" and name.endswith(_FTS_SUFFIXES):
            return False
        if type_ in ("column", "index") and name in _HAND_MADE:
            return False
    return True


# Created by hand in the migrations (a generated tsvector column and its GIN index on PostgreSQL).
_HAND_MADE = frozenset({"search_vector", "ix_catalogue_service_search"})

# SQLite FTS5 keeps shadow tables next to every virtual table.
_FTS_SUFFIXES = ("_fts", "_fts_data", "_fts_idx", "_fts_content", "_fts_docsize", "_fts_config")

MIGRATION_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "compare_server_default": False,
    "render_item": render_item,
    "include_object": include_object,
}


def drift(database_url: str, metadata: MetaData) -> list[Any]:
    """Differences between the models and a database migrated to head; empty when they agree."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={**MIGRATION_OPTIONS, "render_as_batch": connection.dialect.name == "sqlite"}
            )
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


__all__ = ["MIGRATION_OPTIONS", "alembic_config", "downgrade", "drift", "upgrade"]
