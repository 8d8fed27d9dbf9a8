"""Found in review: a talent card only from a scheme that issues them, of a tier the catalogue knows and earned with
points; a sponsor renews only cards it filed for; abandoned or refused evidence does not use up a claim's places;
the history's readers land in the access log."""

import hashlib
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from core import sla
from core.models import utcnow
from services.talent.models import TalentApplication, TalentEvidence
from tests.calendar import PUBLISHED
from tests.helpers import all_pages, assert_problem
from tests.services.talent.conftest import APPLICATIONS, ASSESSMENTS, PDF, RULE_SETS, act, declare, fetch, talent_island
from tests.services.talent.test_application_rules import RANKED_MASTER, _to_card

DEGREE = {**RANKED_MASTER, "institution_rank": None}  # the registry verifies it alone
BIRTH = {"kind": "birth_date", "date": "1950-01-01"}
JOB = {"kind": "employment", "employer": "E", "role": "R", "start": "2020-01-01"}


def _errors(response) -> dict[str, str]:
    return {error["field"]: error["code"] for error in assert_problem(response, 422)["errors"]}


async def _count(db, model, *where) -> int:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def _set(db, model, key: str, **values) -> None:
    async with db.transaction() as session:
        await session.execute(update(model).where(model.id == uuid.UUID(key)).values(**values))


# -- 1. only a card-issuing scheme, tiers the catalogue knows --------------------------------------------------------


async def test_one_applies_only_under_a_scheme_that_issues_talent_cards(client, db, applicant) -> None:
    before = await _count(db, TalentApplication)
    refused = await client.post(APPLICATIONS, json={"rule_set": "work-permit-like"}, headers=applicant)
    assert _errors(refused) == {"rule_set": "no_card"}
    assert await _count(db, TalentApplication) == before
    # The reference schemes stay for the what-if.
    what_if = await client.post(
        ASSESSMENTS, json={"rule_set": "work-permit-like", "claims": [{**BIRTH, "verified": True}]}, headers=applicant
    )
    assert what_if.status_code == 200, what_if.text
    assert what_if.json()["tier"] == "C"


async def test_a_draft_made_under_a_reference_scheme_is_not_sent(client, db, applicant) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, app_id, BIRTH, evidence=False)
    await _set(db, TalentApplication, app_id, rule_set="work-permit-like")  # as drafted before it was refused
    refused = assert_problem(await act(client, applicant, app_id, "submit"), 409)
    assert [error["code"] for error in refused["errors"]] == ["no_card"]
    assert (await fetch(client, applicant, app_id)).json()["status"] == "draft"


async def test_a_card_approved_under_a_reference_scheme_unlocks_no_benefit(
    client, db, applicant, officer, supervisor, worker
) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, app_id, DEGREE)
    card = await _to_card(client, worker, applicant, officer, supervisor, app_id)
    assert card["benefits"]
    await _set(db, TalentApplication, app_id, rule_set="work-permit-like")  # as approved before it was refused
    again = await client.get(f"/api/v1/talent/cards/{card['number']}", headers=applicant)
    assert again.json()["benefits"] == []
    benefit = await client.post(
        "/api/v1/permits/applications",
        json={"service_code": card["benefits"][0]["code"], "form": {"talent_card_no": card["number"]}},
        headers=applicant,
    )
    assert_problem(benefit, 422)


async def test_a_card_schemes_tiers_are_the_catalogues_and_earned_with_points(client, admin) -> None:
    unknown = talent_island(thresholds=[{"tier": "S", "min": 85}, {"tier": "B", "min": 60}, {"tier": "C", "min": 40}])
    unknown["direct_routes"] = []
    assert _errors(await client.post(RULE_SETS, json=unknown, headers=admin)) == {
        "thresholds.0.tier": "not_a_card_tier"
    }
    free = talent_island(thresholds=[{"tier": "A", "min": 85}, {"tier": "B", "min": 60}, {"tier": "C", "min": 0}])
    assert _errors(await client.post(RULE_SETS, json=free, headers=admin)) == {"thresholds.2.min": "free_tier"}
    # Points for nothing: a band that pays for having no patent at all gives tier C to anyone.
    bribe = talent_island(thresholds=[{"tier": "A", "min": 85}, {"tier": "B", "min": 60}, {"tier": "C", "min": 5}])
    bribe["criteria"].append(
        {"code": "no_patent", "name": {"zh-CN": "无", "en": "None"}, "claim": "patent", "derive": "count"}
        | {"bands": [{"below": 1, "points": 5}]}
    )
    assert _errors(await client.post(RULE_SETS, json=bribe, headers=admin)) == {"thresholds.2.min": "free_tier"}
    # A reference scheme says what it says (China's class C is from 0 points), in names of its own.
    reference = {**talent_island(), "code": "work-permit-like"}
    reference["thresholds"] = [{"tier": "S", "min": 85}, {"tier": "B", "min": 60}, {"tier": "C", "min": 0}]
    reference["direct_routes"] = []
    assert (await client.post(RULE_SETS, json=reference, headers=admin)).status_code == 201


async def test_a_threshold_above_the_most_points_there_are_is_refused(client, admin) -> None:
    document = {
        "code": "tiny",
        "name": {"zh-CN": "小", "en": "Tiny"},
        "criteria": [
            {"code": "english", "name": {"zh-CN": "英", "en": "English"}, "claim": "language"}
            | {"derive": "best_level", "field": "level", "bands": [{"levels": ["C2"], "points": 6}]},
            {"code": "patents", "name": {"zh-CN": "专", "en": "Patents"}, "claim": "patent", "derive": "count"}
            | {"per_unit": 5, "cap": 3},
        ],
        "bonus": {
            "cap": 1,
            "criteria": [
                {"code": "books", "name": {"zh-CN": "书", "en": "Books"}, "claim": "publication", "derive": "count"}
                | {"per_unit": 2}
            ],
        },
        "thresholds": [{"tier": "A", "min": 500}, {"tier": "B", "min": 11}, {"tier": "C", "min": 10}],
    }
    assert _errors(await client.post(RULE_SETS, json=document, headers=admin)) == {
        "thresholds.0.min": "unreachable",
        "thresholds.1.min": "unreachable",
    }
    document["thresholds"] = [{"tier": "A", "min": 10}]  # 6 + 3 + the bonus's 1
    assert (await client.post(RULE_SETS, json=document, headers=admin)).status_code == 201


# -- 2. a sponsor renews only what it filed ---------------------------------------------------------------------------


async def test_a_sponsor_renews_only_a_card_it_filed_for_and_cannot_tell_others_exist(
    client, db, applicant, sponsor, officer, supervisor, worker
) -> None:
    me = (await client.get("/api/v1/me", headers=applicant)).json()["id"]
    own_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, own_id, DEGREE)
    own = await _to_card(client, worker, applicant, officer, supervisor, own_id)

    out_of_reach = await client.post(APPLICATIONS, json={"on_behalf_of": me, "renews": own["number"]}, headers=sponsor)
    missing = "TI-TALENT-2099-999999"
    unknown = await client.post(APPLICATIONS, json={"on_behalf_of": me, "renews": missing}, headers=sponsor)
    assert assert_problem(out_of_reach, 422)["errors"] == assert_problem(unknown, 422)["errors"]
    assert out_of_reach.json()["detail"].replace(own["number"], missing) == unknown.json()["detail"]
    assert await _count(db, TalentApplication, TalentApplication.sponsored_by_client.is_not(None)) == 0

    # A card it filed for, it renews (the citizen consented to those claims being its to see).
    filed_id = (await client.post(APPLICATIONS, json={"on_behalf_of": me}, headers=sponsor)).json()["id"]
    await declare(client, sponsor, filed_id, DEGREE)
    filed = await _to_card(client, worker, applicant, officer, supervisor, filed_id)
    renewal = await client.post(APPLICATIONS, json={"on_behalf_of": me, "renews": filed["number"]}, headers=sponsor)
    assert renewal.status_code == 201, renewal.text
    assert [claim["kind"] for claim in renewal.json()["claims"]] == ["education"]


# -- 3. evidence places -----------------------------------------------------------------------------------------------


async def _start(client, headers, app_id: str, claim_id: str) -> dict:
    started = await client.post(
        f"{APPLICATIONS}/{app_id}/claims/{claim_id}/evidence",
        json={"filename": "a.pdf", "media_type": "application/pdf", "size": len(PDF)},
        headers=headers,
    )
    assert started.status_code == 201, started.text
    return started.json()


async def _put(client, started: dict, content: bytes) -> None:
    target = started["upload"]
    put = await client.request(target["method"], target["url"], content=content, headers=target["headers"])
    assert put.status_code == 200, put.text


async def _confirm(client, headers, app_id: str, started: dict, content: bytes):
    return await client.post(
        f"{APPLICATIONS}/{app_id}/evidence/{started['evidence']['id']}/confirm",
        json={"sha256": hashlib.sha256(content).hexdigest()},
        headers=headers,
    )


async def _delete(client, headers, app_id: str, evidence_id: str, *, etag: bool = True):
    current = (await fetch(client, headers, app_id)).headers["etag"]
    url = f"{APPLICATIONS}/{app_id}/evidence/{evidence_id}"
    return await client.delete(url, headers={**headers, **({"If-Match": current} if etag else {})})


async def test_an_upload_never_confirmed_holds_its_place_only_while_its_url_can_bring_a_file(
    app, client, db, applicant
) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    claim_id = await declare(client, applicant, app_id, DEGREE, evidence=False)
    abandoned = [await _start(client, applicant, app_id, claim_id) for _ in range(5)]
    full = await client.post(
        f"{APPLICATIONS}/{app_id}/claims/{claim_id}/evidence",
        json={"filename": "a.pdf", "media_type": "application/pdf", "size": len(PDF)},
        headers=applicant,
    )
    assert_problem(full, 422)
    # The URLs expire: the places are free again.
    window = timedelta(seconds=app.state.settings.upload_url_ttl + 1)
    for started in abandoned:
        await _set(db, TalentEvidence, started["evidence"]["id"], created_at=utcnow() - window)
    late = abandoned[0]
    await _put(client, late, PDF)  # a file that arrived in time, never confirmed
    for _ in range(5):
        fresh = await _start(client, applicant, app_id, claim_id)
        await _put(client, fresh, PDF)
        assert (await _confirm(client, applicant, app_id, fresh, PDF)).status_code == 200
    # Confirming the late one now would make six.
    assert_problem(await _confirm(client, applicant, app_id, late, PDF), 422)
    assert await _count(db, TalentEvidence, TalentEvidence.status == "uploaded") == 5


async def test_a_refused_file_is_sent_again_or_deleted_and_its_place_freed(client, db, applicant, worker, app) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    claim_id = await declare(client, applicant, app_id, DEGREE, evidence=False)
    refused = await _start(client, applicant, app_id, claim_id)
    await _put(client, refused, b"not a PDF at all")
    assert_problem(await _confirm(client, applicant, app_id, refused, b"not a PDF at all"), 415)
    # Its URL still takes the right file.
    await _put(client, refused, PDF)
    assert (await _confirm(client, applicant, app_id, refused, PDF)).status_code == 200

    others = [await _start(client, applicant, app_id, claim_id) for _ in range(4)]
    await _put(client, others[0], b"not a PDF either")
    assert_problem(await _confirm(client, applicant, app_id, others[0], b"not a PDF either"), 415)
    assert_problem(await _delete(client, applicant, app_id, others[0]["evidence"]["id"], etag=False), 428)
    malformed = assert_problem(await _delete(client, applicant, app_id, "not-an-id"), 422)
    assert [(e["location"], e["field"]) for e in malformed["errors"]] == [("path", "evidence_id")]
    stale = f"{APPLICATIONS}/{app_id}/evidence/{others[0]['evidence']['id']}"
    assert_problem(await client.delete(stale, headers={**applicant, "If-Match": '"1"'}), 412)
    before = (await fetch(client, applicant, app_id)).json()["version"]
    deleted = await _delete(client, applicant, app_id, others[0]["evidence"]["id"])
    assert deleted.status_code == 200, deleted.text
    # The answer is the application as it now is: its new version (the next If-Match), the document gone.
    assert deleted.json()["version"] == before + 1
    assert deleted.headers["etag"] == f'"{before + 1}"'
    held = [e["id"] for c in deleted.json()["claims"] for e in c["evidence"]]
    assert others[0]["evidence"]["id"] not in held
    assert others[1]["evidence"]["id"] in held
    assert await _count(db, TalentEvidence, TalentEvidence.id == uuid.UUID(others[0]["evidence"]["id"])) == 0
    await _start(client, applicant, app_id, claim_id)  # the fifth place, free again

    # An uploaded file deleted leaves storage (through the worker, after the commit).
    storage = app.state.cloud.cloud.storage
    key = f"talent/{app_id}/{refused['evidence']['id']}"
    assert await storage.head(key) is not None
    assert (await _delete(client, applicant, app_id, refused["evidence"]["id"])).status_code == 200
    await worker.drain()
    assert await storage.head(key) is None


async def test_evidence_a_verified_claim_rests_on_and_evidence_under_review_stay(
    client, applicant, worker, officer
) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    degree = await declare(client, applicant, app_id, DEGREE)
    job = await declare(client, applicant, app_id, JOB)  # no registry holds it: it waits for the officer

    def evidence_of(body: dict, claim_id: str) -> str:
        return next(claim for claim in body["claims"] if claim["id"] == claim_id)["evidence"][0]["id"]

    body = (await fetch(client, applicant, app_id)).json()
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    assert_problem(await _delete(client, applicant, app_id, evidence_of(body, degree)), 409)  # submitted
    await worker.drain()
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    before = utcnow()
    assert (await act(client, officer, app_id, "request_info", reason="Add your payslips.")).status_code == 200
    body = (await fetch(client, applicant, app_id)).json()
    # The default 14 days, to the end of a working day in China (a day off moves it on: Civil Code art. 203).
    due = datetime.fromisoformat(body["answer_due_at"])
    assert due in {sla.answer_by(moment, 14, PUBLISHED) for moment in (before, utcnow())}
    statuses = {claim["id"]: claim["status"] for claim in body["claims"]}
    assert (body["status"], statuses[degree], statuses[job]) == ("awaiting_applicant", "verified", "pending")
    assert_problem(await _delete(client, applicant, app_id, evidence_of(body, degree)), 409)
    assert (await _delete(client, applicant, app_id, evidence_of(body, job))).status_code == 200


# -- 5. the history is logged as the application is -------------------------------------------------------------------


async def test_staff_and_sponsor_reads_of_the_history_land_in_the_access_log(
    client, applicant, sponsor, officer
) -> None:
    me = (await client.get("/api/v1/me", headers=applicant)).json()["id"]
    app_id = (await client.post(APPLICATIONS, json={"on_behalf_of": me}, headers=sponsor)).json()["id"]
    await declare(client, applicant, app_id, DEGREE)
    assert (await act(client, applicant, app_id, "submit")).status_code == 200

    async def entries() -> list[dict]:
        return await all_pages(client, "/api/v1/me/access-log", applicant, limit=100)

    for reader in (officer, sponsor):
        before = len(await entries())
        history = await client.get(f"{APPLICATIONS}/{app_id}/history", headers=reader)
        assert history.status_code == 200, history.text
        logged = await entries()
        assert len(logged) == before + 1
        assert any(entry["object_id"] == app_id for entry in logged)
    before = len(await entries())
    assert (await client.get(f"{APPLICATIONS}/{app_id}/history", headers=applicant)).status_code == 200
    assert len(await entries()) == before  # one's own reads are not


async def test_confirmed_evidence_gives_the_applications_new_version_for_its_next_step(client, applicant) -> None:
    """Confirming evidence moves the application's version; the answer says the new one, so deleting that evidence
    (or any step) can follow with no read in between."""
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    claim_id = await declare(client, applicant, app_id, DEGREE, evidence=False)
    before = (await fetch(client, applicant, app_id)).json()["version"]
    started = await _start(client, applicant, app_id, claim_id)
    await _put(client, started, PDF)
    confirmed = await _confirm(client, applicant, app_id, started, PDF)
    version = confirmed.json()["application_version"]
    assert version == before + 1
    assert (await fetch(client, applicant, app_id)).headers["etag"] == f'"{version}"'
    assert (await _confirm(client, applicant, app_id, started, PDF)).json()["application_version"] == version
    url = f"{APPLICATIONS}/{app_id}/evidence/{started['evidence']['id']}"
    deleted = await client.delete(url, headers={**applicant, "If-Match": f'"{version}"'})
    assert (deleted.status_code, deleted.headers["etag"]) == (200, f'"{version + 1}"')
