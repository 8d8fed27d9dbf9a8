"""The working-day calendar: deadlines counted over public holidays and make-up working days, in China's time, and
the calendar's API (public to read, administrators publish with If-Match, refused input changes nothing)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from core import sla
from tests.calendar import PUBLISHED
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for

CST = sla.CHINA
YEAR = "/api/v1/calendar/2027"
DAYS_2027 = [
    {"date": "2027-01-01", "working": False, "name": {"zh-CN": "元旦", "en": "New Year's Day"}},
    {"date": "2027-01-02", "working": False, "name": {"zh-CN": "元旦", "en": "New Year's Day"}},
]


@pytest.mark.parametrize(
    ("start", "duration", "expected", "weekdays_only"),
    [
        # Thu before the Spring Festival: Fri 13, Sat 14 (worked), then Tue 24 to Thu 26 after nine days off.
        (datetime(2026, 2, 12, 10, 0, tzinfo=CST), "P5D", datetime(2026, 2, 26, 10, 0, tzinfo=CST), date(2026, 2, 19)),
        # Over National Day: Sun 20 Sep is worked, 1-7 Oct are off, Sat 10 Oct is worked.
        (datetime(2026, 9, 18, 9, 0, tzinfo=CST), "P10D", datetime(2026, 10, 9, 9, 0, tzinfo=CST), date(2026, 10, 2)),
        # A make-up Saturday alone makes a deadline a day earlier than Monday-to-Friday would.
        (datetime(2026, 5, 7, 9, 0, tzinfo=CST), "P2D", datetime(2026, 5, 9, 9, 0, tzinfo=CST), date(2026, 5, 11)),
        # New Year: 1 and 2 Jan off, Sun 4 Jan worked.
        (datetime(2025, 12, 31, 9, 0, tzinfo=CST), "P2D", datetime(2026, 1, 5, 9, 0, tzinfo=CST), date(2026, 1, 2)),
    ],
)
def test_deadlines_skip_holidays_and_count_make_up_days(start, duration, expected, weekdays_only) -> None:
    assert sla.deadline(start, duration, working_days=True, calendar=PUBLISHED) == expected
    assert sla.deadline(start, duration, working_days=True).astimezone(CST).date() == weekdays_only


def test_working_days_are_counted_on_china_dates() -> None:
    # Friday 15:00 UTC is 23:00 in China, still Friday: due at 23:00 on Monday, whatever UTC's date.
    late_friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert sla.deadline(late_friday, "P1D", working_days=True) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    # Friday 20:00 UTC is already Saturday in China: received when Monday begins there, due when Monday ends.
    later = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    assert sla.deadline(later, "P1D", working_days=True) == datetime(2026, 12, 1, 0, 0, tzinfo=CST)
    assert sla.deadline(later, "P1D", working_days=True).tzinfo is UTC
    # Across China's midnight into a day off, a second later is never due earlier (it used to be a day earlier).
    friday_ends = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    for duration in ("P1D", "P3D", "PT4H"):
        before = sla.deadline(friday_ends - timedelta(seconds=1), duration, working_days=True)
        assert sla.deadline(friday_ends, duration, working_days=True) >= before


@pytest.mark.parametrize(
    ("sent", "duration", "expected"),
    [
        # Saturday morning, due in a day: all of Monday, not until 09:00 on Monday (before the office opened).
        (datetime(2026, 11, 28, 9, 0, tzinfo=CST), "P1D", datetime(2026, 12, 1, 0, 0, tzinfo=CST)),
        # Five working days from a Sunday: Monday to Friday, not the Monday after.
        (datetime(2026, 11, 29, 23, 0, tzinfo=CST), "P5D", datetime(2026, 12, 5, 0, 0, tzinfo=CST)),
        # The first day of the Spring Festival: received on Tue 24 Feb, then 24, 25, 26, 27 and Sat 28 (worked).
        (datetime(2026, 2, 15, 10, 0, tzinfo=CST), "P5D", datetime(2026, 3, 1, 0, 0, tzinfo=CST)),
        # New Year's Day (off to Sat 3 Jan), the year's first working day a Sunday: it counts from that Sunday.
        (datetime(2026, 1, 1, 8, 0, tzinfo=CST), "P1D", datetime(2026, 1, 5, 0, 0, tzinfo=CST)),
        # A worked Sunday is a working day like any: the time of day is kept.
        (datetime(2026, 1, 4, 15, 0, tzinfo=CST), "P1D", datetime(2026, 1, 5, 15, 0, tzinfo=CST)),
        # Hours alone count from the first working day's beginning.
        (datetime(2026, 10, 3, 12, 0, tzinfo=CST), "PT4H", datetime(2026, 10, 8, 4, 0, tzinfo=CST)),
    ],
)
def test_an_application_sent_on_a_day_off_is_counted_from_the_next_working_day(sent, duration, expected) -> None:
    assert sla.deadline(sent, duration, working_days=True, calendar=PUBLISHED) == expected
    assert sla.deadline(sent.astimezone(UTC), duration, working_days=True, calendar=PUBLISHED) == expected

    # The clock is at risk after 80% of the time counted from then, not of the days off before it.
    class Row:
        status, submitted_at, decided_at, paused_at, paused_seconds = "submitted", sent, None, None, 0

    row = Row()
    sla.start_clock(row, sent, {"duration": duration, "working_days": True}, PUBLISHED)
    received = sla.counted_from(sent, working_days=True, calendar=PUBLISHED)
    if PUBLISHED.is_working(sent.date()):
        assert received == sent
    else:
        assert received > sent
        assert received.astimezone(CST).time() == time(0, 0)
    assert row.risk_at == received + (expected - received) * sla.RISK_SHARE


def _cst(*moment: int) -> datetime:
    return datetime(*moment, tzinfo=CST)


@pytest.mark.parametrize(
    ("paused", "resumed", "due"),
    [
        # Over a weekend, Friday 17:00 to Monday 09:00: the working hours of Friday evening and Monday morning (16 h)
        # move it on, not the whole 64 h (which gave Thursday 02:00).
        (_cst(2026, 12, 4, 17), _cst(2026, 12, 7, 9), _cst(2026, 12, 8, 2)),
        # A pause within a weekend costs the department no working time: the deadline stays.
        (_cst(2026, 12, 5, 10), _cst(2026, 12, 6, 18), _cst(2026, 12, 7, 10)),
        # Tuesday 09:00 to Thursday 17:00, all working time (56 h): Monday 10:00 moves to Wednesday 18:00.
        (_cst(2026, 12, 1, 9), _cst(2026, 12, 3, 17), _cst(2026, 12, 9, 18)),
    ],
)
def test_a_pause_moves_a_working_day_deadline_by_its_working_time(paused, resumed, due) -> None:
    class Row:
        status, paused_at, paused_seconds, paused_clock_seconds = "submitted", None, 0, 0

    row = Row()
    row.submitted_at = datetime(2026, 11, 30, 10, 0, tzinfo=CST)  # a Monday; five working days: Monday 7 December
    sla.start_clock(row, row.submitted_at, {"duration": "P5D", "working_days": True}, PUBLISHED)
    assert row.due_at == datetime(2026, 12, 7, 10, 0, tzinfo=CST)
    sla.pause(row, paused)
    sla.resume(row, resumed, {"duration": "P5D", "working_days": True}, PUBLISHED)
    assert row.due_at == due
    assert row.paused_seconds == int((resumed - paused).total_seconds())  # all of it, for the time elapsed
    # Counting again (a calendar change) gives the same deadline: what the clock counted of the pause is kept.
    sla.reschedule(row, {"duration": "P5D", "working_days": True}, PUBLISHED)
    assert row.due_at == due


def test_a_pause_moves_a_calendar_day_deadline_by_all_of_its_time() -> None:
    class Row:
        status, paused_at, paused_seconds, paused_clock_seconds = "submitted", None, 0, 0

    row, promised = Row(), {"duration": "P10D", "working_days": False}
    row.submitted_at = datetime(2026, 11, 30, 10, 0, tzinfo=CST)
    sla.start_clock(row, row.submitted_at, promised, PUBLISHED)
    sla.pause(row, datetime(2026, 12, 4, 17, 0, tzinfo=CST))
    sla.resume(row, datetime(2026, 12, 7, 9, 0, tzinfo=CST), promised, PUBLISHED)
    assert row.due_at == datetime(2026, 12, 10, 10, 0, tzinfo=CST) + timedelta(hours=64)


@pytest.mark.parametrize(
    ("asked", "days", "expected"),
    [
        # An ordinary working day: to the end of the tenth day, China time.
        (datetime(2026, 11, 2, 15, 0, tzinfo=CST), 10, datetime(2026, 11, 13, 0, 0, tzinfo=CST)),
        # Asked late in the evening UTC (early next morning in China): the days count from the China date.
        (datetime(2026, 11, 2, 17, 0, tzinfo=UTC), 1, datetime(2026, 11, 5, 0, 0, tzinfo=CST)),
        # Due on National Day: the period ends with the first working day after the holiday (Civil Code art. 203).
        (datetime(2026, 9, 21, 10, 0, tzinfo=CST), 10, datetime(2026, 10, 9, 0, 0, tzinfo=CST)),
        # Due on a Saturday: moves to Monday.
        (datetime(2026, 11, 4, 9, 0, tzinfo=CST), 3, datetime(2026, 11, 10, 0, 0, tzinfo=CST)),
    ],
)
def test_a_citizens_answer_is_due_at_the_end_of_a_working_day(asked, days, expected) -> None:
    assert sla.answer_by(asked, days, PUBLISHED) == expected
    assert sla.answer_by(asked.astimezone(UTC), days, PUBLISHED).tzinfo == UTC


@pytest.fixture
async def admin(app) -> dict[str, str]:
    return bearer(await token_for(app, "admin", "admin"))


async def test_the_seeded_year_is_public(client) -> None:
    response = await client.get("/api/v1/calendar/2026")
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["etag"] == f'"{body["version"]}"'
    days = {day["date"]: day for day in body["days"]}
    assert days["2026-02-14"] == {"date": "2026-02-14", "working": True, "weekday": 6, "name": "春节"}
    assert (response.headers["content-language"], response.headers["vary"]) == ("zh-CN", "Accept-Language")
    assert days["2026-10-07"]["working"] is False
    assert sum(not day["working"] for day in body["days"]) == 33
    assert [day["date"] for day in body["days"] if day["working"]] == [
        "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"
    ]  # fmt: skip
    assert_problem(await client.get("/api/v1/calendar/2031"), 404, "calendar-year-not-found")
    assert_problem(await client.get("/api/v1/calendar/1999"), 422)


@pytest.mark.parametrize(
    ("ask", "name", "content_language"),
    [
        ({"headers": {"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"}}, "Spring Festival", "en"),
        ({"headers": {"Accept-Language": "fr, zh-HK;q=0.8, en;q=0.7"}}, "春节", "zh-CN"),
        ({"headers": {"Accept-Language": "en"}, "params": {"lang": "zh-CN"}}, "春节", "zh-CN"),  # ?lang= wins
        ({"params": {"lang": "all"}}, {"zh-CN": "春节", "en": "Spring Festival"}, "zh-CN, en"),
    ],
)
async def test_a_year_is_shown_in_the_language_asked_for(client, ask, name, content_language) -> None:
    response = await client.get("/api/v1/calendar/2026", **ask)
    assert response.status_code == 200, response.text
    days = {day["date"]: day for day in response.json()["days"]}
    assert days["2026-02-14"]["name"] == name
    assert response.headers["content-language"] == content_language


async def test_an_administrator_publishes_and_corrects_a_year(client, app, admin) -> None:
    # A year not published has no version: If-Match matches nothing, not even * (RFC 9110 13.1.1).
    for tag in ('"7"', "*"):
        refused = await client.put(YEAR, json={"days": DAYS_2027}, headers={**admin, "If-Match": tag})
        assert_problem(refused, 412)
    assert_problem(await client.get(YEAR), 404, "calendar-year-not-found")
    created = await client.put(YEAR, json={"source": "notice", "days": DAYS_2027}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert created.headers["etag"] == '"1"'
    assert [day["date"] for day in created.json()["days"]] == ["2027-01-01", "2027-01-02"]

    corrected = [*DAYS_2027, {"date": "2027-01-09", "working": True, "name": {"zh-CN": "元旦", "en": "New Year"}}]
    assert_problem(await client.put(YEAR, json={"days": corrected}, headers=admin), 428)
    assert_problem(await client.put(YEAR, json={"days": corrected}, headers={**admin, "If-Match": '"7"'}), 412)
    changed = await client.put(YEAR, json={"days": corrected}, headers={**admin, "If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["source"] is None
    assert (await client.get(YEAR)).json()["days"] == changed.json()["days"]
    # Changing the days alone is a new version too.
    again = await client.put(YEAR, json={"days": DAYS_2027}, headers={**admin, "If-Match": '"2"'})
    assert again.json()["version"] == 3
    assert len(again.json()["days"]) == 2


@pytest.mark.parametrize(
    ("days", "field"),
    [
        ([{"date": "2026-12-31", "working": False, "name": {"zh-CN": "x", "en": "x"}}], "days.0.date"),
        ([{"date": "2027-01-05", "working": True, "name": {"zh-CN": "x", "en": "x"}}], "days.0.working"),
        ([DAYS_2027[0], DAYS_2027[0]], "days"),
        ([{"date": "2027-01-05", "working": False, "name": {"zh-CN": "x"}}], "days.0.name.en"),
    ],
)
async def test_refused_days_change_nothing(client, admin, days, field) -> None:
    assert (await client.put(YEAR, json={"days": DAYS_2027}, headers=admin)).status_code == 201
    problem = assert_problem(await client.put(YEAR, json={"days": days}, headers={**admin, "If-Match": '"1"'}), 422)
    assert any(error["field"].startswith(field) for error in problem["errors"]), problem
    after = (await client.get(YEAR)).json()
    assert after["version"] == 1
    assert [day["date"] for day in after["days"]] == ["2027-01-01", "2027-01-02"]


async def test_only_administrators_publish(client, app) -> None:
    assert_problem(await client.put(YEAR, json={"days": []}), 401)
    citizen = bearer(await token_for(app, "13800000001", "openid profile", client_id="demo-web"))
    assert_problem(await client.put(YEAR, json={"days": []}, headers=citizen), 403)
    officer = bearer(await token_for(app, "officer.market", "permits:process"))
    assert_problem(await client.put(YEAR, json={"days": []}, headers=officer), 403)
    assert_problem(await client.get(YEAR), 404)


def test_a_deadline_that_does_not_move_is_not_written() -> None:
    """As SQLite reads them back: naive UTC. Rewriting an unchanged deadline would give the row a new version."""

    class Row:
        submitted_at = datetime(2026, 11, 2, 9, 0)
        due_at = datetime(2026, 11, 9, 9, 0)  # five working days on
        risk_at = None
        paused_seconds = paused_clock_seconds = 0

        def __setattr__(self, name: str, value: object) -> None:
            raise AssertionError(f"{name} written")

    sla.reschedule(Row(), {"duration": "P5D", "working_days": True}, PUBLISHED)
    moved = Row()
    Row.__setattr__ = object.__setattr__  # type: ignore[method-assign]
    sla.reschedule(moved, {"duration": "P5D", "working_days": True}, sla.WorkingCalendar(days_off={date(2026, 11, 3)}))
    assert moved.due_at == datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    assert moved.risk_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC) + timedelta(days=8) * 0.8
