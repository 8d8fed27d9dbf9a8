"""Renewing a permit (行政许可法 art. 50: a holder applies to extend a permit before it expires): a draft that starts
from the permit's form and holder, follows the ordinary lifecycle, and replaces the permit when issued."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core import sla
from core.events import CATALOGUE
from core.models import aware, utcnow
from services.cloud.mock_server import MockCloud
from services.credentials.models import Credential
from services.permits import tasks
from services.permits.models import PermitApplication
from services.permits.service import DEEMED_GRANTED
from tests.calendar import PUBLISHED, declare_day_off
from tests.helpers import all_pages, assert_problem
from tests.oauth import bearer, token_for
from tests.services.permits.conftest import APPLICATIONS, FORM, SERVICE, STREET_VENDOR, act, create, fetch, upload

VERIFY = "/api/v1/credentials/verify"
REGISTER = "/api/v1/permits/register"


async def _issue(client, app, worker, citizen, officer, supervisor, draft: dict, **approval) -> dict:
    """Drive a draft to its permit: document, submit, screening, review, payment through the mock cloud, approval
    (with `approval`'s body: conditions, say)."""
    app_id = draft["id"]
    assert (await upload(client, citizen, app_id)).status_code == 200
    assert (await act(client, citizen, app_id, "submit")).status_code == 200
    await worker.drain()
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    await _pass(client, officer, app_id)
    await _pay(client, app, worker, citizen, app_id)
    assert (await act(client, supervisor, app_id, "approve", **approval)).status_code == 200
    await worker.drain()
    issued = (await fetch(client, citizen, app_id)).json()
    assert issued["status"] == "issued", issued
    return issued


async def _pass(client, officer, app_id: str) -> None:
    for item in (await client.get(f"{APPLICATIONS}/{app_id}/documents", headers=officer)).json()["items"]:
        if item["document"]:
            review = f"{APPLICATIONS}/{app_id}/documents/{item['document']['id']}/review"
            assert (await client.post(review, json={"decision": "accepted"}, headers=officer)).status_code == 200
    assert (await act(client, officer, app_id, "pass")).json()["status"] == "pending_payment"


async def _pay(client, app, worker, citizen, app_id: str) -> None:
    order = await client.post(f"{APPLICATIONS}/{app_id}/payment", headers={**citizen, "Idempotency-Key": app_id})
    assert (await client.post(order.json()["pay_url"], data={"card": "4111111111111111"})).status_code == 200
    mock: MockCloud = app.state.cloud.mock
    await mock.idle()
    await worker.drain()


async def _verified(client, number: str, citizen) -> dict:
    mine = (await client.get("/api/v1/me/credentials", headers=citizen, params={"limit": 100})).json()["items"]
    [credential] = [c for c in mine if c["number"] == number]
    return (await client.get(VERIFY, params={"token": credential["token"]})).json()


async def test_a_renewal_starts_from_the_permit_and_its_permit_replaces_it(
    app, client, street_vendor, citizen, officer, supervisor, worker
) -> None:
    first = await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen))
    number = first["permit_number"]

    # The draft starts from the permit's form and holder; what the request says changes it.
    renewal = await client.post(
        APPLICATIONS,
        json={"service_code": SERVICE, "renews": number, "form": {"area_m2": 12}},
        headers={**citizen, "Idempotency-Key": "renew-1"},
    )
    assert renewal.status_code == 201, renewal.text
    draft = renewal.json()
    assert draft["renews"] == number
    assert draft["form"] == {**FORM, "area_m2": 12}
    assert draft["holder_name"] == first["holder_name"]
    assert [line["code"] for line in draft["fees"]] == ["licence_fee", "large_stall_fee"]  # priced on the new form
    history = (await client.get(f"{APPLICATIONS}/{draft['id']}/history", headers=citizen)).json()["items"]
    assert (history[0]["action"], history[0]["reason"]) == ("create", f"renews {number}")

    # One renewal at a time.
    again = await client.post(APPLICATIONS, json={"service_code": SERVICE, "renews": number}, headers=citizen)
    assert_problem(again, 409, "renewal-under-way")

    # Until it is issued, the permit stays in force; then the new one replaces it.
    assert (await _verified(client, number, citizen))["status"] == "active"
    second = await _issue(client, app, worker, citizen, officer, supervisor, draft)
    assert second["permit_number"] != number
    new = await _verified(client, second["permit_number"], citizen)
    assert (new["status"], new["replaced_by"]) == ("active", None)
    # An inspector scanning the old permit is told it was replaced, and by which permit, not only "revoked".
    old = await _verified(client, number, citizen)
    assert (old["status"], old["replaced_by"]) == ("revoked", second["permit_number"])
    mine = (await client.get("/api/v1/me/credentials", headers=citizen, params={"limit": 100})).json()["items"]
    [replaced] = [c for c in mine if c["number"] == number]
    assert (replaced["status_reason"], replaced["replaced_by"]) == (
        f"replaced by {second['permit_number']}",
        second["permit_number"],
    )
    listed = (await client.get(REGISTER, params={"number": number})).json()["items"]
    assert [(entry["status"], entry["replaced_by"]) for entry in listed] == [("revoked", second["permit_number"])]
    # A permit replaced is renewed no more.
    assert_problem(
        await client.post(APPLICATIONS, json={"service_code": SERVICE, "renews": number}, headers=citizen), 422
    )


async def test_only_the_holders_permit_in_force_of_that_service_is_renewed(
    app, client, street_vendor, citizen, other_citizen, officer, supervisor, worker
) -> None:
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]

    def renew(headers, **body):
        return client.post(APPLICATIONS, json={"service_code": SERVICE, "renews": number, **body}, headers=headers)

    # Another person's permit is refused in the very words of a number nobody holds.
    theirs = assert_problem(await renew(other_citizen), 422)
    nobody = assert_problem(
        await client.post(
            APPLICATIONS, json={"service_code": SERVICE, "renews": "TI-PERMIT-2026-999999"}, headers=other_citizen
        ),
        422,
    )
    assert theirs["errors"] == nobody["errors"]
    assert theirs["errors"][0]["field"] == "renews"
    # Another service's permit is not renewed by this one.
    other = await client.post(
        APPLICATIONS,
        json={"service_code": "business-licence", "renews": number, "form": {"entity_type": "llc"}},
        headers=citizen,
    )
    assert_problem(other, 422)

    # A renewal withdrawn frees the permit for another.
    withdrawn = (await renew(citizen)).json()
    assert (await act(client, citizen, withdrawn["id"], "withdraw")).status_code == 200
    assert (await renew(citizen)).status_code == 201

    # A suspended permit is not in force.
    mine = (await client.get("/api/v1/me/credentials", headers=citizen, params={"limit": 100})).json()["items"]
    [credential] = [c for c in mine if c["number"] == number]
    suspended = await client.post(
        f"/api/v1/credentials/{credential['id']}/actions/suspend",
        json={"reason": "检查中"},
        headers={**supervisor, "If-Match": f'"{credential["version"]}"'},
    )
    assert suspended.status_code == 200, suspended.text
    refused = assert_problem(await renew(citizen), 422)
    assert refused["errors"] == theirs["errors"]


async def test_two_renewals_at_once_make_one(app, client, street_vendor, citizen, officer, supervisor, worker) -> None:
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]
    answers = await asyncio.gather(
        *(
            client.post(
                APPLICATIONS,
                json={"service_code": SERVICE, "renews": number},
                headers={**citizen, "Idempotency-Key": f"race-{n}"},
            )
            for n in range(2)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert_problem(refused, 409, "renewal-under-way")


async def test_the_database_holds_one_renewal_per_permit(app, client, db, street_vendor, citizen) -> None:
    """uq_permit_application_renews: however two renewals race past the service's check, the second row cannot land
    while the first is under way or issued; one rejected or withdrawn holds nothing."""
    draft = await create(client, citizen)

    async def copy(status: str, reference: str) -> None:
        async with db.transaction() as session:
            row = await session.get(PermitApplication, uuid.UUID(draft["id"]))
            values = {c.key: getattr(row, c.key) for c in PermitApplication.__table__.columns}
            values.update(id=uuid.uuid4(), reference=reference, status=status, renews="TI-PERMIT-2026-000001")
            session.add(PermitApplication(**values))

    await copy("draft", "TI-P-TEST-1")
    with pytest.raises(IntegrityError):
        await copy("submitted", "TI-P-TEST-2")
    await copy("withdrawn", "TI-P-TEST-3")
    await copy("rejected", "TI-P-TEST-4")


async def test_a_partner_renews_only_a_permit_it_filed(
    app, client, street_vendor, other_citizen, partner, officer, supervisor, worker
) -> None:
    """A partner sees only the applications it filed: renewing another would show it the holder and the form, and say
    whether the citizen holds that number. It is refused in the words of a number nobody holds."""
    me = (await client.get("/api/v1/me", headers=other_citizen)).json()
    own = await _issue(client, app, worker, other_citizen, officer, supervisor, await create(client, other_citizen))

    def renew(number: str):
        body = {"service_code": SERVICE, "renews": number, "on_behalf_of": me["id"], "holder_name": "夜市 A-12 摊位"}
        return client.post(APPLICATIONS, json=body, headers=partner)

    refused = assert_problem(await renew(own["permit_number"]), 422)
    nobody = assert_problem(await renew("TI-PERMIT-2026-999999"), 422)
    assert (refused["detail"].split(" ", 1)[1], refused["errors"]) == (
        nobody["detail"].split(" ", 1)[1],
        nobody["errors"],
    )
    assert refused["errors"][0]["field"] == "renews"


async def test_a_partners_filing_renewal_and_edit_are_reads_in_the_citizens_access_log(
    app, client, street_vendor, other_citizen, partner, officer, supervisor, worker
) -> None:
    """What a partner is shown of a citizen's application lands in the citizen's access log, as its reads do: the
    draft it filed, the draft it edited (what the citizen wrote in it too) and, above all, a renewal, which shows it
    the renewed permit's holder and form as they stand. The citizen's own filing is no entry."""
    me = (await client.get("/api/v1/me", headers=other_citizen)).json()

    async def log() -> list[dict]:
        return await all_pages(client, "/api/v1/me/access-log", other_citizen, limit=100)

    await create(client, other_citizen)
    assert await log() == []
    filed = await create(client, partner, on_behalf_of=me["id"], holder_name="夜市 A-12 摊位")
    [entry] = await log()
    assert (entry["reader_kind"], entry["reader_name"], entry["client_id"]) == ("partner", None, "demo-partner")
    assert (entry["object_type"], entry["object_id"], entry["purpose"]) == (
        "permit_application",
        filed["id"],
        f"application {filed['reference']}",
    )
    edited = await client.patch(
        f"{APPLICATIONS}/{filed['id']}",
        json={"holder_name": "夜市 A-13 摊位"},
        headers={**partner, "If-Match": f'"{filed["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    assert [(e["object_id"], e["client_id"]) for e in (await log())[:1]] == [(filed["id"], "demo-partner")]
    assert len(await log()) == 2

    issued = await _issue(client, app, worker, partner, officer, supervisor, filed)
    before = len(await log())
    body = {"service_code": SERVICE, "renews": issued["permit_number"], "on_behalf_of": me["id"]}
    renewal = await client.post(APPLICATIONS, json=body, headers=partner)
    assert renewal.status_code == 201, renewal.text
    assert renewal.json()["holder_name"] == "夜市 A-13 摊位"  # the renewed permit's, shown to the partner
    after = await log()
    assert len(after) == before + 1
    assert (after[0]["reader_kind"], after[0]["client_id"], after[0]["object_id"], after[0]["purpose"]) == (
        "partner",
        "demo-partner",
        renewal.json()["id"],
        f"application {renewal.json()['reference']}",
    )


async def test_a_renewal_is_not_sent_once_its_permit_expired(
    app, client, db, street_vendor, citizen, officer, supervisor, worker
) -> None:
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]
    draft = await create(client, citizen, renews=number)
    assert (await upload(client, citizen, draft["id"])).status_code == 200
    await _expire(db, number)
    refused = assert_problem(await act(client, citizen, draft["id"], "submit"), 409, "action-refused")
    assert [e["field"] for e in refused["errors"]] == ["renews"]


async def test_a_renewal_goes_on_only_while_its_permit_is_in_force(
    app, client, street_vendor, citizen, officer, supervisor, worker
) -> None:
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]
    draft = await create(client, citizen, renews=number)
    assert (await upload(client, citizen, draft["id"])).status_code == 200
    mine = (await client.get("/api/v1/me/credentials", headers=citizen, params={"limit": 100})).json()["items"]
    [credential] = [c for c in mine if c["number"] == number]
    actions = f"/api/v1/credentials/{credential['id']}/actions"
    suspended = await client.post(
        f"{actions}/suspend",
        json={"reason": "检查中"},
        headers={**supervisor, "If-Match": f'"{credential["version"]}"'},
    )
    assert suspended.status_code == 200, suspended.text

    # A suspended permit is not extended by sending its renewal.
    refused = assert_problem(await act(client, citizen, draft["id"], "submit"), 409, "action-refused")
    assert [e["field"] for e in refused["errors"]] == ["renews"]
    assert (await fetch(client, citizen, draft["id"])).json()["status"] == "draft"
    reinstated = await client.post(
        f"{actions}/reinstate", headers={**supervisor, "If-Match": suspended.headers["etag"]}
    )
    assert reinstated.status_code == 200, reinstated.text
    assert (await act(client, citizen, draft["id"], "submit")).json()["status"] == "submitted"


async def test_a_renewal_carries_only_what_the_services_current_form_asks(
    app, client, street_vendor, citizen, officer, supervisor, worker
) -> None:
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]
    # The department publishes version 2 of the service, whose form no longer asks for the location and allows
    # stalls of at most 5 m² (the permit's answer was 6).
    editor = bearer(await token_for(app, "editor.market", "catalogue:write"))
    publisher = bearer(await token_for(app, "publisher", "catalogue:publish"))
    versions = f"/api/v1/catalogue/services/{SERVICE}/versions"
    drafted = await client.post(versions, headers=editor)
    assert drafted.status_code == 201, drafted.text
    content = {key: value for key, value in STREET_VENDOR.items() if key != "code"}
    content["form"] = [field for field in STREET_VENDOR["form"] if field["code"] != "location"]
    area = next(field for field in content["form"] if field["code"] == "area_m2")
    content["form"] = [
        {**area, "validation": {"min": 1, "max": 5}} if field is area else field for field in content["form"]
    ]
    replaced = await client.put(f"{versions}/2", json=content, headers={**editor, "If-Match": drafted.headers["etag"]})
    assert replaced.status_code == 200, replaced.text
    published = await client.post(
        f"{versions}/2/actions/publish", headers={**publisher, "If-Match": replaced.headers["etag"]}
    )
    assert published.status_code == 200, published.text

    created = await client.post(APPLICATIONS, json={"service_code": SERVICE, "renews": number}, headers=citizen)
    assert created.status_code == 201, created.text
    renewal = created.json()
    assert renewal["service"]["version"] == 2
    # What the form still asks and accepts is carried; the area is left to be given again, not refused as an error
    # in a field the applicant did not send.
    assert renewal["form"] == {"stall_type": FORM["stall_type"]}
    assert (await upload(client, citizen, renewal["id"])).status_code == 200
    missing = assert_problem(await act(client, citizen, renewal["id"], "submit"), 422)
    assert [error["field"] for error in missing["errors"]] == ["form.area_m2"]
    given = await client.patch(
        f"{APPLICATIONS}/{renewal['id']}",
        json={"form": {"stall_type": "food", "area_m2": 4}},
        # (the upload moved the version: a document's change is the application's)
        headers={**citizen, "If-Match": (await fetch(client, citizen, renewal["id"])).headers["etag"]},
    )
    assert given.status_code == 200, given.text


# -- art. 50: the department decides a renewal before the permit expires, or the law grants it ------------------------

VALIDITY = timedelta(days=round(30.4375 * 60))  # the street vendor permit's: the default 60 months


async def _expire(db, number: str, *, ago: timedelta = timedelta(minutes=1)) -> datetime:
    """The permit's validity ended `ago`; when it ended."""
    return await _ends(db, number, utcnow() - ago)


async def _ends(db, number: str, when: datetime) -> datetime:
    async with db.transaction() as session:
        await session.execute(update(Credential).where(Credential.number == number).values(valid_until=when))
    return when


async def _set(db, application_id: str, **values) -> None:
    async with db.transaction() as session:
        statement = update(PermitApplication).where(PermitApplication.id == uuid.UUID(application_id))
        await session.execute(statement.values(**values))


async def _credential(db, number: str) -> Credential:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Credential).where(Credential.number == number))).scalar_one()


async def _submitted_renewal(client, worker, citizen, officer, number: str, **body) -> dict:
    draft = await create(client, citizen, renews=number, **body)
    assert (await upload(client, citizen, draft["id"])).status_code == 200
    assert (await act(client, citizen, draft["id"], "submit")).status_code == 200
    await worker.drain()
    assert (await act(client, officer, draft["id"], "claim")).json()["status"] == "under_review"
    return draft


async def _after_the_job(app, client, worker, citizen, application_id: str) -> str:
    """The renewal's status once the worker's art. 50 job has run and its events are handled."""
    await tasks.deemed_renewals(app.state)
    await worker.drain()
    return (await fetch(client, citizen, application_id)).json()["status"]


async def test_the_law_grants_a_renewal_sent_in_time_that_the_department_left_undecided(
    app, client, db, street_vendor, citizen, officer, supervisor, worker
) -> None:
    first = await create(client, citizen)
    number = (await _issue(client, app, worker, citizen, officer, supervisor, first, conditions=["仅限夜间营业"]))[
        "permit_number"
    ]
    renewal = await _submitted_renewal(client, worker, citizen, officer, number)
    await _set(db, renewal["id"], submitted_at=utcnow() - timedelta(days=40))

    async def status() -> str:
        return await _after_the_job(app, client, worker, citizen, renewal["id"])

    # Still in force: the department has time (and a step the job would take on it now does nothing, raises nothing:
    # how a renewal listed by the job and changed since is passed over while the rest of the run goes on).
    assert await status() == "under_review"
    async with db.transaction() as session:
        await tasks.grant_by_law(session, app.state, uuid.UUID(renewal["id"]))
    assert (await fetch(client, citizen, renewal["id"])).json()["status"] == "under_review"
    ended = await _expire(db, number)
    # Sent 29 days before the expiry: too late for the law's grant; the department still decides.
    await _set(db, renewal["id"], submitted_at=ended - timedelta(days=29))
    assert await status() == "under_review"
    await _set(db, renewal["id"], submitted_at=ended - timedelta(days=31))
    # Waiting for the applicant's answer to a request made the day before the expiry: the delay is the applicant's.
    asked = await act(client, officer, renewal["id"], "request_info", reason="请补充照片", due_in_days=3)
    assert asked.json()["status"] == "awaiting_applicant"
    await _set(db, renewal["id"], paused_at=ended - timedelta(days=1))
    assert await status() == "awaiting_applicant"
    # Answered after the expiry: the department gets back the day the applicant held the file, to review the answer.
    assert (await act(client, citizen, renewal["id"], "answer", reason="已补充")).status_code == 200
    assert await status() == "under_review"
    # That day gone too, the law grants the renewal, and the permit is issued on the old one's terms.
    ended = await _expire(db, number, ago=timedelta(days=2))
    await _set(db, renewal["id"], submitted_at=ended - timedelta(days=31))
    assert await status() == "issued"
    granted = (await fetch(client, citizen, renewal["id"])).json()
    history = (await client.get(f"{APPLICATIONS}/{renewal['id']}/history", headers=citizen)).json()["items"]
    [deemed] = [entry for entry in history if entry["action"] == "deem_granted"]
    assert (deemed["from_status"], deemed["to_status"], deemed["actor_role"]) == ("under_review", "approved", "system")
    assert deemed["reason"] == DEEMED_GRANTED.format(number=number)
    assert CATALOGUE["permits.application.deemed_granted"].partner_visible

    new = await _credential(db, granted["permit_number"])
    # It continues the old permit from its end (no gap), for a full validity from the grant.
    assert aware(new.valid_from) == ended.replace(microsecond=0)
    assert utcnow() - timedelta(minutes=1) < aware(new.valid_until) - VALIDITY <= utcnow()
    assert [text["zh-CN"] for text in new.conditions] == ["仅限夜间营业"]
    assert (await _verified(client, granted["permit_number"], citizen))["status"] == "active"
    old = await _verified(client, number, citizen)
    assert (old["status"], old["replaced_by"]) == ("revoked", granted["permit_number"])


async def test_the_law_grants_no_change_nothing_suspended_and_nothing_unpaid(
    app, client, db, street_vendor, citizen, officer, supervisor, worker
) -> None:
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]

    # A renewal that changes the permit (a larger stall) is an application for a change: the department decides.
    changed = await _submitted_renewal(client, worker, citizen, officer, number, form={**FORM, "area_m2": 12})
    holder = changed["holder_name"]
    ended = await _expire(db, number)
    await _set(db, changed["id"], submitted_at=ended - timedelta(days=31))
    assert await _after_the_job(app, client, worker, citizen, changed["id"]) == "under_review"
    # Nor one for another holder, nor one without an answer the permit had.
    await _set(db, changed["id"], form=FORM, holder_name="夜市 B-7 摊位")
    assert await _after_the_job(app, client, worker, citizen, changed["id"]) == "under_review"
    await _set(db, changed["id"], form={k: v for k, v in FORM.items() if k != "location"}, holder_name=holder)
    assert await _after_the_job(app, client, worker, citizen, changed["id"]) == "under_review"
    assert (await act(client, citizen, changed["id"], "withdraw")).status_code == 200

    # A permit suspended is not extended by the law either; reinstated, it is.
    await _ends(db, number, utcnow() + timedelta(days=10))
    renewal = await _submitted_renewal(client, worker, citizen, officer, number)
    ended = await _expire(db, number)
    await _set(db, renewal["id"], submitted_at=ended - timedelta(days=31))
    credential = await _credential(db, number)
    actions = f"/api/v1/credentials/{credential.id}/actions"
    suspended = await client.post(
        f"{actions}/suspend", json={"reason": "检查中"}, headers={**supervisor, "If-Match": f'"{credential.version}"'}
    )
    assert suspended.status_code == 200, suspended.text
    assert await _after_the_job(app, client, worker, citizen, renewal["id"]) == "under_review"
    reinstated = await client.post(
        f"{actions}/reinstate", headers={**supervisor, "If-Match": suspended.headers["etag"]}
    )
    assert reinstated.status_code == 200, reinstated.text

    # Passed, its fees unpaid: the applicant's turn. Paid after the expiry: the department decides (it had no time).
    await _pass(client, officer, renewal["id"])
    assert await _after_the_job(app, client, worker, citizen, renewal["id"]) == "pending_payment"
    await _pay(client, app, worker, citizen, renewal["id"])
    assert await _after_the_job(app, client, worker, citizen, renewal["id"]) == "pending_payment"
    # Paid the day before the expiry: the approval was the department's to give in time.
    await _set(db, renewal["id"], paid_at=ended - timedelta(days=1))
    assert await _after_the_job(app, client, worker, citizen, renewal["id"]) == "issued"
    history = (await client.get(f"{APPLICATIONS}/{renewal['id']}/history", headers=citizen)).json()["items"]
    assert [entry["action"] for entry in history][-2:] == ["deem_granted", "issue"]


async def test_a_renewal_is_approved_after_its_permit_expired_only_if_sent_in_time_and_lifts_no_suspension(
    app, client, db, street_vendor, citizen, officer, supervisor, worker
) -> None:
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]
    renewal = await _submitted_renewal(client, worker, citizen, officer, number)
    await _pass(client, officer, renewal["id"])
    await _pay(client, app, worker, citizen, renewal["id"])

    # Suspended meanwhile: not approved (a suspension is not got round by renewing).
    credential = await _credential(db, number)
    actions = f"/api/v1/credentials/{credential.id}/actions"
    suspended = await client.post(
        f"{actions}/suspend", json={"reason": "检查中"}, headers={**supervisor, "If-Match": f'"{credential.version}"'}
    )
    assert suspended.status_code == 200, suspended.text
    refused = assert_problem(await act(client, supervisor, renewal["id"], "approve"), 409, "action-refused")
    assert [e["field"] for e in refused["errors"]] == ["renews"]
    reinstated = await client.post(
        f"{actions}/reinstate", headers={**supervisor, "If-Match": suspended.headers["etag"]}
    )
    assert reinstated.status_code == 200, reinstated.text

    # Expired under review, the renewal sent less than 30 days before: the permit is done with (art. 70).
    ended = await _expire(db, number, ago=VALIDITY + timedelta(days=2))
    assert_problem(await act(client, supervisor, renewal["id"], "approve"), 409, "action-refused")
    # Sent in time: the department's decision was late (by more than a whole validity, even), and it still renews
    # the permit: valid from the old end (no gap), for a full validity from the decision.
    await _set(db, renewal["id"], submitted_at=ended - timedelta(days=31))
    assert (await act(client, supervisor, renewal["id"], "approve")).status_code == 200
    # Suspended between the approval and the issue: the suspension passes to the new permit, not lost with the old.
    credential = await _credential(db, number)
    suspended = await client.post(
        f"{actions}/suspend",
        json={"reason": "抽检不合格"},
        headers={**supervisor, "If-Match": f'"{credential.version}"'},
    )
    assert suspended.status_code == 200, suspended.text
    await worker.drain()
    issued = (await fetch(client, citizen, renewal["id"])).json()
    assert issued["status"] == "issued"
    new = await _credential(db, issued["permit_number"])
    assert aware(new.valid_from) == ended.replace(microsecond=0)
    assert aware(new.valid_until) - VALIDITY > utcnow() - timedelta(minutes=1)
    assert (new.status, new.status_reason) == ("suspended", f"抽检不合格 ({number}, which it renews, was suspended)")
    assert (await _verified(client, issued["permit_number"], citizen))["status"] == "suspended"
    old = await _credential(db, number)
    assert (old.status, old.status_reason) == ("revoked", f"replaced by {issued['permit_number']}")


async def test_a_renewed_permit_runs_on_from_the_end_of_the_one_it_replaces_but_validity_does_not_pile_up(
    app, client, db, street_vendor, citizen, officer, supervisor, worker
) -> None:
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]
    # Renewed when reminded (10 days left): the new permit starts at its issue and ends a full validity after the
    # old one would have. No day is lost.
    ends = await _ends(db, number, utcnow() + timedelta(days=10))
    renewed = await _issue(
        client, app, worker, citizen, officer, supervisor, await create(client, citizen, renews=number)
    )
    new = await _credential(db, renewed["permit_number"])
    assert aware(new.valid_from) <= utcnow() < ends
    assert aware(new.valid_until) == (ends + VALIDITY).replace(microsecond=0)

    # Renewed again at once, five years early: it keeps at most the 60 days of a reminder, not the five years.
    before = utcnow()
    again = await _issue(
        client, app, worker, citizen, officer, supervisor, await create(client, citizen, renews=new.number)
    )
    newest = await _credential(db, again["permit_number"])
    earliest = (before + timedelta(days=60) + VALIDITY).replace(microsecond=0)
    assert earliest <= aware(newest.valid_until) <= utcnow() + timedelta(days=60) + VALIDITY


async def test_a_renewals_deadline_is_its_permits_expiry_when_that_comes_first(
    app, client, db, street_vendor, citizen, officer, supervisor, worker
) -> None:
    """The department decides a renewal before the permit expires (art. 50): the clock's deadline, which the queue
    orders by and the escalation watches, is no later than that, also when the calendar is counted again."""
    number = (await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen)))[
        "permit_number"
    ]
    ends = await _ends(db, number, utcnow() + timedelta(days=2))
    renewal = await _submitted_renewal(client, worker, citizen, officer, number)
    shown = (await fetch(client, citizen, renewal["id"])).json()
    submitted = datetime.fromisoformat(shown["submitted_at"])
    assert sla.deadline(submitted, "P5D", working_days=True, calendar=PUBLISHED) > ends  # the service's own time
    assert abs(datetime.fromisoformat(shown["sla"]["due_at"]) - ends) < timedelta(seconds=1)

    admin = bearer(await token_for(app, "admin", "admin"))
    await declare_day_off(client, admin, submitted)
    await worker.drain()
    recounted = (await fetch(client, citizen, renewal["id"])).json()
    assert abs(datetime.fromisoformat(recounted["sla"]["due_at"]) - ends) < timedelta(seconds=1)
    # An ordinary application's deadline is the service's time.
    ordinary = await create(client, citizen)
    assert (await upload(client, citizen, ordinary["id"])).status_code == 200
    sent = (await act(client, citizen, ordinary["id"], "submit")).json()
    assert datetime.fromisoformat(sent["sla"]["due_at"]) > ends


def test_the_months_asked_for_count_when_the_form_keeps_them_sealed() -> None:
    """A validity field an editor marked personal is sealed with the rest; the permit still runs for the months it
    asks (it got the default 60)."""
    from core.crypto import FieldCipher
    from services.permits.service import full_form, store_form
    from services.permits.tasks import _validity

    cipher = FieldCipher(b"k" * 32, b"h" * 32)
    row = PermitApplication(id=uuid.uuid4(), form={})
    content = {"form": [{"code": "requested_months", "datatype": "number", "personal": True}]}
    store_form(cipher, row, {"requested_months": 12}, content)
    assert (row.form, row.form_sealed is not None) == ({}, True)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    assert _validity(full_form(cipher, row), None, now) == (now, now + timedelta(days=round(30.4375 * 12)))
