"""The SLA clock: deadlines in working days, pauses, the queue's risk filters, escalation to the supervisor, lapsed
requests for information, and the observed processing times shown in the catalogue."""

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from core import sla
from core.events import OutboxEvent
from core.models import aware, utcnow
from services.calendar import service as calendar_service
from services.catalogue import service as catalogue_service
from services.permits import tasks
from services.permits.models import InformationRequest, PermitApplication
from tests.calendar import PUBLISHED, declare_day_off
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for
from tests.services.permits.conftest import APPLICATIONS, act, create, fetch, upload

FRIDAY = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("duration", "working_days", "expected"),
    [
        ("P3D", True, datetime(2026, 12, 2, 10, 0, tzinfo=UTC)),  # Mon, Tue, Wed
        ("P3D", False, datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        ("P1W", True, datetime(2026, 12, 4, 10, 0, tzinfo=UTC)),  # a week of working days
        ("P1W", False, datetime(2026, 12, 4, 10, 0, tzinfo=UTC)),
        ("PT4H", True, datetime(2026, 11, 27, 14, 0, tzinfo=UTC)),
    ],
)
def test_deadlines_count_working_days(duration: str, working_days: bool, expected: datetime) -> None:
    assert sla.deadline(FRIDAY, duration, working_days=working_days) == expected


def test_a_pause_moves_the_deadline_by_the_working_time_it_took() -> None:
    class Row:
        status, submitted_at, decided_at, paused_at, paused_seconds = "under_review", FRIDAY, None, None, 0

    row = Row()
    sla.start_clock(row, FRIDAY, {"duration": "P5D", "working_days": True})
    due = row.due_at
    paused, resumed = FRIDAY + timedelta(days=1), FRIDAY + timedelta(days=3)  # Saturday to Monday, same hour
    sla.pause(row, paused)
    assert sla.risk(row, FRIDAY + timedelta(days=30)) == "paused"
    sla.resume(row, resumed, {"duration": "P5D", "working_days": True})
    # Saturday and Sunday cost the department nothing; Monday, up to that hour in China, does.
    monday = resumed.astimezone(sla.CHINA)
    into_monday = int((monday - monday.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds())
    assert row.paused_clock_seconds == into_monday
    assert row.due_at == sla.push(due, into_monday, working_days=True)
    assert row.paused_seconds == 2 * 86400  # all of it, for the time elapsed
    assert sla.risk(row, FRIDAY + timedelta(hours=1)) == "on_track"
    assert sla.risk(row, row.risk_at + timedelta(seconds=1)) == "at_risk"
    assert sla.risk(row, row.due_at) == "breached"


def test_a_paused_clock_shows_the_time_left_as_it_was_when_it_stopped() -> None:
    class Row:
        status, submitted_at, decided_at, paused_at, paused_seconds = "awaiting_applicant", FRIDAY, None, None, 0

    row = Row()
    sla.start_clock(row, FRIDAY, {"duration": "P5D", "working_days": True})  # due the next Friday
    asked = FRIDAY + timedelta(days=1)
    sla.pause(row, asked)
    left = int((row.due_at - asked).total_seconds())
    # The applicant takes ten days to answer, past the deadline as it stood: the clock neither runs nor breaches.
    for now in (asked + timedelta(hours=1), asked + timedelta(days=10)):
        clock = sla.view(row, now)
        assert (clock["risk"], clock["remaining_seconds"], clock["elapsed_seconds"]) == ("paused", left, 86400)
    due, answered = row.due_at, asked + timedelta(days=10)
    sla.resume(row, answered, {"duration": "P5D", "working_days": True})
    moved = sla.working_seconds(asked, answered)  # the deadline moves on by the working time paused
    assert row.due_at == sla.push(due, moved, working_days=True)
    assert sla.view(row, answered)["remaining_seconds"] == int((row.due_at - answered).total_seconds())


async def _submitted(client, citizen, worker) -> dict:
    draft = await create(client, citizen)
    await upload(client, citizen, draft["id"])
    assert (await act(client, citizen, draft["id"], "submit")).status_code == 200
    await worker.drain()
    return draft


async def _set(db, app_id: str, **values) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(PermitApplication).where(PermitApplication.id == uuid.UUID(app_id)).values(**values)
        )


async def test_the_queue_filters_by_submission_time(client, db, street_vendor, citizen, officer, worker) -> None:
    early, late = [await _submitted(client, citizen, worker) for _ in range(2)]
    await _set(db, early["id"], submitted_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    await _set(db, late["id"], submitted_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))

    async def ids(**filters: str) -> set[str]:
        listed = await client.get(APPLICATIONS, params={"limit": 100, **filters}, headers=officer)
        assert listed.status_code == 200, listed.text
        return {item["id"] for item in listed.json()["items"]} & {early["id"], late["id"]}

    assert await ids(submitted_after="2026-11-10T00:00:00+08:00") == {late["id"]}
    assert await ids(submitted_before="2026-11-10T00:00:00Z") == {early["id"]}
    # An instant without its offset (or a number of seconds) is a 422 naming the filter, not a 500.
    for vague in ("2026-11-10T00:00:00", "2026-11-10", "1762732800"):
        refused = await client.get(APPLICATIONS, params={"submitted_after": vague}, headers=officer)
        assert assert_problem(refused, 422)["errors"][0]["field"] == "submitted_after"
    # So is one whose UTC falls outside the calendar (it answered 500 where the driver converted it).
    for name, edge in (
        ("submitted_after", "0001-01-01T00:00:00+14:00"),
        ("submitted_before", "9999-12-31T23:59:59-00:01"),
    ):
        refused = await client.get(APPLICATIONS, params={name: edge}, headers=officer)
        assert assert_problem(refused, 422)["errors"][0]["field"] == name


async def test_the_queue_filters_by_risk_assignee_and_service(client, db, street_vendor, citizen, officer, worker):
    on_track, at_risk, breached = [await _submitted(client, citizen, worker) for _ in range(3)]
    now = utcnow()
    await _set(db, at_risk["id"], risk_at=now - timedelta(hours=1), due_at=now + timedelta(hours=5))
    await _set(db, breached["id"], risk_at=now - timedelta(days=2), due_at=now - timedelta(hours=1))
    await act(client, officer, on_track["id"], "claim")

    async def queue(**params) -> list[str]:
        response = await client.get(APPLICATIONS, headers=officer, params={"service": street_vendor, **params})
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await queue(sla_risk="breached") == [breached["id"]]
    assert await queue(sla_risk="at_risk") == [at_risk["id"]]
    assert await queue(sla_risk="on_track") == [on_track["id"]]
    assert await queue(assignee="me") == [on_track["id"]]
    assert await queue(assignee="none") == [breached["id"], at_risk["id"]]  # oldest deadline first
    assert await queue(service="no-such-service") == []
    mine = {"service": street_vendor, "limit": 2}
    first = (await client.get(APPLICATIONS, headers=officer, params=mine)).json()
    rest = (await client.get(APPLICATIONS, headers=officer, params={**mine, "cursor": first["next_cursor"]})).json()
    assert [i["id"] for i in first["items"] + rest["items"]] == [breached["id"], at_risk["id"], on_track["id"]]
    assert [i["risk"] for i in first["items"]] == ["breached", "at_risk"]


async def test_near_breach_is_escalated_to_the_supervisor_once(app, client, db, street_vendor, citizen, worker):
    application = await _submitted(client, citizen, worker)
    # Due at 18:30 UTC, which is 02:30 the next day in Jiangmen: the supervisor is told Beijing time.
    due = (utcnow() + timedelta(days=2)).replace(hour=18, minute=30, second=0, microsecond=0)
    await _set(db, application["id"], risk_at=utcnow() - timedelta(minutes=1), due_at=due)
    await tasks.escalate(app.state)
    await tasks.escalate(app.state)
    supervisor = bearer(await token_for(app, "supervisor.market", "openid account"))  # the inbox takes `account`
    inbox = (await client.get("/api/v1/me/notifications", headers=supervisor, params={"limit": 100})).json()["items"]
    about_it = [n for n in inbox if application["reference"] in n["body"]]
    assert [n["template"] for n in about_it] == ["permit_escalated"]
    local = (due + timedelta(hours=8)).strftime("%Y-%m-%d 02:30")
    # (in the supervisor's own language, English)
    assert about_it[0]["body"] == f"Application {application['reference']} is due by {local} (UTC+8); please act on it."
    history = (await client.get(f"{APPLICATIONS}/{application['id']}/history", headers=citizen)).json()["items"]
    assert [step["action"] for step in history].count("escalate") == 1


async def test_an_unanswered_request_for_information_lapses(app, client, db, street_vendor, citizen, officer, worker):
    application = await _submitted(client, citizen, worker)
    await act(client, officer, application["id"], "claim")
    before = utcnow()
    asked = await act(client, officer, application["id"], "request_info", reason="请补充照片", due_in_days=3)
    assert asked.json()["status"] == "awaiting_applicant"
    # To the end of a working day, China time (Civil Code art. 203), not to this minute three days on.
    due = datetime.fromisoformat(asked.json()["information_request"]["due_at"])
    assert due in {sla.answer_by(moment, 3, PUBLISHED) for moment in (before, utcnow())}
    assert due.astimezone(sla.CHINA).time() == time(0, 0)
    async with db.transaction() as session:
        await session.execute(update(InformationRequest).values(due_at=utcnow() - timedelta(minutes=1)))
    # Past its due date the request takes no answer, before the job has closed the application too.
    assert "answer" not in (await fetch(client, citizen, application["id"])).json()["allowed_actions"]
    late = await act(client, citizen, application["id"], "answer", reason="刚拍好")
    assert [error["code"] for error in assert_problem(late, 409, "action-refused")["errors"]] == ["lapsed"]
    await tasks.rfi_timeouts(app.state)
    lapsed = (await fetch(client, citizen, application["id"])).json()
    assert lapsed["status"] == "withdrawn"
    assert lapsed["information_request"] is None
    await worker.drain()
    inbox = (await client.get("/api/v1/me/notifications", headers=citizen)).json()["items"]
    assert any(n["template"] == "permit_status_changed" and "已撤回" in n["body"] for n in inbox)


async def test_the_catalogue_shows_observed_processing_times(app, client, db, street_vendor, citizen, worker) -> None:
    """Counted as the promise counts (P5D: working days), from at least five decisions, and gone once they age out."""
    monday = datetime(2026, 11, 2, 10, 0, tzinfo=sla.CHINA)
    # Decided 1, 2, 3, 4 working days on, and two weeks on: 14 days, 10 of them working days.
    decided = [monday + timedelta(days=days) for days in (1, 2, 3, 4, 14)]
    applications = [await _submitted(client, citizen, worker) for _ in decided]
    for application, moment in zip(applications, decided, strict=True):
        await _set(db, application["id"], submitted_at=monday, decided_at=moment, status="approved")
    url = f"/api/v1/catalogue/services/{street_vendor}"

    await tasks.processing_times(app.state)
    service = (await client.get(url, params={"lang": "en"})).json()
    assert service["processing_time"]["duration"] == "P5D"
    observed = service["actual_processing_time"]
    assert (observed["median_days"], observed["p90_days"], observed["sample_size"]) == (3.0, 10.0, 5)

    # Four decisions are too few to show (they would all but tell an applicant's case); none in the year, nothing.
    await _set(db, applications[0]["id"], decided_at=utcnow() - timedelta(days=400))
    await tasks.processing_times(app.state)
    app.state.catalogue_cache.clear()  # the public read is cached for seconds; the figures are measured hourly
    assert (await client.get(url, params={"lang": "en"})).json()["actual_processing_time"] is None


async def test_deadlines_follow_the_published_calendar(
    app, client, db, street_vendor, citizen, worker, monkeypatch
) -> None:
    """A submission counts on the calendar as published, and a correction of the calendar moves the deadlines of
    applications under way (their pauses kept), not those of drafts or of other years."""
    monkeypatch.setattr(calendar_service, "RECOUNT_BATCH", 1)  # the recount goes a page at a time
    admin = bearer(await token_for(app, "admin", "admin"))
    running = await _submitted(client, citizen, worker)
    second = await _submitted(client, citizen, worker)
    second_due = datetime.fromisoformat((await fetch(client, citizen, second["id"])).json()["sla"]["due_at"])
    draft = await create(client, citizen)
    before = (await fetch(client, citizen, running["id"])).json()
    submitted = datetime.fromisoformat(before["submitted_at"])
    due = datetime.fromisoformat(before["sla"]["due_at"])
    assert due == sla.deadline(submitted, "P5D", working_days=True, calendar=PUBLISHED)
    await _set(db, running["id"], paused_seconds=3600, paused_clock_seconds=3600)  # an earlier pause of a working hour

    calendar = await declare_day_off(client, admin, submitted)
    await worker.drain()

    moved = (await fetch(client, citizen, running["id"])).json()
    counted = sla.deadline(submitted, "P5D", working_days=True, calendar=calendar)
    expected = sla.push(counted, 3600, working_days=True, calendar=calendar)  # the working hour paused, kept
    assert datetime.fromisoformat(moved["sla"]["due_at"]) == expected
    assert expected - due >= timedelta(days=1) + timedelta(hours=1)
    assert moved["version"] == before["version"] + 1  # a new ETag: the representation changed
    assert (await fetch(client, citizen, draft["id"])).json()["sla"]["due_at"] is None
    assert datetime.fromisoformat((await fetch(client, citizen, second["id"])).json()["sla"]["due_at"]) > second_due

    # A new submission counts on it from the start.
    later = await _submitted(client, citizen, worker)
    fresh = (await fetch(client, citizen, later["id"])).json()
    fresh_start = datetime.fromisoformat(fresh["submitted_at"])
    assert datetime.fromisoformat(fresh["sla"]["due_at"]) == sla.deadline(
        fresh_start, "P5D", working_days=True, calendar=calendar
    )


async def test_a_deadline_in_the_first_hours_of_a_new_year_in_china_follows_that_years_calendar(
    app, client, db, street_vendor, citizen, worker
) -> None:
    """Due at 04:00 on 1 January in China, still 31 December in UTC: publishing the new year, with New Year's Day
    off, moves it (a year's bounds are China's midnights, whatever zone the database keeps its times in)."""
    admin = bearer(await token_for(app, "admin", "admin"))
    draft = await _submitted(client, citizen, worker)
    sent = datetime(2026, 12, 25, 4, 0, tzinfo=sla.CHINA)  # a Friday, five working days before New Year's Day
    due = sla.deadline(sent, "P5D", working_days=True, calendar=PUBLISHED)
    assert due == datetime(2027, 1, 1, 4, 0, tzinfo=sla.CHINA)
    await _set(
        db, draft["id"], submitted_at=sent.astimezone(UTC), due_at=due.astimezone(UTC), risk_at=sent.astimezone(UTC)
    )

    new_year = {"date": "2027-01-01", "working": False, "name": {"zh-CN": "元旦", "en": "New Year's Day"}}
    assert (await client.put("/api/v1/calendar/2027", json={"days": [new_year]}, headers=admin)).status_code == 201
    await worker.drain()

    moved = datetime.fromisoformat((await fetch(client, citizen, draft["id"])).json()["sla"]["due_at"])
    assert moved == datetime(2027, 1, 4, 4, 0, tzinfo=sla.CHINA)  # Monday: 1 January is off, then the weekend


async def test_a_recount_commits_page_by_page_and_reads_a_page_again_that_a_request_changed(
    app, client, db, street_vendor, citizen, worker, monkeypatch
) -> None:
    """Each page of the recount is its own transaction: the deadlines of a page are visible to everyone while the
    next page is counted, and an application a request changes between a page's reading and its writing costs only
    that page a second reading (not a failed event, and not the whole year again)."""
    monkeypatch.setattr(calendar_service, "RECOUNT_BATCH", 1)
    admin = bearer(await token_for(app, "admin", "admin"))
    first, second = [await _submitted(client, citizen, worker) for _ in range(2)]
    before = (await fetch(client, citizen, first["id"])).json()
    seen_during_second_page: list[datetime] = []
    pinned_version = catalogue_service.pinned_version
    first_id, second_id = uuid.UUID(first["id"]), uuid.UUID(second["id"])
    readings = {first_id: 0, second_id: 0}

    async def reading(*, session, service_id):
        # Called for each application as its page is counted (a page of one: the seeded ones have pages too).
        for row in session.sync_session.identity_map.values():
            if getattr(row, "id", None) in readings:
                readings[row.id] += 1
                if row.id == second_id and readings[second_id] == 1:
                    async with db.transaction(write=False) as other:
                        due = await other.scalar(
                            select(PermitApplication.due_at).where(PermitApplication.id == first_id)
                        )
                    seen_during_second_page.append(due)
                    # A request's write lands under the page: the row's version moves past the one the page read
                    # (through the table, so the page's object keeps the version it read).
                    table = PermitApplication.__table__
                    await session.execute(
                        update(table).where(table.c.id == second_id).values(version=table.c.version + 1)
                    )
        return await pinned_version(session=session, service_id=service_id)

    monkeypatch.setattr(catalogue_service, "pinned_version", reading)
    calendar = await declare_day_off(client, admin, datetime.fromisoformat(before["submitted_at"]))
    await worker.drain()

    assert readings == {first_id: 1, second_id: 2}  # the second page was read again, the first was not
    moved = datetime.fromisoformat((await fetch(client, citizen, first["id"])).json()["sla"]["due_at"])
    assert moved > datetime.fromisoformat(before["sla"]["due_at"])
    assert [aware(due) for due in seen_during_second_page] == [moved]  # the first page was committed already
    again = (await fetch(client, citizen, second["id"])).json()
    assert datetime.fromisoformat(again["sla"]["due_at"]) == sla.deadline(
        datetime.fromisoformat(again["submitted_at"]), "P5D", working_days=True, calendar=calendar
    )
    async with db.transaction(write=False) as session:
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.name == calendar_service.CALENDAR_CHANGED.name)
        )
    assert (event.status, event.attempts, event.last_error) == ("done", 1, None)


async def test_the_applicant_is_told_of_what_others_do_not_of_what_they_do(
    client, street_vendor, citizen, officer, worker
):
    """A status change reaches the applicant's inbox (and phone) when someone else made it: not their own withdrawal."""
    claimed, withdrawn = await _submitted(client, citizen, worker), await _submitted(client, citizen, worker)
    assert (await act(client, officer, claimed["id"], "claim")).status_code == 200
    assert (await act(client, citizen, withdrawn["id"], "withdraw", reason="不办了")).status_code == 200
    await worker.drain()
    inbox = (await client.get("/api/v1/me/notifications", headers=citizen, params={"limit": 100})).json()["items"]
    told = [n["body"] for n in inbox if n["template"] == "permit_status_changed"]
    assert f"您的申请 {claimed['reference']} 当前状态：审查中。" in told  # the officer's claim
    assert f"您的申请 {withdrawn['reference']} 当前状态：形式审查中。" in told  # the system's screening
    assert not [text for text in told if "已撤回" in text]  # not the withdrawal they made themselves
