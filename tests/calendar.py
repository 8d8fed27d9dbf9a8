"""The calendar as the tests count deadlines on it: what the seed publishes, and a day off published over HTTP."""

from datetime import datetime, timedelta

import httpx

from core import sla
from services.calendar.seed import days_2026

# What the seed publishes (2026).
PUBLISHED = sla.WorkingCalendar(
    days_off=frozenset(d.day for d in days_2026() if not d.working),
    days_worked=frozenset(d.day for d in days_2026() if d.working),
)


async def declare_day_off(client: httpx.AsyncClient, admin: dict[str, str], after: datetime) -> sla.WorkingCalendar:
    """Publish the first working weekday after `after` (a China date) as a day off, a holiday announced late; the
    calendar deadlines then count on."""
    off = after.astimezone(sla.CHINA).date() + timedelta(days=1)
    while off.weekday() >= 5 or not PUBLISHED.is_working(off):
        off += timedelta(days=1)
    year = f"/api/v1/calendar/{off.year}"
    current = await client.get(year, params={"lang": "all"})  # both languages: it is written back
    headers, listed = admin, []
    if current.status_code == 200:
        headers, listed = {**admin, "If-Match": current.headers["etag"]}, current.json()["days"]
    days = [{key: d[key] for key in ("date", "working", "name")} for d in listed if d["date"] != off.isoformat()]
    days.append({"date": off.isoformat(), "working": False, "name": {"zh-CN": "临时休假", "en": "Day off"}})
    published = await client.put(year, json={"days": days}, headers=headers)
    assert published.status_code == (200 if listed else 201), published.text
    return sla.WorkingCalendar(days_off=PUBLISHED.days_off | {off}, days_worked=PUBLISHED.days_worked - {off})
