"""The SLA clock of an application (a permit, a talent registration): a deadline from the promised processing time,
paused while the applicant owes an answer, and the risk of breaching it.

Working days skip Saturdays and Sundays. The official holiday calendar (and its make-up working weekends) is not
modelled: a deadline over a public holiday comes out early, never late, which errs on the citizen's side.
"""

import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import aware

# States in which the clock does not run: not sent yet, decided (a permit or a talent card issued), or ended.
STOPPED = frozenset({"draft", "approved", "issued", "card_issued", "rejected", "withdrawn"})
# An application is "at risk" once 80% of its time is used.
RISK_SHARE = 0.8
_DURATION = re.compile(r"^P(?:(\d+)W|(\d+)D)?(?:T(\d+)H)?$")


def deadline(start: datetime, duration: str, *, working_days: bool) -> datetime:
    """`start` plus an ISO 8601 duration (P20D, P2W, PT4H), counting only weekdays when `working_days`."""
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"not a supported duration: {duration}")
    weeks, days, hours = (int(group or 0) for group in match.groups())
    days += (5 if working_days else 7) * weeks  # a week of working days is five of them
    if not working_days:
        return start + timedelta(days=days, hours=hours)
    end = start
    while days > 0:
        end += timedelta(days=1)
        if end.weekday() < 5:
            days -= 1
    return end + timedelta(hours=hours)


def start_clock(row: Any, now: datetime, processing_time: dict[str, Any] | None) -> None:
    """Set the deadline and the at-risk instant on submission (no processing time: 20 working days, the default)."""
    processing_time = processing_time or {"duration": "P20D", "working_days": True}
    row.due_at = deadline(now, processing_time["duration"], working_days=processing_time.get("working_days", True))
    row.risk_at = now + (row.due_at - now) * RISK_SHARE
    row.paused_at, row.paused_seconds = None, 0


def pause(row: Any, now: datetime) -> None:
    if row.paused_at is None:
        row.paused_at = now


def resume(row: Any, now: datetime) -> None:
    """The time spent paused moves the deadline on by as much."""
    if row.paused_at is None:
        return
    paused = now - aware(row.paused_at)
    row.due_at = aware(row.due_at) + paused if row.due_at else None
    row.risk_at = aware(row.risk_at) + paused if row.risk_at else None
    row.paused_seconds += int(paused.total_seconds())
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
    remaining = int((aware(row.due_at) - now).total_seconds()) if row.due_at and risk(row, now) != "stopped" else None
    return {
        "due_at": row.due_at,
        "risk": risk(row, now),
        "paused": row.paused_at is not None,
        "paused_seconds": row.paused_seconds,
        "elapsed_seconds": elapsed,
        "remaining_seconds": remaining,
    }


def processing_seconds(row: Any) -> int | None:
    """How long a decided application took, its paused time excluded."""
    if not (row.submitted_at and row.decided_at):
        return None
    return max(0, int((aware(row.decided_at) - aware(row.submitted_at)).total_seconds()) - row.paused_seconds)


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
