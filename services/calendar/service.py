"""The official calendar: reading a year, publishing one, and the working calendar the SLA clocks count on."""

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, sla
from core.db import Database
from core.errors import PreconditionFailed, ValidationFailed, field_error
from core.events import Event, define_event, emit
from core.http import check_if_match
from core.models import aware, utcnow
from core.sla import CHINA, WorkingCalendar
from services.calendar import repository
from services.calendar.exceptions import CalendarYearNotFound
from services.calendar.models import CalendarDay, CalendarYear
from services.calendar.schemas import CalendarYearIn

# Applications counted again per transaction when a year changes, and the readings of a page that requests keep
# changing before the recount gives up (the event is then tried again later).
RECOUNT_BATCH = 500
PAGE_ATTEMPTS = 5
logger = logging.getLogger(__name__)
# The processing time an application was promised (its service version's), read in the page's session.
ProcessingTimeOf = Callable[[AsyncSession, Any], Awaitable[dict[str, Any] | None]]

CALENDAR_CHANGED = define_event(
    "calendar.year.changed",
    description="A year of the working-day calendar was published or corrected: running deadlines are counted again.",
)


async def get_year(*, session: AsyncSession, year: int) -> tuple[CalendarYear, list[CalendarDay]]:
    row = await repository.year(session, year)
    if row is None:
        raise CalendarYearNotFound(f"No calendar has been published for {year}: it counts Monday to Friday.")
    return row, await repository.days_of(session, year)


async def publish_year(
    *, session: AsyncSession, year: int, data: CalendarYearIn, if_match: str | None
) -> tuple[CalendarYear, list[CalendarDay]]:
    """Publish a year, or replace a published one (If-Match its version); running deadlines follow in the worker."""
    _check_days(year, data)
    row = await repository.year(session, year)
    if row is None:
        if if_match is not None:  # RFC 9110 13.1.1: no current representation, so no tag (not even *) matches
            raise PreconditionFailed(f"{year} is not published yet; publish it without If-Match.")
        row = CalendarYear(year=year, source=data.source)
    else:
        check_if_match(if_match, row.version)
        row.source = data.source
        row.updated_at = utcnow()  # the row changes with its days, whatever its source: a new version, a new ETag
    session.add(row)
    await session.flush()
    days = [
        CalendarDay(day=day.date, year=year, working=day.working, name_zh=day.name.zh, name_en=day.name.en)
        for day in sorted(data.days, key=lambda day: day.date)
    ]
    await repository.replace_days(session, year, days)
    audit.record(
        session,
        action="calendar.year.published",
        object_type="calendar_year",
        object_id=year,
        detail={"days_off": sum(not d.working for d in days), "days_worked": sum(d.working for d in days)},
    )
    emit(session, Event(CALENDAR_CHANGED.name, subject=f"calendar_year:{year}", payload={"year": year}))
    return row, days


def _check_days(year: int, data: CalendarYearIn) -> None:
    errors = []
    for index, day in enumerate(data.days):
        if day.date.year != year:
            errors.append(field_error(f"days.{index}.date", f"not in {year}"))
        elif day.working and day.date.weekday() < 5:
            errors.append(field_error(f"days.{index}.working", "a weekday is a working day already"))
    if errors:
        raise ValidationFailed("Some days do not belong in this year's calendar.", errors=errors)


async def working_calendar(*, session: AsyncSession, since: date) -> WorkingCalendar:
    """The published days off and days worked from `since` on, for counting deadlines that start then."""
    listed = await repository.exceptions_from(session, since)
    return WorkingCalendar(
        days_off=frozenset(day for day, working in listed if not working),
        days_worked=frozenset(day for day, working in listed if working),
    )


async def start_clock(
    *, session: AsyncSession, row: Any, now: datetime, processing_time: dict[str, Any] | None
) -> None:
    """`sla.start_clock` on the published calendar, from the day the application is sent."""
    calendar = await working_calendar(session=session, since=now.astimezone(CHINA).date())
    sla.start_clock(row, now, processing_time, calendar)


async def resume_clock(
    *, session: AsyncSession, row: Any, now: datetime, processing_time: dict[str, Any] | None
) -> None:
    """`sla.resume` on the published calendar: a paused clock runs again, its deadline moved on by the working time
    the pause took (for a clock of working days)."""
    if row.paused_at is None:
        return
    calendar = await working_calendar(session=session, since=aware(row.paused_at).astimezone(CHINA).date())
    sla.resume(row, now, processing_time, calendar)


async def answer_by(*, session: AsyncSession, now: datetime, days: int) -> datetime:
    """`sla.answer_by` on the published calendar: when a citizen asked now must have answered."""
    calendar = await working_calendar(session=session, since=now.astimezone(CHINA).date())
    return sla.answer_by(now, days, calendar)


async def recount_deadlines(
    *,
    database: Database,
    model: type,
    year: int,
    processing_time_of: ProcessingTimeOf | None = None,
) -> None:
    """Count again, on the calendar as it is now, the deadlines of `model`'s running applications that were counted
    over days of `year` (each with its promised processing time, the statutory 20 working days without one). Each
    domain calls it from its handler of CALENDAR_CHANGED.

    A page of RECOUNT_BATCH applications at a time, each page in a transaction of its own: a day off announced for a
    year with many applications under way never holds them all locked while the rest are counted, and an application
    a request changes meanwhile costs its page a second reading, not the whole recount. Counting again writes only the
    deadlines that move, so a recount cut short (a crash, a lost lease) is simply run again from the start."""
    start, end = datetime(year, 1, 1, tzinfo=CHINA), datetime(year + 1, 1, 1, tzinfo=CHINA)
    after = None
    while True:
        after = await _recount_page(database, model, start, end, after, processing_time_of)
        if after is None:
            return


async def _recount_page(
    database: Database,
    model: type,
    start: datetime,
    end: datetime,
    after: Any,
    processing_time_of: ProcessingTimeOf | None,
) -> Any:
    """The page after the id `after`, counted and committed; its last id, or None when there was no page."""
    attempt = 1
    while True:
        try:
            async with database.transaction() as session:
                rows = await sla.clocks_through(session, model, start, end, after=after, limit=RECOUNT_BATCH)
                if rows:
                    first = min(aware(row.submitted_at) for row in rows)
                    calendar = await working_calendar(session=session, since=first.astimezone(CHINA).date())
                    for row in rows:
                        promised = await processing_time_of(session, row) if processing_time_of else None
                        sla.reschedule(row, promised, calendar)
            return rows[-1].id if rows else None
        except StaleDataError:
            # A request changed one of them between the page's reading and its writing: read the page again.
            if attempt == PAGE_ATTEMPTS:
                raise
            logger.info("recount page read again: an application changed meanwhile", extra={"attempt": attempt})
            attempt += 1
