"""Errors of notifications (problem+json through core.errors)."""

from core.errors import NotFound


class NotificationNotFound(NotFound):
    code, title = "notification-not-found", "No such notification"
