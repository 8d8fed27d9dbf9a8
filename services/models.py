"""Imports every table module, so `core.models.metadata` is complete for Alembic and the tests.

Each import is only for its side effect (registering tables), hence the per-line noqa: without it a lint autofix
would remove them and Alembic would see tables vanish.
"""

import auth.models
import auth.recovery.models  # noqa: F401
import core.accesslog
import core.audit.models
import core.events
import core.http.idempotency
import core.references
import core.worker  # noqa: F401
import services.calendar.models
import services.catalogue.models
import services.cloud.models
import services.credentials.models
import services.notifications.models
import services.partners.models
import services.permits.models
import services.talent.models  # noqa: F401
