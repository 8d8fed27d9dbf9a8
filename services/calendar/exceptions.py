"""Errors of the calendar (problem+json through core.errors)."""

from core.errors import NotFound


class CalendarYearNotFound(NotFound):
    code, title = "calendar-year-not-found", "This year's calendar has not been published"
