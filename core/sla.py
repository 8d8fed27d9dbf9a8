"""The SLA clock of an application (a permit, a talent registration): a deadline from the promised processing time,
paused while the applicant owes an answer, and the risk of breaching it.

Working days are counted on China's calendar, in China's time: Monday to Friday, except the official public holidays,
plus the weekend days worked in their place (the State Council publishes each year's in the autumn before it; the
calendar domain keeps them). A year not published yet counts Monday to Friday.
"""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import aware

# China has one time zone and no daylight saving.
CHINA = timezone(timedelta(hours=8), "CST")


def china_date(moment: datetime) -> str:
    """The date a reader in China sees on their calendar: a permit ending at 01:00 on the 2nd, Beijing time, is stored
    as 17:00 on the 1st, UTC."""
    return aware(moment).astimezone(CHINA).date().isoformat()


def china_time(moment: datetime) -> str:
    """A moment as a reader in China tells the time, saying which time that is."""
    return f"{aware(moment).astimezone(CHINA):%Y-%m-%d %H:%M} (UTC+8)"


# States in which the clock does not run: not sent yet, decided (a permit or a talent card issued), or ended.
STOPPED = frozenset({"draft", "approved", "issued", "card_issued", "rejected", "withdrawn"})
# An application is "at risk" once 80% of its time is used.
RISK_SHARE = 0.8
# What a service that promises nothing gets: the statutory 20 working days.
DEFAULT_PROCESSING_TIME = {"duration": "P20D", "working_days": True}
_DURATION = re.compile(r"^P(?:(\d+)W|(\d+)D)?(?:T(\d+)H)?$")


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days are working days: Monday to Friday, but for the days off and the (weekend) days worked."""

    days_off: frozenset[date] = frozenset()
    days_worked: frozenset[date] = frozenset()

    def is_working(self, day: date) -> bool:
        if day in self.days_worked:
            return True
        return day.weekday() < 5 and day not in self.days_off


WEEKDAYS = WorkingCalendar()


def deadline(start: datetime, duration: str, *, working_days: bool, calendar: WorkingCalendar = WEEKDAYS) -> datetime:
    """`start` plus an ISO 8601 duration (P20D, P2W, PT4H). With `working_days`, the days are the working days that
    follow the start's date in China (the deadline keeps the start's time of day); a start on a day off counts from
    the beginning of the next working day, that day included."""
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"not a supported duration: {duration}")
    weeks, days, hours = (int(group or 0) for group in match.groups())
    days += (5 if working_days else 7) * weeks  # a week of working days is five of them
    if not working_days:
        return start + timedelta(days=days, hours=hours)
    local = start.astimezone(CHINA)
    day, into_day = local.date(), local - datetime.combine(local.date(), time(), CHINA)
    if not calendar.is_working(day):
        # Sent on a day off (a weekend, a holiday), it is received as the next working day begins: at the end of the
        # last day off. Kept at the time it was sent, its deadline would fall hours into its last working day: before
        # the office opened, for one sent early on a Saturday and due in a day.
        while not calendar.is_working(day + timedelta(days=1)):
            day += timedelta(days=1)
        into_day = timedelta(days=1)
    while days > 0:
        day += timedelta(days=1)
        if calendar.is_working(day):
            days -= 1
    end = datetime.combine(day, time(), CHINA) + into_day
    return end.astimezone(start.tzinfo) + timedelta(hours=hours)


# What a request for information's `due_in_days` means, in the API's words.
ANSWER_DAYS = (
    "request_info: days the applicant has to answer, to the end (24:00 China time) of the last one; a last day that "
    "is a day off moves to the next working day"
)


def answer_by(start: datetime, days: int, calendar: WorkingCalendar = WEEKDAYS) -> datetime:
    """The end of a period of `days` days from `start` given to a citizen to act (answer a request): the end (24:00,
    China time) of its last day, and if that day is a day off, of the next working day (Civil Code art. 203). An
    answer due on National Day lapsed in the middle of the holiday."""
    day = start.astimezone(CHINA).date() + timedelta(days=days)
    while not calendar.is_working(day):
        day += timedelta(days=1)
    return (datetime.combine(day, time(), CHINA) + timedelta(days=1)).astimezone(start.tzinfo)


def counted_from(start: datetime, *, working_days: bool, calendar: WorkingCalendar = WEEKDAYS) -> datetime:
    """When a clock started at `start` begins to count: at once, or for working days sent on a day off, as the next
    working day begins (the deadline of no time at all)."""
    return deadline(start, "PT0H", working_days=working_days, calendar=calendar)


def working_seconds(start: datetime, end: datetime, calendar: WorkingCalendar = WEEKDAYS) -> int:
    """The seconds between two instants that fall on working days (China dates)."""
    total, cursor = timedelta(), start
    while cursor < end:
        day = cursor.astimezone(CHINA).date()
        step = min(end, datetime.combine(day + timedelta(days=1), time(), CHINA))
        if calendar.is_working(day):
            total += step - cursor
        cursor = step
    return int(total.total_seconds())


def push(moment: datetime, seconds: int, *, working_days: bool, calendar: WorkingCalendar = WEEKDAYS) -> datetime:
    """`moment` moved on by `seconds` of a clock's time: any time, or for a clock of working days, time on working
    days only (days off are stepped over)."""
    if not working_days:
        return moment + timedelta(seconds=seconds)
    left, cursor = timedelta(seconds=seconds), moment
    while left > timedelta():
        day = cursor.astimezone(CHINA).date()
        midnight = datetime.combine(day + timedelta(days=1), time(), CHINA)
        if calendar.is_working(day):
            if left <= midnight - cursor:
                return (cursor + left).astimezone(moment.tzinfo)
            left -= midnight - cursor
        cursor = midnight
    return cursor.astimezone(moment.tzinfo)


def start_clock(
    row: Any, now: datetime, processing_time: dict[str, Any] | None, calendar: WorkingCalendar = WEEKDAYS
) -> None:
    """Set the deadline and the at-risk instant on submission (no processing time: 20 working days, the default)."""
    row.paused_at, row.paused_seconds, row.paused_clock_seconds = None, 0, 0
    row.due_at, row.risk_at = _instants(now, processing_time, calendar, paused_clock_seconds=0)


def reschedule(row: Any, processing_time: dict[str, Any] | None, calendar: WorkingCalendar) -> None:
    """Count a running clock's deadline again on a changed calendar, its pauses kept. A deadline that does not move
    is not written (a row read back naive from SQLite would otherwise look changed and get a new version, an ETag
    its readers did not cause)."""
    due, risk = _instants(
        aware(row.submitted_at), processing_time, calendar, paused_clock_seconds=row.paused_clock_seconds
    )
    if row.due_at is None or aware(row.due_at) != due:
        row.due_at, row.risk_at = due, risk


def _instants(
    start: datetime, processing_time: dict[str, Any] | None, calendar: WorkingCalendar, *, paused_clock_seconds: int
) -> tuple[datetime, datetime]:
    """The deadline and the at-risk instant of a clock started at `start`; the clock's time already spent paused
    moves both on by as much (a pause still running moves them on resume). A processing time's `not_after` (an
    instant, given by the domain, never stored) is a deadline the law sets first: a renewal is decided before the
    permit expires."""
    processing_time = processing_time or DEFAULT_PROCESSING_TIME
    working_days = processing_time.get("working_days", True)
    due = deadline(start, processing_time["duration"], working_days=working_days, calendar=calendar)
    if processing_time.get("not_after") is not None:
        due = max(start, min(due, processing_time["not_after"]))
    # At risk once 80% of the time counted is used: days off before an application is received are not part of it.
    counting = min(counted_from(start, working_days=working_days, calendar=calendar), due)
    risk = counting + (due - counting) * RISK_SHARE

    def pushed(moment: datetime) -> datetime:
        return push(moment, paused_clock_seconds, working_days=working_days, calendar=calendar)

    return pushed(due), pushed(risk)


def pause(row: Any, now: datetime) -> None:
    if row.paused_at is None:
        row.paused_at = now


def resume(
    row: Any, now: datetime, processing_time: dict[str, Any] | None = None, calendar: WorkingCalendar = WEEKDAYS
) -> None:
    """The clock's time spent paused moves the deadline on by as much: for a clock of working days, the pause's
    time on working days (a request answered over a weekend cost the department no working time, and moving the
    deadline on by the whole weekend gave it two days and put the deadline at 02:00 on a Thursday)."""
    if row.paused_at is None:
        return
    paused_at = aware(row.paused_at)
    working_days = (processing_time or DEFAULT_PROCESSING_TIME).get("working_days", True)
    counted = working_seconds(paused_at, now, calendar) if working_days else int((now - paused_at).total_seconds())
    row.due_at = push(aware(row.due_at), counted, working_days=working_days, calendar=calendar) if row.due_at else None
    if row.risk_at:
        row.risk_at = push(aware(row.risk_at), counted, working_days=working_days, calendar=calendar)
    row.paused_seconds += int((now - paused_at).total_seconds())
    row.paused_clock_seconds += counted
    row.paused_at = None


def risk(row: Any, now: datetime) -> str:
    """on_track | at_risk | breached | paused | stopped (no clock: a draft, or decided)."""
    if row.due_at is None or row.status in STOPPED:
        return "stopped"
    if row.paused_at is not None:
        return "paused"
    if now >= aware(row.due_at):
        return "breached"
    return "at_risk" if now >= aware(row.risk_at) else "on_track"


def view(row: Any, now: datetime) -> dict[str, Any]:
    """The clock as the API shows it."""
    if row.decided_at:
        end = aware(row.decided_at)
    elif row.status in ("withdrawn", "rejected"):  # ended without a decision time: at its last change
        end = aware(row.updated_at)
    else:
        end = aware(row.paused_at) if row.paused_at else now
    elapsed = None
    if row.submitted_at:
        elapsed = max(0, int((end - aware(row.submitted_at)).total_seconds()) - row.paused_seconds)
    # A paused clock's deadline moves on by the pause only when it resumes: until then the time left is what it was
    # when it stopped (counting down to the stored deadline would show a waiting application as overdue).
    remaining = int((aware(row.due_at) - end).total_seconds()) if row.due_at and risk(row, now) != "stopped" else None
    return {
        "due_at": row.due_at,
        "risk": risk(row, now),
        "paused": row.paused_at is not None,
        "paused_seconds": row.paused_seconds,
        "elapsed_seconds": elapsed,
        "remaining_seconds": remaining,
    }


def processing_seconds(row: Any, *, working_days: bool = False, calendar: WorkingCalendar = WEEKDAYS) -> int | None:
    """How long a decided application took, its paused time excluded: in all time, or for a clock of working days,
    in time on working days (what its promise counted)."""
    if not (row.submitted_at and row.decided_at):
        return None
    submitted, decided = aware(row.submitted_at), aware(row.decided_at)
    if working_days:
        return max(0, working_seconds(submitted, decided, calendar) - row.paused_clock_seconds)
    return max(0, int((decided - submitted).total_seconds()) - row.paused_seconds)


async def clocks_through(
    session: AsyncSession, model: type, start: datetime, end: datetime, *, after: uuid.UUID | None, limit: int
) -> list[Any]:
    """Applications (rows of `model`) whose clock runs and whose deadline was counted over days in [start, end): sent
    before `end`, due on or after `start` (a deadline before `start` never looked at a day in it). A page of them in
    id order, after the id `after`."""
    statement = select(model).where(
        model.status.not_in(tuple(STOPPED)),
        model.due_at.is_not(None),
        model.due_at >= start,
        model.submitted_at < end,
    )
    if after is not None:
        statement = statement.where(model.id > after)
    return list((await session.execute(statement.order_by(model.id).limit(limit))).scalars())


# -- escalation: the worker hands an application near its deadline to the supervisors, once ---------------------------


async def near_breach(
    session: AsyncSession, model: type, running: Iterable[str], now: datetime, *, limit: int = 200
) -> list[Any]:
    """Applications (rows of `model`, in one of the `running` states) whose clock runs and is past its at-risk
    instant, and that nobody has escalated yet; oldest deadline first."""
    statement = (
        select(model)
        .where(
            model.status.in_(tuple(running)),
            model.risk_at <= now,
            model.paused_at.is_(None),
            model.escalated_at.is_(None),
        )
        .order_by(model.due_at)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def mark_escalated(session: AsyncSession, model: type, row_id: uuid.UUID, now: datetime) -> bool:
    """Compare-and-set, so two workers never escalate one application twice."""
    table = model.__table__
    result = await session.execute(
        update(table).where(table.c.id == row_id, table.c.escalated_at.is_(None)).values(escalated_at=now)
    )
    return result.rowcount == 1
