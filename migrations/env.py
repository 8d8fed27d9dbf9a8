"""Alembic environment: sync drivers, batch mode on SQLite, the project's rendering rules."""

from alembic import context
from sqlalchemy import create_engine, pool

import services.models  # noqa: F401  (imports every table so the metadata is complete)
from core.db import sync_url
from core.migrate import MIGRATION_OPTIONS
from core.models import metadata
from core.settings import get_settings

config = context.config
database_url = config.attributes.get("database_url") or sync_url(get_settings().database_url)


def run_offline() -> None:
    context.configure(
        url=database_url,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=database_url.startswith("sqlite"),
        **MIGRATION_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            **MIGRATION_OPTIONS,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
