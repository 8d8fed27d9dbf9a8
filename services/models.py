"""Imports every table module, so `core.models.metadata` is complete for Alembic and the tests."""

import core.audit.models
import core.events
import core.http.idempotency  # noqa: F401
