"""The rules around a talent application that an end-to-end walk does not show: the sponsor's limits, separation of
duties, who sees evidence and registry answers, what a registry can and cannot confirm, one open application."""

import asyncio
import json
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core import sla
from core.events import OutboxEvent
from core.http.middleware import NOT_JSON_NUMBER
from core.models import utcnow
from services.talent.models import OPEN_STATES, TalentApplication, TalentEvidence
from tests.calendar import PUBLISHED, declare_day_off
from tests.helpers import all_pages, assert_problem
from tests.oauth import bearer, token_for
from tests.services.talent.conftest import APPLICATIONS, DEGREE_MASTER_2019, act, declare, fetch

RANKED_MASTER = {
    "kind": "education",
    "level": "master",
    "institution": "Sun Yat-sen University",
    "institution_rank": 1,  # the registry knows the degree, not a ranking
    "year": 2019,
    "certificate_no": DEGREE_MASTER_2019,
}
SALARY = {"kind": "salary", "year": 2025, "annual_amount": 240000}


@pytest.fixture
async def submitted(client, applicant, worker) -> dict[str, str]:
    """The talent's application with a ranked degree and a salary, submitted and through the registries."""
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    degree = await declare(client, applicant, app_id, RANKED_MASTER)
    salary = await declare(client, applicant, app_id, SALARY)
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()
    return {"application_id": app_id, "degree": degree, "salary": salary}


def _json(body: dict) -> str:
    return json.dumps(body)  # (NaN goes out as the bare token NaN, which is not JSON)


def _claim(body: dict, claim_id: str) -> dict:
    return next(claim for claim in body["claims"] if claim["id"] == claim_id)


async def test_a_registry_confirms_only_what_it_holds(client, applicant, submitted) -> None:
    body = (await fetch(client, applicant, submitted["application_id"])).json()
    degree = _claim(body, submitted["degree"])
    assert degree["status"] == "pending"  # the claimed world rank waits for an officer
    assert "need an officer" in degree["reason"]
    assert _claim(body, submitted["salary"])["status"] == "verified"
    assert body["status"] == "verifying"


async def test_an_officer_decides_only_pending_claims_and_only_once_claimed(
    client, submitted, officer, supervisor
) -> None:
    app_id = submitted["application_id"]
    assert "claim" in (await fetch(client, supervisor, app_id)).json()["allowed_actions"]
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    for person in (officer, supervisor):
        assert "claim" not in (await fetch(client, person, app_id)).json()["allowed_actions"]
    assert_problem(await act(client, supervisor, app_id, "claim"), 409)  # taken: a supervisor reassigns
    preview = await client.post(
        f"{APPLICATIONS}/{app_id}/actions/claim",
        params={"dry_run": "true"},
        headers={**supervisor, "If-Match": (await fetch(client, supervisor, app_id)).headers["etag"]},
    )
    assert_problem(preview, 409)
    etag = (await fetch(client, officer, app_id)).headers["etag"]
    overrule = await client.post(
        f"{APPLICATIONS}/{app_id}/claims/{submitted['salary']}/verification",
        json={"decision": "unverifiable", "reason": "I disagree with the tax office"},
        headers={**officer, "If-Match": etag},
    )
    assert_problem(overrule, 409)  # a registry's answer is not overruled
    decided = await client.post(
        f"{APPLICATIONS}/{app_id}/claims/{submitted['degree']}/verification",
        json={"decision": "verified", "reason": "QS ranking checked"},
        headers={**officer, "If-Match": etag},
    )
    assert decided.status_code == 200, decided.text
    assert _claim(decided.json(), submitted["degree"])["method"] == "officer"


async def test_evidence_and_figures_are_for_the_applicant_and_the_handling_officer(
    client, submitted, applicant, officer, supervisor
) -> None:
    app_id = submitted["application_id"]
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    evidence_id = _claim((await fetch(client, officer, app_id)).json(), submitted["salary"])["evidence"][0]["id"]
    url = f"{APPLICATIONS}/{app_id}/evidence/{evidence_id}/download"
    assert (await client.get(url, headers=applicant)).status_code == 200
    assert (await client.get(url, headers=officer)).status_code == 200
    assert_problem(await client.get(url, headers=supervisor), 403)  # sees the figures masked: not the payslip
    salary = _claim((await fetch(client, supervisor, app_id)).json(), submitted["salary"])
    assert (salary["data"]["annual_amount"], salary["reason"]) == ("***", None)
    log = (await client.get("/api/v1/me/access-log", headers=applicant)).json()["items"]
    assert {"talent_evidence", "talent_application"} <= {entry["object_type"] for entry in log}


async def test_a_direct_route_that_reads_a_masked_figure_is_not_named_to_others(
    client, applicant, supervisor, worker
) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, app_id, {**SALARY, "annual_amount": 600000})
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()
    own = (await fetch(client, applicant, app_id)).json()["result"]
    assert own["route"] == "direct:top_salary"
    seen = (await fetch(client, supervisor, app_id)).json()["result"]
    assert (seen["route"], seen["tier"]) == ("direct", own["tier"])  # the tier stays: the salary band does not


async def test_the_approval_is_a_second_persons(client, applicant, supervisor, worker) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, app_id, {**RANKED_MASTER, "institution_rank": None})
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()
    assert (await fetch(client, applicant, app_id)).json()["status"] == "scored"
    assert (await act(client, supervisor, app_id, "claim")).status_code == 200
    reviewed = await act(client, supervisor, app_id, "review", tier="C")
    assert reviewed.status_code == 200, reviewed.text
    body = assert_problem(await act(client, supervisor, app_id, "approve"), 409)
    assert "second person" in body["detail"]


async def test_a_sponsor_drafts_but_only_the_citizen_sends_claims_to_the_registries(
    client, applicant, sponsor, worker
) -> None:
    me = (await client.get("/api/v1/me", headers=applicant)).json()
    app_id = (await client.post(APPLICATIONS, json={"on_behalf_of": me["id"]}, headers=sponsor)).json()["id"]
    salary = await declare(client, sponsor, app_id, SALARY)
    assert_problem(await act(client, sponsor, app_id, "submit"), 403)
    assert (await act(client, applicant, app_id, "submit")).status_code == 200  # the citizen's consent
    await worker.drain()
    seen = _claim((await fetch(client, sponsor, app_id)).json(), salary)
    assert seen["status"] == "verified"
    assert seen["reason"] is None  # the tax office's answer is not the employer's to read
    evidence = seen["evidence"][0]["id"]
    assert_problem(await client.get(f"{APPLICATIONS}/{app_id}/evidence/{evidence}/download", headers=sponsor), 403)


async def test_a_withdrawn_mandate_ends_what_the_sponsor_reaches(client, applicant, sponsor) -> None:
    me = (await client.get("/api/v1/me", headers=applicant)).json()
    app_id = (await client.post(APPLICATIONS, json={"on_behalf_of": me["id"]}, headers=sponsor)).json()["id"]
    assert (await fetch(client, sponsor, app_id)).status_code == 200
    withdrawn = await client.delete("/api/v1/me/representations/demo-partner", headers=applicant)
    assert withdrawn.status_code == 204, withdrawn.text
    assert_problem(await fetch(client, sponsor, app_id), 404)
    assert (await client.get(APPLICATIONS, headers=sponsor)).json()["items"] == []
    refused = await client.post(f"{APPLICATIONS}/{app_id}/claims", json=SALARY, headers=sponsor)
    assert_problem(refused, 404)
    assert (await fetch(client, applicant, app_id)).json()["sponsored_by_client"] == "demo-partner"  # still theirs


async def test_an_officer_who_applies_sees_their_own_draft_outside_the_queue(app, client, submitted) -> None:
    both = bearer(await token_for(app, "officer.talent", "openid talent:apply talent:review"))
    created = await client.post(APPLICATIONS, json={}, headers=both)
    assert created.status_code == 201, created.text
    seen = (await fetch(client, both, created.json()["id"])).json()
    assert (seen["status"], seen["allowed_actions"]) == ("draft", ["declare", "submit", "withdraw"])
    # The queue, ordered by deadline, pages through what was sent (no draft without one), each cursor taken back.
    whole = (await client.get(APPLICATIONS, headers=both, params={"limit": 100})).json()["items"]
    paged = await all_pages(client, APPLICATIONS, both)
    assert [item["id"] for item in paged] == [item["id"] for item in whole]
    assert submitted["application_id"] in [item["id"] for item in whole]
    assert created.json()["id"] not in [item["id"] for item in whole]


async def test_one_open_application_per_person_and_claims_change_with_if_match(client, applicant) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    assert_problem(await client.post(APPLICATIONS, json={}, headers=applicant), 409)
    claim_id = await declare(client, applicant, app_id, SALARY, evidence=False)
    url = f"{APPLICATIONS}/{app_id}/claims/{claim_id}"
    assert_problem(await client.put(url, json={**SALARY, "annual_amount": 1}, headers=applicant), 428)
    assert_problem(await client.delete(url, headers={**applicant, "If-Match": '"999"'}), 412)
    assert (await client.get(url, headers=applicant)).json()["data"]["annual_amount"] == 240000


async def test_creates_racing_each_other_open_one_application(client, db, applicant) -> None:
    # Sent together, the creates pass the service's check before any of them has written (on PostgreSQL; SQLite
    # runs write transactions one at a time): the database's index decides, and the losers hear why.
    answers = await asyncio.gather(*(client.post(APPLICATIONS, json={}, headers=applicant) for _ in range(6)))
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409, 409, 409, 409]
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "talent-application-open")
    created = next(answer.json() for answer in answers if answer.status_code == 201)
    async with db.transaction(write=False) as session:
        applicant_id = (await session.get(TalentApplication, uuid.UUID(created["id"]))).applicant_id
        statement = select(func.count()).where(
            TalentApplication.applicant_id == applicant_id, TalentApplication.status.in_(OPEN_STATES)
        )
        assert (await session.execute(statement)).scalar() == 1


async def test_the_database_holds_one_open_application_per_person(client, db, applicant) -> None:
    first = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()
    async with db.transaction(write=False) as session:
        original = await session.get(TalentApplication, uuid.UUID(first["id"]))
    columns = {"applicant_id": original.applicant_id, "rule_set": original.rule_set}
    with pytest.raises(IntegrityError):  # a second open one, written past the service
        async with db.transaction() as session:
            session.add(TalentApplication(reference="TI-T-TEST-1", **columns))
    async with db.transaction() as session:  # closed ones do not count
        session.add(TalentApplication(reference="TI-T-TEST-2", status="withdrawn", **columns))
        session.add(TalentApplication(reference="TI-T-TEST-3", status="card_issued", **columns))
    assert (await act(client, applicant, first["id"], "withdraw")).status_code == 200
    again = await client.post(APPLICATIONS, json={}, headers=applicant)
    assert again.status_code == 201, again.text


async def test_near_its_deadline_an_application_goes_to_the_talent_supervisors_once(
    app, client, db, applicant, submitted
) -> None:
    from services.talent import tasks

    app_id = submitted["application_id"]
    async with db.transaction() as session:
        await session.execute(
            update(TalentApplication)
            .where(TalentApplication.id == uuid.UUID(app_id))
            .values(risk_at=utcnow() - timedelta(minutes=1))
        )
    await tasks.escalate(app.state)
    await tasks.escalate(app.state)
    body = (await fetch(client, applicant, app_id)).json()
    history = (await client.get(f"{APPLICATIONS}/{app_id}/history", headers=applicant)).json()["items"]
    escalations = [step for step in history if step["action"] == "escalate"]
    assert len(escalations) == 1
    assert escalations[0]["from_status"] == escalations[0]["to_status"] == body["status"]  # the state stays

    async def told(login: str) -> list[str]:
        inbox_reader = bearer(await token_for(app, login, "openid account"))  # the inbox takes `account`
        inbox = await client.get("/api/v1/me/notifications", headers=inbox_reader, params={"limit": 100})
        return [item["template"] for item in inbox.json()["items"] if body["reference"] in item["body"]]

    assert await told("supervisor.talent") == ["talent_escalated"]
    assert await told("supervisor.market") == []  # another department's supervisor
    async with db.transaction(write=False) as session:
        events = await session.execute(
            select(func.count()).where(
                OutboxEvent.name == "talent.application.escalated",
                OutboxEvent.subject == f"talent_application:{app_id}",
            )
        )
        assert events.scalar() == 1


async def _to_card(client, worker, applicant, officer, supervisor, app_id: str) -> dict:
    """Submit an application whose claims the registries verify, then review, approve and issue; the card."""
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()
    assert (await fetch(client, officer, app_id)).json()["status"] == "scored"
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    assert (await act(client, officer, app_id, "review", tier="C")).status_code == 200
    assert (await act(client, supervisor, app_id, "approve")).status_code == 200
    await worker.drain()
    number = (await fetch(client, applicant, app_id)).json()["card_number"]
    card = await client.get(f"/api/v1/talent/cards/{number}", headers=applicant)
    assert card.status_code == 200, card.text
    return card.json()


async def test_a_renewal_starts_from_the_old_claims_and_its_card_replaces_the_old_one(
    client, applicant, officer, supervisor, worker
) -> None:
    first_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, first_id, {**RANKED_MASTER, "institution_rank": None})
    await declare(client, applicant, first_id, SALARY)
    first = await _to_card(client, worker, applicant, officer, supervisor, first_id)

    renewal = await client.post(APPLICATIONS, json={"renews": first["number"]}, headers=applicant)
    assert renewal.status_code == 201, renewal.text
    claims = renewal.json()["claims"]
    assert sorted(claim["kind"] for claim in claims) == ["education", "salary"]
    assert all(claim["status"] == "pending" and len(claim["evidence"]) == 1 for claim in claims)
    second = await _to_card(client, worker, applicant, officer, supervisor, renewal.json()["id"])

    assert second["number"] != first["number"]
    old = (await client.get("/api/v1/credentials/verify", params={"token": first["token"]})).json()
    new = (await client.get("/api/v1/credentials/verify", params={"token": second["token"]})).json()
    assert (old["status"], new["status"]) == ("revoked", "active")
    assert (old["replaced_by"], new["replaced_by"]) == (second["number"], None)


async def _object_keys(db, application_id: str) -> dict[str, str]:
    """Each claim's evidence file: the storage key, by claim id."""
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(TalentEvidence.claim_id, TalentEvidence.object_key).where(
                TalentEvidence.application_id == uuid.UUID(application_id)
            )
        )
        return {str(claim_id): key for claim_id, key in rows}


async def test_a_dropped_claims_files_leave_storage_unless_another_claim_names_them(
    app, client, db, applicant, officer, supervisor, worker
) -> None:
    storage = app.state.cloud.cloud.storage
    first_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, first_id, {**RANKED_MASTER, "institution_rank": None})
    salary = await declare(client, applicant, first_id, SALARY)
    dropped = await declare(client, applicant, first_id, {**SALARY, "year": 2024})
    files = await _object_keys(db, first_id)
    assert await storage.head(files[dropped]) is not None
    etag = (await fetch(client, applicant, first_id)).headers["etag"]
    url = f"{APPLICATIONS}/{first_id}/claims/{dropped}"
    assert (await client.delete(url, headers={**applicant, "If-Match": etag})).status_code == 200
    await worker.drain()
    assert await storage.head(files[dropped]) is None  # personal data nobody needs any more
    assert await storage.head(files[salary]) is not None

    # A renewal's claims share their files with the claims they copy: dropping one leaves the file to the other.
    first = await _to_card(client, worker, applicant, officer, supervisor, first_id)
    renewal = (await client.post(APPLICATIONS, json={"renews": first["number"]}, headers=applicant)).json()
    copy = next(claim["id"] for claim in renewal["claims"] if claim["kind"] == "salary")
    assert (await _object_keys(db, renewal["id"]))[copy] == files[salary]
    etag = (await fetch(client, applicant, renewal["id"])).headers["etag"]
    url = f"{APPLICATIONS}/{renewal['id']}/claims/{copy}"
    assert (await client.delete(url, headers={**applicant, "If-Match": etag})).status_code == 200
    await worker.drain()
    assert await storage.head(files[salary]) is not None
    old = await client.get(f"{APPLICATIONS}/{first_id}", headers=applicant)
    evidence = next(claim for claim in old.json()["claims"] if claim["id"] == salary)["evidence"][0]["id"]
    download = await client.get(f"{APPLICATIONS}/{first_id}/evidence/{evidence}/download", headers=applicant)
    assert download.status_code == 200, download.text


async def _sanction(client, supervisor, card: dict, action: str) -> None:
    path = f"/api/v1/credentials/{card['credential_id']}"
    current = await client.get(path, headers=supervisor)
    done = await client.post(
        f"{path}/actions/{action}",
        json={"reason": "核查学历"},
        headers={**supervisor, "If-Match": current.headers["etag"]},
    )
    assert done.status_code == 200, done.text


async def test_a_card_under_a_sanction_is_not_renewed_and_one_imposed_meanwhile_passes_to_the_new_card(
    client, applicant, officer, supervisor, worker
) -> None:
    first_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, first_id, {**RANKED_MASTER, "institution_rank": None})
    first = await _to_card(client, worker, applicant, officer, supervisor, first_id)
    await _sanction(client, supervisor, first, "suspend")
    refused = await client.post(APPLICATIONS, json={"renews": first["number"]}, headers=applicant)
    assert [error["code"] for error in assert_problem(refused, 422)["errors"]] == ["not_in_force"]

    # Reinstated, renewed, and suspended again while the renewal is decided: the new card starts suspended.
    await _sanction(client, supervisor, first, "reinstate")
    renewal = await client.post(APPLICATIONS, json={"renews": first["number"]}, headers=applicant)
    assert renewal.status_code == 201, renewal.text
    assert (await act(client, applicant, renewal.json()["id"], "submit")).status_code == 200
    await worker.drain()
    await _sanction(client, supervisor, first, "suspend")
    assert (await act(client, officer, renewal.json()["id"], "claim")).status_code == 200
    assert (await act(client, officer, renewal.json()["id"], "review", tier="C")).status_code == 200
    assert (await act(client, supervisor, renewal.json()["id"], "approve")).status_code == 200
    await worker.drain()
    number = (await fetch(client, applicant, renewal.json()["id"])).json()["card_number"]
    second = (await client.get(f"/api/v1/talent/cards/{number}", headers=applicant)).json()
    assert second["status"] == "suspended"
    old = (await client.get("/api/v1/credentials/verify", params={"token": first["token"]})).json()
    assert (old["status"], old["replaced_by"]) == ("revoked", number)


async def test_only_ones_own_card_is_renewed(client, applicant, other_applicant) -> None:
    refused = await client.post(APPLICATIONS, json={"renews": "TI-TALENT-2026-000001"}, headers=other_applicant)
    assert [error["field"] for error in assert_problem(refused, 422)["errors"]] == ["renews"]
    assert (await client.get(APPLICATIONS, headers=other_applicant)).json()["items"] == []


async def test_an_unanswered_request_lapses_and_an_answered_one_does_not(app, client, db, applicant, worker) -> None:
    from sqlalchemy import update

    from services.talent import tasks
    from services.talent.models import TalentApplication

    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    doctorate = {**RANKED_MASTER, "level": "doctorate", "year": 2024, "institution_rank": None}
    await declare(client, applicant, app_id, {**doctorate, "certificate_no": "1055820242024404"})
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()
    held = (await fetch(client, applicant, app_id)).json()
    assert held["status"] == "awaiting_applicant"
    assert held["answer_due_at"] is not None
    await tasks.rfi_timeouts(app.state)  # not due yet
    assert (await fetch(client, applicant, app_id)).json()["status"] == "awaiting_applicant"
    async with db.transaction() as session:
        await session.execute(
            update(TalentApplication)
            .where(TalentApplication.reference == held["reference"])
            .values(answer_due_at=TalentApplication.submitted_at)
        )
    assert "answer" not in (await fetch(client, applicant, app_id)).json()["allowed_actions"]
    late = await act(client, applicant, app_id, "answer", reason="已补充")  # past due: lapsed, before the job runs
    assert [error["code"] for error in assert_problem(late, 409, "talent-action-refused")["errors"]] == ["lapsed"]
    await tasks.rfi_timeouts(app.state)
    lapsed = (await fetch(client, applicant, app_id)).json()
    assert lapsed["status"] == "withdrawn"
    assert lapsed["sla"]["risk"] == "stopped"


async def test_a_retried_claim_with_the_same_key_is_declared_once(client, applicant) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    headers = {**applicant, "Idempotency-Key": "claim-salary-1"}
    first = await client.post(f"{APPLICATIONS}/{app_id}/claims", json=SALARY, headers=headers)
    again = await client.post(f"{APPLICATIONS}/{app_id}/claims", json=SALARY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.headers["location"] == again.headers["location"]
    assert len((await fetch(client, applicant, app_id)).json()["claims"]) == 1


async def test_a_supervisor_reassigns_to_a_talent_officer_only(app, client, submitted, officer, supervisor) -> None:
    app_id = submitted["application_id"]
    assert (await act(client, supervisor, app_id, "claim")).status_code == 200
    officer_id = (
        await client.get("/api/v1/me", headers=bearer(await token_for(app, "officer.talent", "profile")))
    ).json()["id"]
    applicant_view = (await fetch(client, supervisor, app_id)).json()
    assert_problem(await act(client, officer, app_id, "reassign", assignee_id=officer_id), 403)  # not a supervisor
    missing = assert_problem(await act(client, supervisor, app_id, "reassign"), 422)
    assert [error["field"] for error in missing["errors"]] == ["assignee_id"]
    stranger = "00000000-0000-0000-0000-000000000001"
    assert_problem(await act(client, supervisor, app_id, "reassign", assignee_id=stranger), 422)
    moved = await act(client, supervisor, app_id, "reassign", assignee_id=officer_id)
    assert moved.status_code == 200, moved.text
    assert moved.json()["assignee_id"] == officer_id
    assert moved.json()["status"] == applicant_view["status"] == "verifying"
    # The new handler sees the figures; the supervisor no longer does.
    assert _claim((await fetch(client, officer, app_id)).json(), submitted["salary"])["data"]["annual_amount"] == 240000
    assert _claim((await fetch(client, supervisor, app_id)).json(), submitted["salary"])["masked"] is True


async def test_bad_input_is_a_422_problem_and_changes_nothing(client, other_applicant, submitted, officer) -> None:
    person = other_applicant
    draft = (await client.post(APPLICATIONS, json={}, headers=person)).json()["id"]
    bad_claims = [
        {"kind": "salary", "year": 2025},  # neither amount
        {"kind": "education", "level": "master", "institution": "X", "year": 2019, "certificate_no": "12"},
        # full-width digits: another spelling of a certificate number, which no registry has
        {"kind": "education", "level": "master", "institution": "X", "year": 2019, "certificate_no": "１" * 16},
        {"kind": "age", "value": 30},  # age is derived, never declared
    ]
    json_body = {**person, "content-type": "application/json"}
    for claim in bad_claims:
        assert_problem(
            await client.post(f"{APPLICATIONS}/{draft}/claims", content=_json(claim), headers=json_body), 422
        )
    not_a_number = _json({"kind": "salary", "year": 2025, "annual_amount": float("nan")})
    refused = await client.post(f"{APPLICATIONS}/{draft}/claims", content=not_a_number, headers=json_body)
    assert assert_problem(refused, 400)["detail"] == NOT_JSON_NUMBER  # refused at the door, as anywhere
    claim_id = await declare(client, person, draft, SALARY, evidence=False)
    evidence_url = f"{APPLICATIONS}/{draft}/claims/{claim_id}/evidence"
    for body in (
        {"filename": "a.pdf", "media_type": "application/pdf", "size": 11 * 1024 * 1024},
        {"filename": "a.exe", "media_type": "application/x-msdownload", "size": 10},
    ):
        assert_problem(await client.post(evidence_url, json=body, headers=person), 422)
    after = (await fetch(client, person, draft)).json()
    assert [claim["kind"] for claim in after["claims"]] == ["salary"]
    assert after["claims"][0]["evidence"] == []

    verifying = submitted["application_id"]
    assert (await act(client, officer, verifying, "claim")).status_code == 200
    etag = (await fetch(client, officer, verifying)).headers["etag"]
    for body in ({"decision": "maybe", "reason": "x"}, {"decision": "verified"}):
        response = await client.post(
            f"{APPLICATIONS}/{verifying}/claims/{submitted['degree']}/verification",
            json=body,
            headers={**officer, "If-Match": etag},
        )
        assert_problem(response, 422)
    assert _claim((await fetch(client, officer, verifying)).json(), submitted["degree"])["status"] == "pending"


async def test_a_changed_claim_replaces_the_old_one_and_is_verified_again(client, applicant) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    claim_id = await declare(client, applicant, app_id, SALARY, evidence=False)
    etag = (await fetch(client, applicant, app_id)).headers["etag"]
    changed = await client.put(
        f"{APPLICATIONS}/{app_id}/claims/{claim_id}",
        json={**SALARY, "annual_amount": 300000},
        headers={**applicant, "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    claim = _claim(changed.json(), claim_id)
    assert (claim["data"]["annual_amount"], claim["status"], claim["version"]) == (300000, "pending", 2)
    assert changed.headers["etag"] != etag
    stale = await client.put(
        f"{APPLICATIONS}/{app_id}/claims/{claim_id}", json=SALARY, headers={**applicant, "If-Match": etag}
    )
    assert_problem(stale, 412)
    dropped = await client.delete(
        f"{APPLICATIONS}/{app_id}/claims/{claim_id}", headers={**applicant, "If-Match": changed.headers["etag"]}
    )
    assert (dropped.status_code, dropped.json()["claims"]) == (200, [])
    # Its ETag is the application's new version: the If-Match of the next change, without reading it again.
    assert dropped.headers["etag"] == f'"{dropped.json()["version"]}"' != changed.headers["etag"]
    assert (await fetch(client, applicant, app_id)).headers["etag"] == dropped.headers["etag"]


async def test_a_registrations_deadline_follows_the_published_calendar(app, client, applicant, worker) -> None:
    """Twenty working days on the published calendar, counted again when a day off is announced after submission."""
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, app_id, RANKED_MASTER)
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    before = (await fetch(client, applicant, app_id)).json()
    submitted = datetime.fromisoformat(before["submitted_at"])
    assert datetime.fromisoformat(before["sla"]["due_at"]) == sla.deadline(
        submitted, "P20D", working_days=True, calendar=PUBLISHED
    )

    admin = bearer(await token_for(app, "admin", "admin"))
    calendar = await declare_day_off(client, admin, submitted)
    await worker.drain()
    after = (await fetch(client, applicant, app_id)).json()
    assert datetime.fromisoformat(after["sla"]["due_at"]) == sla.deadline(
        submitted, "P20D", working_days=True, calendar=calendar
    )
    assert after["sla"]["due_at"] != before["sla"]["due_at"]


SCHOOLING = "talent-children-schooling"  # a benefit of every tier
SCHOOLING_FORM = {
    "child_name": "王小明",
    "child_id_type": "resident_id",
    "child_id_number": "440703201801010012",
    "school_stage": "primary",
    "entry_grade": 1,
    "intended_start": "2027-09-01",
}
SCHOOLING_DOCUMENTS = ("talent_certificate", "birth_certificate", "child_id", "residence_proof")


async def test_the_benefit_draft_a_card_opens_is_filled_in_and_sent_under_that_card_only(
    client, applicant, officer, supervisor, worker
) -> None:
    """The draft a new card opens carries the card's number, which its form takes: the holder completes it and sends
    it. Sent under a number of the right shape that is not their card in force, it is refused."""
    from tests.services.permits.conftest import upload

    permits = "/api/v1/permits/applications"
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, app_id, {**RANKED_MASTER, "institution_rank": None})
    await declare(client, applicant, app_id, SALARY)
    card = await _to_card(client, worker, applicant, officer, supervisor, app_id)
    drafts = (await client.get(permits, headers=applicant, params={"limit": 100})).json()["items"]
    draft = next(item for item in drafts if item["service_code"] == SCHOOLING)
    url = f"{permits}/{draft['id']}"

    async def save(form: dict) -> None:
        etag = (await client.get(url, headers=applicant)).headers["etag"]
        saved = await client.patch(url, json={"form": form}, headers={**applicant, "If-Match": etag})
        assert saved.status_code == 200, saved.text

    async def send():
        etag = (await client.get(url, headers=applicant)).headers["etag"]
        return await client.post(f"{url}/actions/submit", headers={**applicant, "If-Match": etag})

    for code in SCHOOLING_DOCUMENTS:
        assert (await upload(client, applicant, draft["id"], code)).status_code == 200
    await save({**SCHOOLING_FORM, "talent_card_no": "TI-TALENT-2026-999999"})
    refused = assert_problem(await send(), 422, "form-invalid")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("form.talent_card_no", "not_yours")]
    await save({**SCHOOLING_FORM, "talent_card_no": card["number"]})
    sent = await send()
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "submitted"
