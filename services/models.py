"""Imports every table module, so `core.models.metadata` is complete for Alembic and the tests."""
