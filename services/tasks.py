"""Imports every module that registers worker handlers or scheduled jobs (for their side effect)."""

import auth.recovery.tasks
import auth.tasks  # noqa: F401
import core.jobs  # noqa: F401
import services.cloud.tasks
import services.credentials.tasks
import services.notifications.tasks
import services.partners.tasks
import services.permits.tasks
import services.talent.tasks  # noqa: F401
