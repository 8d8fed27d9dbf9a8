"""Reference data: the published years of the calendar (2026, from the State Council General Office's notice of
November 2025). A year already in the database is left as it is: administrators correct it through the API."""

from datetime import date, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from core.settings import Settings
from services.calendar import repository
from services.calendar.models import CalendarDay, CalendarYear

SOURCE_2026 = "国务院办公厅关于2026年部分节假日安排的通知 (State Council General Office, November 2025)"

# (first day off, last day off, days worked in their place, zh name, en name)
HOLIDAYS_2026 = [
    (date(2026, 1, 1), date(2026, 1, 3), [date(2026, 1, 4)], "元旦", "New Year's Day"),
    (date(2026, 2, 15), date(2026, 2, 23), [date(2026, 2, 14), date(2026, 2, 28)], "春节", "Spring Festival"),
    (date(2026, 4, 4), date(2026, 4, 6), [], "清明节", "Qingming Festival"),
    (date(2026, 5, 1), date(2026, 5, 5), [date(2026, 5, 9)], "劳动节", "Labour Day"),
    (date(2026, 6, 19), date(2026, 6, 21), [], "端午节", "Dragon Boat Festival"),
    (date(2026, 9, 25), date(2026, 9, 27), [], "中秋节", "Mid-Autumn Festival"),
    (date(2026, 10, 1), date(2026, 10, 7), [date(2026, 9, 20), date(2026, 10, 10)], "国庆节", "National Day"),
]


def days_2026() -> list[CalendarDay]:
    days = []
    for first, last, worked, zh, en in HOLIDAYS_2026:
        day = first
        while day <= last:
            days.append(CalendarDay(day=day, year=2026, working=False, name_zh=zh, name_en=en))
            day += timedelta(days=1)
        days.extend(CalendarDay(day=d, year=2026, working=True, name_zh=zh, name_en=en) for d in worked)
    return sorted(days, key=lambda d: d.day)


async def seed_calendar(*, session: AsyncSession, settings: Settings) -> None:
    if await repository.year(session, 2026) is not None:
        return
    session.add(CalendarYear(year=2026, source=SOURCE_2026))
    await session.flush()
    await repository.replace_days(session, 2026, days_2026())
