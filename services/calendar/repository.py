"""Queries of the calendar."""

from datetime import date

from sqlalchemy import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.calendar.models import CalendarDay, CalendarYear


async def year(session: AsyncSession, number: int) -> CalendarYear | None:
    return await session.get(CalendarYear, number)


async def days_of(session: AsyncSession, number: int) -> list[CalendarDay]:
    result = await session.execute(select(CalendarDay).where(CalendarDay.year == number).order_by(CalendarDay.day))
    return list(result.scalars())


async def replace_days(session: AsyncSession, number: int, days: list[CalendarDay]) -> None:
    await session.execute(delete(CalendarDay).where(CalendarDay.year == number))
    session.add_all(days)
    await session.flush()


async def exceptions_from(session: AsyncSession, since: date) -> list[tuple[date, bool]]:
    """(day, working) of every listed day from `since` on: a few dozen a year, and only this year and the next
    are ever published ahead."""
    result = await session.execute(select(CalendarDay.day, CalendarDay.working).where(CalendarDay.day >= since))
    return [(day, working) for day, working in result.all()]
