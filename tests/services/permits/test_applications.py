"""Drafts, form validation, fees, idempotent creation, dry runs, concurrent decisions, partners, withdrawal refunds."""

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from auth.guards import Principal
from auth.models import Account
from core.audit import AuditEvent, chain_pending, verify
from core.events import OutboxEvent
from core.http.middleware import NOT_JSON_NUMBER
from services.permits import service
from services.permits.models import PermitApplication, PermitHistory
from services.permits.schemas import ApplicationCreate
from tests.helpers import all_pages, assert_problem
from tests.services.permits.conftest import APPLICATIONS, FORM, act, create, fetch, partner_hears, upload


async def _count(db, model) -> int:
    """Rows of the test's own service (the demo seed has applications of its own)."""
    async with db.transaction(write=False) as session:
        statement = select(func.count()).select_from(model).where(model.service_code == "street-vendor-permit")
        return (await session.execute(statement)).scalar_one()


async def test_a_retried_create_with_the_same_key_makes_one_application(client, db, street_vendor, citizen) -> None:
    body = {"service_code": street_vendor, "form": FORM}
    headers = {**citizen, "Idempotency-Key": "apply-once-1"}
    first = await client.post(APPLICATIONS, json=body, headers=headers)
    again = await client.post(APPLICATIONS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count(db, PermitApplication) == 1
    # A replay is the first answer, in its language, and says so, whatever the retry's Accept-Language.
    replayed = await client.post(APPLICATIONS, json=body, headers={**headers, "Accept-Language": "en"})
    assert replayed.json() == first.json()
    assert (replayed.json()["service"]["title"], replayed.headers["content-language"]) == ("流动摊贩经营许可", "zh-CN")
    assert replayed.headers["vary"] == "Accept-Language"
    other_body = await client.post(APPLICATIONS, json={**body, "holder_name": "别人"}, headers=headers)
    assert_problem(other_body, 422)
    assert await _count(db, PermitApplication) == 1


async def test_a_new_draft_writes_its_rows_and_stays_in_the_session(app, db, street_vendor) -> None:
    """The draft, its history row, its outbox event and its audit entry are written together (on PostgreSQL in one
    statement, not through the unit of work); the object returned is in the session like a loaded one."""
    identity = app.state.identity
    async with db.transaction() as session:
        phone_hash = identity.cipher.lookup_hash("13800000001", context="phone")
        account = (await session.execute(select(Account).where(Account.phone_hash == phone_hash))).scalar_one()
        principal = Principal(
            subject=str(account.id),
            client_id="demo-web",
            scopes=frozenset({"permits:apply"}),
            roles=frozenset({"citizen"}),
            department=None,
            token_id="test",
            session_id=None,
        )
        data = ApplicationCreate(service_code=street_vendor, form=FORM)
        row = await service.create_application(session=session, identity=identity, principal=principal, data=data)
        assert row in session
        assert row.version == 1
        assert row.fee_total == 5000
        row.holder_name = "夜市小吃"  # an ordinary versioned update of the row just written
        await session.flush()
        assert row.version == 2
    async with db.transaction() as session:
        stored = await session.get(PermitApplication, row.id)
        assert (stored.reference, stored.holder_name, stored.version, stored.status) == (
            row.reference,
            "夜市小吃",
            2,
            "draft",
        )
        assert stored.created_at == row.created_at
        assert stored.fees == row.fees
        history = (await session.execute(select(PermitHistory).where(PermitHistory.application_id == row.id))).all()
        assert [(h.action, h.from_status, h.to_status, h.actor_role) for (h,) in history] == [
            ("create", "new", "draft", "applicant")
        ]
        subject = f"permit_application:{row.id}"
        event = (await session.execute(select(OutboxEvent).where(OutboxEvent.subject == subject))).scalar_one()
        assert (event.name, event.status, event.payload["reference"]) == (
            "permits.application.created",
            "pending",
            row.reference,
        )
        entry = (await session.execute(select(AuditEvent).where(AuditEvent.object_id == str(row.id)))).scalar_one()
        assert entry.action == "permits.application.created"
        assert entry.detail["reference"] == row.reference
        await chain_pending(session)
    async with db.transaction() as session:
        assert (await verify(session)).ok


async def test_the_form_is_checked_field_by_field_against_the_pinned_version(client, db, street_vendor, citizen):
    response = await client.post(
        APPLICATIONS,
        json={
            "service_code": street_vendor,
            "form": {"stall_type": "weapons", "area_m2": 50, "colour": "red", "location": 7},
        },
        headers=citizen,
    )
    body = assert_problem(response, 422, "form-invalid")
    assert {e["field"]: e["code"] for e in body["errors"]} == {
        "form.colour": "unknown",
        "form.stall_type": "invalid",
        "form.area_m2": "invalid",
        "form.location": "invalid",
    }
    assert await _count(db, PermitApplication) == 0
    # a partial draft is fine; submitting it is not
    draft = await create(client, citizen, form={"stall_type": "goods"})
    await upload(client, citizen, draft["id"])
    refused = assert_problem(await act(client, citizen, draft["id"], "submit"), 422, "form-invalid")
    assert sorted(e["field"] for e in refused["errors"]) == ["form.area_m2", "form.location"]


@pytest.mark.parametrize(
    ("code", "body"),
    [("no-such-service", "service-not-applicable"), ("talent-housing-subsidy", "service-not-applicable")],
)
async def test_only_published_permit_services_take_applications(client, citizen, code, body) -> None:
    response = await client.post(APPLICATIONS, json={"service_code": code, "form": {}}, headers=citizen)
    assert_problem(response, 422, body)


async def test_fees_follow_the_costs_that_apply_to_the_form(client, street_vendor, citizen) -> None:
    small = await create(client, citizen)
    assert [(f["code"], f["due"]) for f in small["fees"]] == [("licence_fee", 5000)]
    etag = (await fetch(client, citizen, small["id"])).headers["etag"]
    bigger = await client.patch(
        f"{APPLICATIONS}/{small['id']}",
        json={"form": {**FORM, "area_m2": 12}},
        headers={**citizen, "If-Match": etag},
    )
    assert bigger.status_code == 200, bigger.text
    assert [(f["code"], f["due"]) for f in bigger.json()["fees"]] == [("licence_fee", 5000), ("large_stall_fee", 2000)]
    assert bigger.json()["fee_total"] == 7000
    stale = await client.patch(
        f"{APPLICATIONS}/{small['id']}", json={"holder_name": "x"}, headers={**citizen, "If-Match": etag}
    )
    assert_problem(stale, 412)


@pytest.mark.parametrize(
    ("months", "fee"), [(6, "fee_under_1_year"), (12, "fee_1_to_3_years"), (48, "fee_3_to_5_years")]
)
async def test_the_residence_permit_charges_by_requested_validity(client, citizen, months, fee) -> None:
    response = await client.post(
        APPLICATIONS, json={"service_code": "residence-permit", "form": {"requested_months": months}}, headers=citizen
    )
    assert response.status_code == 201, response.text
    assert [line["code"] for line in response.json()["fees"]] == [fee]


async def test_a_dry_run_answers_and_changes_nothing(client, db, street_vendor, citizen) -> None:
    draft = await create(client, citizen)
    await upload(client, citizen, draft["id"])
    before = await fetch(client, citizen, draft["id"])
    preview = await client.post(
        f"{APPLICATIONS}/{draft['id']}/actions/submit",
        params={"dry_run": "true"},
        headers={**citizen, "If-Match": before.headers["etag"]},
    )
    assert preview.status_code == 200, preview.text
    assert preview.headers["preference-applied"] == "dry-run"
    assert preview.json()["status"] == "submitted"
    assert preview.json()["sla"]["due_at"] is not None
    after = await fetch(client, citizen, draft["id"])
    assert after.json()["status"] == "draft"
    assert after.headers["etag"] == before.headers["etag"]
    assert [
        h["action"]
        for h in (await client.get(f"{APPLICATIONS}/{draft['id']}/history", headers=citizen)).json()["items"]
    ] == ["create"]


async def _pending_payment(client, worker, citizen, officer, *, form=None) -> str:
    draft = await create(client, citizen, **({"form": form} if form else {}))
    document = await upload(client, citizen, draft["id"])
    assert (await act(client, citizen, draft["id"], "submit")).status_code == 200
    await worker.drain()
    assert (await act(client, officer, draft["id"], "claim")).status_code == 200
    await client.post(
        f"{APPLICATIONS}/{draft['id']}/documents/{document.json()['id']}/review",
        json={"decision": "accepted"},
        headers=officer,
    )
    passed = await act(client, officer, draft["id"], "pass")
    assert passed.status_code == 200, passed.text
    return draft["id"]


async def test_two_approvals_at_once_one_wins(app, client, db, street_vendor, citizen, officer, worker):
    from tests.oauth import bearer, token_for

    app_id = await _pending_payment(client, worker, citizen, officer)
    supervisor = bearer(await token_for(app, "supervisor.market", "permits:process"))
    async with db.transaction() as session:  # a waived fee, so approval is possible
        row = await session.get(PermitApplication, uuid.UUID(app_id))
        row.fee_total = 0
        session.add(row)
    etag = (await fetch(client, supervisor, app_id)).headers["etag"]
    first, second = await asyncio.gather(
        act(client, supervisor, app_id, "approve", etag=etag), act(client, supervisor, app_id, "approve", etag=etag)
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses[0] == 200, (first.text, second.text)
    assert statuses[1] in (409, 412), (first.text, second.text)
    assert (await fetch(client, supervisor, app_id)).json()["status"] == "approved"
    async with db.transaction(write=False) as session:
        decisions = (
            await session.execute(select(func.count()).where(PermitHistory.action.in_(("approve", "reject"))))
        ).scalar_one()
    assert decisions == 1


async def test_a_partner_applies_for_a_citizen_and_only_sees_its_own(
    app, client, street_vendor, partner, other_citizen
):
    me = (await client.get("/api/v1/me", headers=other_citizen)).json()
    created = await client.post(
        APPLICATIONS,
        json={"service_code": street_vendor, "form": FORM, "on_behalf_of": me["id"]},
        headers=partner,
    )
    body = assert_problem(created, 422)  # a partner names the holder: it does not learn the citizen's name from us
    assert [e["field"] for e in body["errors"]] == ["holder_name"]
    created = await client.post(
        APPLICATIONS,
        json={"service_code": street_vendor, "form": FORM, "on_behalf_of": me["id"], "holder_name": "夜市 A-12 摊位"},
        headers=partner,
    )
    assert created.status_code == 201, created.text
    assert created.json()["submitted_by_client"] == "demo-partner"
    assert [i["id"] for i in (await client.get(APPLICATIONS, headers=other_citizen)).json()["items"]] == [
        created.json()["id"]
    ]
    assert [i["id"] for i in (await client.get(APPLICATIONS, headers=partner)).json()["items"]] == [
        created.json()["id"]
    ]
    missing = await client.post(APPLICATIONS, json={"service_code": street_vendor, "form": FORM}, headers=partner)
    assert_problem(missing, 422)
    person = await client.post(
        APPLICATIONS,
        json={"service_code": street_vendor, "form": FORM, "on_behalf_of": me["id"]},
        headers=other_citizen,
    )
    assert_problem(person, 422)


async def test_withdrawing_after_payment_refunds(app, client, db, street_vendor, citizen, officer, worker) -> None:
    app_id = await _pending_payment(client, worker, citizen, officer)
    order = await client.post(f"{APPLICATIONS}/{app_id}/payment", headers=citizen)
    assert order.status_code == 201, order.text
    again = await client.post(f"{APPLICATIONS}/{app_id}/payment", headers=citizen)
    assert again.json()["payment_id"] == order.json()["payment_id"]  # the open order, not a second one
    await client.post(order.json()["pay_url"], data={"card": "4111111111111111"})
    await app.state.cloud.mock.idle()
    await worker.drain()
    assert_problem(await client.post(f"{APPLICATIONS}/{app_id}/payment", headers=citizen), 409, "payment-not-due")
    withdrawn = await act(client, citizen, app_id, "withdraw")
    assert withdrawn.json()["status"] == "withdrawn"
    await worker.drain()  # the refund request
    await app.state.cloud.mock.idle()  # the cloud's refund notification
    await worker.drain()
    final = (await fetch(client, citizen, app_id)).json()
    assert final["paid_at"]
    assert final["refunded_at"]
    assert (await client.get(f"{APPLICATIONS}/{app_id}/payment", headers=citizen)).json()["status"] == "refunded"


async def test_fees_are_paid_through_one_order(app, client, db, street_vendor, citizen, officer, worker) -> None:
    """Orders asked for at once are one order; paid at the cloud, the fees are not asked for again before the
    payment is recorded; an order paid besides (an old one, paid late) goes back and the fees stay paid."""
    from services.cloud import service as cloud_service
    from services.permits.service import purpose_of

    app_id = await _pending_payment(client, worker, citizen, officer)
    payment = f"{APPLICATIONS}/{app_id}/payment"
    orders = await asyncio.gather(*(client.post(payment, headers=citizen) for _ in range(3)))
    assert [order.status_code for order in orders] == [201, 201, 201]
    assert len({order.json()["payment_id"] for order in orders}) == 1
    await client.post(orders[0].json()["pay_url"], data={"card": "4111111111111111"})
    await app.state.cloud.mock.idle()  # the cloud's notification is in; the worker has not recorded it yet
    assert (await fetch(client, citizen, app_id)).json()["paid_at"] is None
    assert_problem(await client.post(payment, headers=citizen), 409, "payment-not-due")

    async with db.transaction() as session:
        stray = await cloud_service.create_payment(
            session=session,
            payments=app.state.cloud.cloud.payments,
            purpose=purpose_of(uuid.UUID(app_id)),
            amount=5000,
            description="an order opened before",
        )
        stray_id, stray_url = stray.id, stray.pay_url
    await client.post(stray_url, data={"card": "4111111111111111"})
    for _ in range(2):  # the payments recorded, the stray one refunded, its refund recorded
        await app.state.cloud.mock.idle()
        await worker.drain()
    final = (await fetch(client, citizen, app_id)).json()
    assert (bool(final["paid_at"]), final["refunded_at"]) == (True, None)
    async with db.transaction(write=False) as session:
        statuses = {
            order.id: order.status
            for order in await cloud_service.payments_for(session=session, purpose=purpose_of(uuid.UUID(app_id)))
        }
    assert statuses == {uuid.UUID(orders[0].json()["payment_id"]): "paid", stray_id: "refunded"}


async def test_an_applications_events_reach_only_the_partner_that_filed_it(
    app, client, street_vendor, partner, citizen, other_citizen, worker
) -> None:
    async with partner_hears(app, client, ["permits.application.submitted"]) as receiver:
        me = (await client.get("/api/v1/me", headers=other_citizen)).json()
        filed = await create(client, partner, on_behalf_of=me["id"], holder_name="夜市 A-12 摊位")
        await upload(client, partner, filed["id"])
        assert (await act(client, partner, filed["id"], "submit")).status_code == 200
        own = await create(client, citizen)
        await upload(client, citizen, own["id"])
        assert (await act(client, citizen, own["id"], "submit")).status_code == 200
        await worker.drain()
        assert [r["body"]["data"]["reference"] for r in receiver.requests] == [filed["reference"]]
        assert receiver.requests[0]["valid"] is True


async def test_reassignment_proposal_and_rejection(app, client, street_vendor, citizen, officer, supervisor, worker):
    from tests.oauth import bearer, token_for

    draft = await create(client, citizen)
    await upload(client, citizen, draft["id"])
    await act(client, citizen, draft["id"], "submit")
    await worker.drain()
    await act(client, officer, draft["id"], "claim")
    boss = (await client.get("/api/v1/me", headers=bearer(await token_for(app, "supervisor.market", "profile")))).json()
    housing = (
        await client.get("/api/v1/me", headers=bearer(await token_for(app, "officer.housing", "profile")))
    ).json()
    assert_problem(await act(client, supervisor, draft["id"], "reassign"), 422)
    assert_problem(await act(client, supervisor, draft["id"], "reassign", assignee_id=housing["id"]), 422)
    moved = await act(client, supervisor, draft["id"], "reassign", assignee_id=boss["id"])
    assert (moved.json()["status"], moved.json()["assignee_id"]) == ("under_review", boss["id"])
    # the officer no longer holds it: the review steps are not theirs now
    assert "propose_rejection" not in (await fetch(client, officer, draft["id"])).json()["allowed_actions"]
    assert_problem(await act(client, officer, draft["id"], "propose_rejection", reason="x"), 403)
    assert_problem(await act(client, supervisor, draft["id"], "propose_rejection"), 422)  # a reason is required
    proposed = await act(client, supervisor, draft["id"], "propose_rejection", reason="经营地点不在许可区域内")
    assert (proposed.json()["status"], proposed.json()["rejection_proposed"]) == ("under_review", True)
    rejected = await act(client, supervisor, draft["id"], "reject", reason="经营地点不在许可区域内")
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decided_at"]
    assert rejected.json()["allowed_actions"] == []
    assert_problem(await act(client, citizen, draft["id"], "withdraw"), 409, "transition-not-allowed")
    await worker.drain()
    history = (await client.get(f"{APPLICATIONS}/{draft['id']}/history", headers=citizen)).json()["items"]
    assert [(h["action"], h["actor_role"]) for h in history[-3:]] == [
        ("reassign", "supervisor"),
        ("propose_rejection", "supervisor"),
        ("reject", "supervisor"),
    ]
    inbox = (await client.get("/api/v1/me/notifications", headers=citizen)).json()["items"]
    assert any("未予批准" in n["body"] for n in inbox)


async def test_the_permit_is_for_the_business_the_form_names(client, db, citizen) -> None:
    response = await client.post(
        APPLICATIONS,
        json={"service_code": "business-licence", "form": {"proposed_name": "江门人才岛示例科技有限公司"}},
        headers=citizen,
    )
    assert response.status_code == 201, response.text
    assert response.json()["holder_name"] == "江门人才岛示例科技有限公司"

    async def holder() -> tuple[str, bool]:
        async with db.transaction(write=False) as session:
            row = await session.get(PermitApplication, uuid.UUID(response.json()["id"]))
            return row.holder_name, row.holder_public

    async def edit(**body) -> None:
        current = await fetch(client, citizen, response.json()["id"])
        edited = await client.patch(
            f"{APPLICATIONS}/{response.json()['id']}",
            json=body,
            headers={**citizen, "If-Match": current.headers["etag"]},
        )
        assert edited.status_code == 200, edited.text

    # The business renamed in the form: the holder follows, still a business shown on the public register.
    await edit(form={"proposed_name": "江门人才岛新名科技有限公司"})
    assert await holder() == ("江门人才岛新名科技有限公司", True)
    # A holder named outright may be a person: masked on the register, like one named when the draft is created.
    await edit(holder_name="陈明")
    assert await holder() == ("陈明", False)
    own_name = await client.post(APPLICATIONS, json={"service_code": "business-licence", "form": {}}, headers=citizen)
    assert own_name.json()["holder_name"] == "陈明 Chen Ming"


@pytest.mark.parametrize(
    ("service_code", "public"),
    [("temporary-road-occupation", False), ("outdoor-advertising", True)],  # citizens may apply / businesses only
)
async def test_an_applicant_named_in_the_form_is_public_only_where_only_businesses_apply(
    client, db, citizen, service_code, public
) -> None:
    created = await client.post(
        APPLICATIONS, json={"service_code": service_code, "form": {"applicant_name": "陈明"}}, headers=citizen
    )
    assert created.status_code == 201, created.text
    async with db.transaction(write=False) as session:
        row = await session.get(PermitApplication, uuid.UUID(created.json()["id"]))
    assert (row.holder_name, row.holder_public) == ("陈明", public)
    # Renamed in the form, it follows, and stays as public as before.
    current = await fetch(client, citizen, created.json()["id"])
    edited = await client.patch(
        f"{APPLICATIONS}/{created.json()['id']}",
        json={"form": {"applicant_name": "陈明明"}},
        headers={**citizen, "If-Match": current.headers["etag"]},
    )
    assert edited.status_code == 200, edited.text
    async with db.transaction(write=False) as session:
        row = await session.get(PermitApplication, uuid.UUID(created.json()["id"]))
    assert (row.holder_name, row.holder_public) == ("陈明明", public)


async def test_bad_numbers_and_ids_are_422_not_500(client, street_vendor, citizen, officer) -> None:
    nan = await client.post(
        APPLICATIONS,
        content=b'{"service_code": "street-vendor-permit", "form": {"area_m2": NaN}}',
        headers={**citizen, "Content-Type": "application/json"},
    )
    assert assert_problem(nan, 400)["detail"] == NOT_JSON_NUMBER  # not JSON: refused at the door
    odd = await client.get(APPLICATIONS, headers=officer, params={"assignee": "a" * 36})
    assert_problem(odd, 422)


async def test_a_payment_that_arrives_after_withdrawal_goes_back(app, client, street_vendor, citizen, officer, worker):
    app_id = await _pending_payment(client, worker, citizen, officer)
    order = (await client.post(f"{APPLICATIONS}/{app_id}/payment", headers=citizen)).json()
    assert (await act(client, citizen, app_id, "withdraw")).json()["status"] == "withdrawn"
    await worker.drain()
    await client.post(order["pay_url"], data={"card": "4111111111111111"})  # the page was still open
    await app.state.cloud.mock.idle()
    await worker.drain()  # the payment is seen on a withdrawn application: refund it
    await app.state.cloud.mock.idle()
    await worker.drain()
    final = (await fetch(client, citizen, app_id)).json()
    assert final["paid_at"] is None
    assert (await client.get(f"{APPLICATIONS}/{app_id}/payment", headers=citizen)).json()["status"] == "refunded"


async def test_a_request_through_two_guards_is_authenticated_and_counted_once(app, client, street_vendor, citizen):
    # Creating takes the applicant's guard and the Idempotency-Key owner's (the permits caller's): one caller, one
    # request against the rate limit.
    identity = app.state.identity
    claims = identity.tokens.verify_access_token(citizen["Authorization"].split()[1])
    key, (_, window) = f"api:{claims['client_id']}:{claims['sub']}", identity.settings.api_requests_per_caller
    before = await identity.limiter.count(key, window=window)
    headers = {**citizen, "Idempotency-Key": "counted-once-1"}
    created = await client.post(APPLICATIONS, json={"service_code": street_vendor, "form": FORM}, headers=headers)
    assert created.status_code == 201
    assert await identity.limiter.count(key, window=window) == before + 1


async def test_an_application_is_shown_in_the_language_asked_for(client, street_vendor, citizen) -> None:
    """The service's title, the fee lines and the document checklist are bilingual: each request gets them in the
    language it asks for (Chinese by default), or both with lang=all; the form the citizen typed is never touched."""
    draft = await create(client, citizen)
    assert draft["service"]["title"] == "流动摊贩经营许可"
    assert [line["description"] for line in draft["fees"]] == ["证照工本费50元。"]

    english = await fetch(client, {**citizen, "Accept-Language": "en-US,en;q=0.9"}, draft["id"])
    assert english.headers["content-language"] == "en"
    assert "Accept-Language" in english.headers["vary"]
    body = english.json()
    assert body["service"]["title"] == "Street vendor permit"
    assert [line["description"] for line in body["fees"]] == ["CNY 50."]
    assert body["form"] == draft["form"]
    assert english.headers["etag"] == f'"{draft["version"]}"'  # the same version, whatever the language

    both = await client.get(f"{APPLICATIONS}/{draft['id']}", params={"lang": "all"}, headers=citizen)
    assert both.json()["service"]["title"] == {"zh-CN": "流动摊贩经营许可", "en": "Street vendor permit"}
    assert both.headers["content-language"] == "zh-CN, en"

    # Every answer about the application speaks the language asked for: an edit, a dry run.
    english_headers = {**citizen, "Accept-Language": "en", "If-Match": english.headers["etag"]}
    edited = await client.patch(f"{APPLICATIONS}/{draft['id']}", json={"form": FORM}, headers=english_headers)
    assert (edited.json()["service"]["title"], edited.headers["content-language"]) == ("Street vendor permit", "en")
    trial = await client.post(
        f"{APPLICATIONS}/{draft['id']}/actions/withdraw",
        params={"dry_run": "true"},
        headers={**english_headers, "If-Match": edited.headers["etag"]},
    )
    assert (trial.json()["service"]["title"], trial.json()["status"]) == ("Street vendor permit", "withdrawn")

    checklist = await client.get(f"{APPLICATIONS}/{draft['id']}/documents", params={"lang": "en"}, headers=citizen)
    assert [item["name"] for item in checklist.json()["items"]] == ["ID card", "Photo of the stall"]
    assert_problem(await client.get(f"{APPLICATIONS}/{draft['id']}", params={"lang": "fr"}, headers=citizen), 422)


async def test_staff_never_handle_their_own_application(app, client, street_vendor, officer, worker) -> None:
    """Separation of duties: a supervisor who applies is its applicant, never its handler: no claim, review, decision
    or internal comment on it, while an officer of the department handles it as any other."""
    from tests.oauth import bearer, token_for

    applying = bearer(await token_for(app, "supervisor.market", "openid permits:apply permits:process"))
    as_staff = bearer(await token_for(app, "supervisor.market", "permits:process"))
    draft = await create(client, applying)
    assert (await fetch(client, applying, draft["id"])).json()["allowed_actions"] == ["edit", "submit", "withdraw"]
    await upload(client, applying, draft["id"])
    assert (await act(client, applying, draft["id"], "submit")).status_code == 200
    await worker.drain()  # screening

    for token in (applying, as_staff):
        seen = (await fetch(client, token, draft["id"])).json()
        assert (seen["status"], "claim" in seen["allowed_actions"]) == ("screening", False)
        assert_problem(await act(client, token, draft["id"], "claim"), 403)
    assert (await act(client, officer, draft["id"], "claim")).status_code == 200
    noted = await client.post(
        f"{APPLICATIONS}/{draft['id']}/comments", json={"body": "核对经营者", "visibility": "internal"}, headers=officer
    )
    assert noted.status_code == 201, noted.text
    for token in (applying, as_staff):
        assert (await client.get(f"{APPLICATIONS}/{draft['id']}/comments", headers=token)).json()["items"] == []
        assert_problem(
            await client.post(
                f"{APPLICATIONS}/{draft['id']}/comments", json={"body": "x", "visibility": "internal"}, headers=token
            ),
            403,
        )
    checklist = (await client.get(f"{APPLICATIONS}/{draft['id']}/documents", headers=officer)).json()["items"]
    [item] = [entry for entry in checklist if entry["document"]]
    review = f"{APPLICATIONS}/{draft['id']}/documents/{item['document']['id']}/review"
    assert_problem(await client.post(review, json={"decision": "accepted"}, headers=as_staff), 403)
    assert (await client.post(review, json={"decision": "accepted"}, headers=officer)).status_code == 200
    assert (await act(client, officer, draft["id"], "pass")).status_code == 200
    assert "approve" not in (await fetch(client, as_staff, draft["id"])).json()["allowed_actions"]
    assert_problem(await act(client, as_staff, draft["id"], "approve"), 403)


async def test_an_application_is_never_handed_to_its_applicant(app, client, street_vendor, supervisor, worker) -> None:
    """The supervisor cannot reassign an officer's own application to that officer (it would sit with someone barred
    from acting on it)."""
    from tests.oauth import bearer, token_for

    applying = bearer(await token_for(app, "officer.market", "openid profile permits:apply permits:process"))
    me = (await client.get("/api/v1/me", headers=applying)).json()["id"]
    draft = await create(client, applying)
    await upload(client, applying, draft["id"])
    assert (await act(client, applying, draft["id"], "submit")).status_code == 200
    await worker.drain()
    refused = await act(client, supervisor, draft["id"], "reassign", assignee_id=me, reason="顶班")
    assert [e["field"] for e in assert_problem(refused, 422)["errors"]] == ["assignee_id"]
    assert (await fetch(client, supervisor, draft["id"])).json()["assignee_id"] is None


async def test_a_withdrawn_mandate_ends_what_the_partner_reaches_and_hears(
    app, client, street_vendor, partner, other_citizen, worker
) -> None:
    """The partner filed for a citizen who then withdraws its mandate: the application stays the citizen's, and the
    partner neither sees nor acts on it, nor hears of it by webhook, any more."""
    async with partner_hears(app, client, ["permits.application.submitted"], signed=False) as receiver:
        me = (await client.get("/api/v1/me", headers=other_citizen)).json()
        filed = await create(client, partner, on_behalf_of=me["id"], holder_name="夜市 A-12 摊位")
        await upload(client, partner, filed["id"])
        assert (await fetch(client, partner, filed["id"])).status_code == 200

        withdrawn = await client.delete("/api/v1/me/representations/demo-partner", headers=other_citizen)
        assert withdrawn.status_code == 204, withdrawn.text
        assert_problem(await fetch(client, partner, filed["id"]), 404)
        assert (await client.get(APPLICATIONS, headers=partner)).json()["items"] == []
        edited = await client.patch(
            f"{APPLICATIONS}/{filed['id']}", json={"form": {**FORM, "area_m2": 7}}, headers=partner
        )
        assert_problem(edited, 404)
        assert_problem(await client.get(f"{APPLICATIONS}/{filed['id']}/documents", headers=partner), 404)

        # The citizen sends it themselves; the partner is not told.
        assert (await act(client, other_citizen, filed["id"], "submit")).status_code == 200
        await worker.drain()
        assert receiver.requests == []


async def test_a_delivery_made_before_the_mandate_was_withdrawn_is_not_sent_after(
    app, client, street_vendor, partner, other_citizen, worker
) -> None:
    """Fanned out while the mandate stood, failed, then replayed once the citizen withdrew it: nothing is sent."""
    # unsigned: it refuses every delivery (401) until the delivery is dead
    async with partner_hears(app, client, ["permits.application.submitted"], signed=False) as receiver:
        me = (await client.get("/api/v1/me", headers=other_citizen)).json()
        filed = await create(client, partner, on_behalf_of=me["id"], holder_name="夜市 A-12 摊位")
        await upload(client, partner, filed["id"])
        assert (await act(client, partner, filed["id"], "submit")).status_code == 200
        await worker.drain()
        sent = len(receiver.requests)
        assert sent >= 1
        [delivery] = (
            await client.get(f"/api/v1/partners/webhooks/{receiver.hook}/deliveries", headers=receiver.manage)
        ).json()["items"]
        assert delivery["status"] == "dead"

        assert (
            await client.delete("/api/v1/me/representations/demo-partner", headers=other_citizen)
        ).status_code == 204
        replayed = await client.post(
            f"/api/v1/partners/webhooks/{receiver.hook}/deliveries/{delivery['id']}/replay", headers=receiver.manage
        )
        assert replayed.status_code == 202, replayed.text
        await worker.drain()
        assert len(receiver.requests) == sent
        [after] = (
            await client.get(f"/api/v1/partners/webhooks/{receiver.hook}/deliveries", headers=receiver.manage)
        ).json()["items"]
        assert (after["status"], after["last_error"]) == ("dead", "the citizen withdrew the mandate")


async def test_staff_who_also_apply_page_through_the_whole_queue(app, client, street_vendor, citizen, worker) -> None:
    """Their own drafts (no deadline yet) are theirs to open, not part of the queue the deadline orders: paged one by
    one, the queue is every item once, and every cursor the server gives is one it takes."""
    from tests.oauth import bearer, token_for

    both = bearer(await token_for(app, "officer.market", "openid permits:apply permits:process"))
    own = [(await create(client, both))["id"] for _ in range(2)]
    sent = await create(client, citizen)
    await upload(client, citizen, sent["id"])
    assert (await act(client, citizen, sent["id"], "submit")).status_code == 200
    whole = (await client.get(APPLICATIONS, headers=both, params={"limit": 100})).json()["items"]
    paged = await all_pages(client, APPLICATIONS, both)
    assert [item["id"] for item in paged] == [item["id"] for item in whole]
    assert sent["id"] in [item["id"] for item in whole]
    assert not set(own) & {item["id"] for item in whole}
    for draft in own:
        assert (await fetch(client, both, draft)).status_code == 200


async def test_a_permits_own_events_reach_only_the_partner_that_filed_it(
    app, client, street_vendor, partner, citizen, other_citizen, officer, supervisor, worker
) -> None:
    """The permit issued for an application a partner filed is that partner's to hear of; one a citizen applied for
    themselves is no partner's (every subscribed partner heard of every permit)."""
    from tests.services.permits.test_renewal import _issue

    async with partner_hears(app, client, ["credentials.credential.issued"]) as receiver:
        me = (await client.get("/api/v1/me", headers=other_citizen)).json()
        filed = await create(client, partner, on_behalf_of=me["id"], holder_name="夜市 B-3 摊位")
        theirs = await _issue(client, app, worker, partner, officer, supervisor, filed)
        await _issue(client, app, worker, citizen, officer, supervisor, await create(client, citizen))
        await worker.drain()
        assert [request["body"]["data"]["number"] for request in receiver.requests] == [theirs["permit_number"]]


async def test_the_queue_shows_a_persons_name_masked_and_one_application_whole(
    client, street_vendor, citizen, officer, worker
) -> None:
    """A list of many is not logged per citizen; opening one is, and shows the name whole."""
    draft = await create(client, citizen)
    await upload(client, citizen, draft["id"])
    assert (await act(client, citizen, draft["id"], "submit")).status_code == 200
    whole = "陈明 Chen Ming"
    queue = (await client.get(APPLICATIONS, headers=officer, params={"service": street_vendor})).json()["items"]
    assert [item["holder_name"] for item in queue] == ["陈**"]
    own = (await client.get(APPLICATIONS, headers=citizen)).json()["items"]
    assert [item["holder_name"] for item in own if item["id"] == draft["id"]] == [whole]
    assert (await fetch(client, officer, draft["id"])).json()["holder_name"] == whole
    log = (await client.get("/api/v1/me/access-log", headers=citizen)).json()["items"]
    assert [entry["object_id"] for entry in log] == [draft["id"]]


async def _purposes(client, citizen) -> list[str]:
    log = (await client.get("/api/v1/me/access-log", headers=citizen, params={"limit": 100})).json()["items"]
    return [entry["purpose"] for entry in log]


@pytest.mark.parametrize("part", ["history", "comments", "documents", "payment"])
async def test_an_officers_read_of_what_hangs_off_an_application_is_in_the_access_log(
    app, client, street_vendor, citizen, officer, worker, part
) -> None:
    """The history, comments, checklist and payment carry the applicant's answers, words and document names: an
    officer's read of one is one entry in the citizen's access log; the citizen's own read is none."""
    from tests.services.permits.test_renewal import _pass

    draft = await create(client, citizen)
    await upload(client, citizen, draft["id"])
    assert (await act(client, citizen, draft["id"], "submit")).status_code == 200
    await worker.drain()
    assert (await act(client, officer, draft["id"], "claim")).status_code == 200
    await _pass(client, officer, draft["id"])
    order = await client.post(f"{APPLICATIONS}/{draft['id']}/payment", headers={**citizen, "Idempotency-Key": "p"})
    assert order.status_code == 201, order.text
    path = f"{APPLICATIONS}/{draft['id']}/{part}"
    before = await _purposes(client, citizen)
    assert (await client.get(path, headers=citizen)).status_code == 200
    assert await _purposes(client, citizen) == before
    assert (await client.get(path, headers=officer)).status_code == 200
    assert await _purposes(client, citizen) == [f"application {draft['reference']}: {part}", *before]
