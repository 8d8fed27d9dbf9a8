"""Talent registration end to end over HTTP with real tokens: claims with evidence, verification through the mock
cloud's registries (a degree it cannot verify included), an officer's verification, scoring with its breakdown,
review, approval at tier B, the card issued and verified publicly, the benefit drafts it opens, and a rule-set change
that leaves the scored application alone."""

import uuid

import pytest
from sqlalchemy import select

from services.talent.models import TalentClaim
from tests.helpers import assert_problem
from tests.services.talent.conftest import (
    APPLICATIONS,
    DEGREE_MASTER_2019,
    DEGREE_UNVERIFIABLE,
    RULE_SETS,
    act,
    declare,
    fetch,
    talent_island,
)

BIRTH = {"kind": "birth_date", "date": "1992-03-15"}
MASTER = {
    "kind": "education",
    "level": "master",
    "institution": "Sun Yat-sen University",
    "country": "CN",
    "year": 2019,
    "certificate_no": DEGREE_MASTER_2019,
}
DOCTORATE = {
    "kind": "education",
    "level": "doctorate",
    "institution": "Sun Yat-sen University",
    "country": "CN",
    "year": 2024,
    "certificate_no": DEGREE_UNVERIFIABLE,
}
JOB = {
    "kind": "employment",
    "employer": "Jiangmen Foods",
    "role": "Quality manager",
    "start": "2019-07-01",
    "country": "CN",
    "region": "jiangmen",
}
SALARY = {"kind": "salary", "year": 2025, "annual_amount": 240000}
ENGLISH = {"kind": "language", "language": "en", "level": "B2"}


def _claims(body: dict) -> dict[str, dict]:
    return {f"{claim['kind']}:{claim['data'].get('level', '')}": claim for claim in body["claims"]}


async def test_a_talent_registration_from_claims_to_card_and_benefits(
    app, client, db, applicant, officer, supervisor, admin, worker
) -> None:
    created = await client.post(APPLICATIONS, json={}, headers={**applicant, "Idempotency-Key": "talent-e2e-1"})
    assert created.status_code == 201, created.text
    application = created.json()
    app_id = application["id"]
    assert application["reference"].startswith("TI-T-")
    assert application["status"] == "draft"
    assert application["allowed_actions"] == ["declare", "submit", "withdraw"]

    # Claims, each with its evidence (a birth date needs none: the verified ID number says it).
    await declare(client, applicant, app_id, BIRTH, evidence=False)
    for claim in (MASTER, DOCTORATE, JOB, SALARY, ENGLISH):
        await declare(client, applicant, app_id, claim)
    refused = await client.post(
        f"{APPLICATIONS}/{app_id}/claims", json={**ENGLISH, "verified": True}, headers=applicant
    )
    assert_problem(refused, 422)  # nobody declares their own claim verified

    # The claims are ciphertext at rest: the salary figure is nowhere in the table.
    async with db.transaction(write=False) as session:
        statement = select(TalentClaim.sealed).where(TalentClaim.application_id == uuid.UUID(app_id))
        sealed = (await session.execute(statement)).scalars().all()
    assert len(sealed) == 6
    assert not any("240000" in text for text in sealed)

    assert (await act(client, applicant, app_id, "submit")).json()["status"] == "submitted"
    await worker.drain()  # the registries: birth date, both degrees, the tax record

    held = (await fetch(client, applicant, app_id)).json()
    assert held["status"] == "awaiting_applicant"
    assert "education" in held["question"]
    claims = _claims(held)
    assert claims["birth_date:"]["status"] == "verified"
    assert claims["birth_date:"]["method"] == "registry"
    assert claims["education:master"]["status"] == "verified"
    assert claims["education:doctorate"]["status"] == "unverifiable"
    assert claims["salary:"]["status"] == "verified"
    assert claims["employment:"]["status"] == claims["language:B2"]["status"] == "pending"
    assert "degree registry has no record" in claims["education:doctorate"]["reason"]  # the applicant sees why
    assert held["sla"]["paused"] is True

    # The applicant drops the doctorate they cannot prove, and answers.
    dropped = await client.delete(
        f"{APPLICATIONS}/{app_id}/claims/{claims['education:doctorate']['id']}",
        headers={**applicant, "If-Match": (await fetch(client, applicant, app_id)).headers["etag"]},
    )
    assert dropped.status_code == 200, dropped.text
    assert "education:doctorate" not in _claims(dropped.json())
    answered = await act(client, applicant, app_id, "answer", reason="The doctorate is not conferred yet; dropped.")
    assert answered.json()["status"] == "verifying", answered.text
    await worker.drain()
    assert (await fetch(client, officer, app_id)).json()["status"] == "verifying"  # two claims wait for an officer

    # The talent officer takes it, verifies the employment and the language level, then scores.
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    view = (await fetch(client, officer, app_id)).json()
    assert _claims(view)["salary:"]["data"]["annual_amount"] == 240000  # the reviewing officer sees the figures
    for key in ("employment:", "language:B2"):
        etag = (await fetch(client, officer, app_id)).headers["etag"]
        verified = await client.post(
            f"{APPLICATIONS}/{app_id}/claims/{_claims(view)[key]['id']}/verification",
            json={"decision": "verified", "reason": "Checked the contract and the certificate."},
            headers={**officer, "If-Match": etag},
        )
        assert verified.status_code == 200, verified.text
    scored = await act(client, officer, app_id, "score")
    assert scored.status_code == 200, scored.text
    result = scored.json()["result"]
    assert scored.json()["status"] == "scored"
    assert scored.json()["scored_tier"] == "B"
    assert result["tier"] == "B"
    assert result["rule_set_version"] == 1
    assert sum(line["points"] for line in result["breakdown"]) == result["score"] == scored.json()["score"]
    assert any(line["code"] == "education_level" and line["points"] == 20 for line in result["breakdown"])

    # A new version of the scheme does not touch a scored application.
    stricter = await client.post(
        RULE_SETS,
        json=talent_island(
            thresholds=[{"tier": "A", "min": 150}, {"tier": "B", "min": 140}, {"tier": "C", "min": 130}]
        ),
        headers=admin,
    )
    assert stricter.status_code == 201, stricter.text
    activated = await client.post(
        f"{RULE_SETS}/talent-island/versions/2/actions/activate",
        headers={**admin, "If-Match": stricter.headers["etag"]},
    )
    assert activated.status_code == 200, activated.text
    again = (await fetch(client, officer, app_id)).json()
    assert (again["result"]["rule_set_version"], again["result"]["tier"], again["score"]) == (
        1,
        "B",
        scored.json()["score"],
    )

    # The supervisor sees the figures masked; their read lands in the talent's access log.
    masked = (await fetch(client, supervisor, app_id)).json()
    assert _claims(masked)["salary:"]["data"]["annual_amount"] == "***"
    assert _claims(masked)["salary:"]["masked"]
    assert all(line["value"] == "***" for line in masked["result"]["breakdown"] if line["code"].startswith("salary"))
    # The degree is no secret from the supervisor (its claim shows the level): nor is what it scored.
    education = next(line for line in masked["result"]["breakdown"] if line["code"] == "education_level")
    assert (education["value"], education["points"]) == ("master", 20)
    named = {line["code"]: line["name"] for line in masked["result"]["breakdown"]}
    assert named["salary_level"] == "年薪（相对本地平均工资）"  # the stored breakdown, shown in the language asked for
    log = (await client.get("/api/v1/me/access-log", headers=applicant)).json()["items"]
    assert any(
        entry["object_type"] == "talent_application" and "talent application" in entry["purpose"] for entry in log
    )

    # Review, then approval at tier B, then the card.
    assert_problem(await act(client, supervisor, app_id, "approve"), 409)  # not reviewed yet
    assert (await act(client, officer, app_id, "review", tier="B")).json()["recommended_tier"] == "B"
    approved = await act(client, supervisor, app_id, "approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_tier"] == "B"
    await worker.drain()  # the card, then the benefit drafts it opens
    issued = (await fetch(client, applicant, app_id)).json()
    assert issued["status"] == "card_issued"
    assert issued["sla"]["risk"] == "stopped"
    assert issued["card_number"].startswith("TI-TALENT-")

    card = await client.get(f"/api/v1/talent/cards/{issued['card_number']}", headers=applicant)
    assert card.status_code == 200, card.text
    assert card.json()["tier"] == "B"
    assert card.json()["status"] == "active"
    benefit_codes = {benefit["code"] for benefit in card.json()["benefits"]}
    assert "talent-housing-subsidy" in benefit_codes
    english = await client.get(f"/api/v1/talent/cards/{issued['card_number']}?lang=en", headers=applicant)
    titles = {benefit["code"]: benefit["title"] for benefit in english.json()["benefits"]}
    assert titles["talent-housing-subsidy"] == "Talent Housing Subsidy"
    assert "talent-settlement-allowance" in benefit_codes
    verified = (await client.get("/api/v1/credentials/verify", params={"token": card.json()["token"]})).json()
    assert (verified["integrity"], verified["status"], verified["kind"]) == ("valid", "active", "talent_card")
    assert verified["holder_name"] == "王**"  # public verification shows no full name, nor its length
    assert "王磊" not in str(verified)

    drafts = (await client.get("/api/v1/permits/applications", headers=applicant)).json()["items"]
    # (the demo seed gave this person a few permit applications already)
    opened = {item["service_code"]: item for item in drafts if item["service_code"].startswith("talent-")}
    assert set(opened) == benefit_codes
    housing = (
        await client.get(f"/api/v1/permits/applications/{opened['talent-housing-subsidy']['id']}", headers=applicant)
    ).json()
    assert housing["form"] == {"talent_card_no": issued["card_number"]}

    # A tier B card waives the residence permit's fee (the fund pays it).
    residence = await client.post(
        "/api/v1/permits/applications",
        json={"service_code": "residence-permit", "form": {"requested_months": 24}},
        headers=applicant,
    )
    assert residence.status_code == 201, residence.text
    assert [(line["waiver"], line["due"]) for line in residence.json()["fees"]] == [("talent_island_ab", 0)]

    # A card in force unlocks the benefits; once the supervisor revokes it, they are refused.
    credential = card.json()["credential_id"]
    current = await client.get(f"/api/v1/credentials/{credential}", headers=supervisor)
    revoked = await client.post(
        f"/api/v1/credentials/{credential}/actions/revoke",
        json={"reason": "Left Talent Island"},
        headers={**supervisor, "If-Match": current.headers["etag"]},
    )
    assert revoked.status_code == 200, revoked.text
    verified = (await client.get("/api/v1/credentials/verify", params={"token": card.json()["token"]})).json()
    assert verified["status"] == "revoked"
    refused = await client.post(
        "/api/v1/permits/applications",
        json={"service_code": "talent-housing-subsidy", "form": {}},
        headers=applicant,
    )
    body = assert_problem(refused, 422)
    assert body["errors"][0]["code"] == "tier"
    draft_url = f"/api/v1/permits/applications/{opened['talent-housing-subsidy']['id']}"
    etag = (await client.get(draft_url, headers=applicant)).headers["etag"]
    sent = await client.post(f"{draft_url}/actions/submit", headers={**applicant, "If-Match": etag})
    assert assert_problem(sent, 422)["errors"][0]["code"] == "tier"  # the draft opened by the card cannot go now

    history = (await client.get(f"{APPLICATIONS}/{app_id}/history", headers=applicant)).json()["items"]
    assert [step["action"] for step in history] == [
        "create",
        "submit",
        "verify",
        "hold",
        "answer",
        "claim",
        "score",
        "review",
        "approve",
        "issue_card",
    ]


async def test_a_retried_create_with_the_same_key_makes_one_application(client, applicant) -> None:
    headers = {**applicant, "Idempotency-Key": "talent-create-twice"}
    first = await client.post(APPLICATIONS, json={}, headers=headers)
    second = await client.post(APPLICATIONS, json={}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    listed = (await client.get(APPLICATIONS, headers=applicant)).json()["items"]
    assert [item["id"] for item in listed] == [first.json()["id"]]


async def test_submit_needs_claims_with_evidence_and_leaves_nothing_half_done(client, applicant) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    assert_problem(await act(client, applicant, app_id, "submit"), 409)
    claim_id = await declare(client, applicant, app_id, JOB, evidence=False)
    refused = await act(client, applicant, app_id, "submit")
    body = assert_problem(refused, 409)
    assert [error["field"] for error in body["errors"]] == [f"claims.{claim_id}"]
    after = (await fetch(client, applicant, app_id)).json()
    assert after["status"] == "draft"
    assert after["submitted_at"] is None
    assert after["sla"]["due_at"] is None


async def test_a_tier_other_than_the_recommended_one_needs_a_reason_and_a_known_tier(
    client, applicant, officer, supervisor, worker
) -> None:
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    await declare(client, applicant, app_id, BIRTH, evidence=False)
    await declare(client, applicant, app_id, MASTER)
    await declare(client, applicant, app_id, SALARY)
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()  # every claim answered by a registry: scored at once
    scored = (await fetch(client, officer, app_id)).json()
    assert scored["status"] == "scored"
    assert scored["result"]["tier"] == "C"
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    assert_problem(await act(client, officer, app_id, "review", tier="Z"), 422)
    assert (await act(client, officer, app_id, "review", tier="C")).status_code == 200
    assert_problem(await act(client, supervisor, app_id, "approve", tier="B"), 422)  # no reason
    approved = await act(client, supervisor, app_id, "approve", tier="B", reason="Strategic industry.")
    assert approved.json()["approved_tier"] == "B", approved.text


@pytest.mark.parametrize("field", [{"status": "approved"}, {"applicant_id": "00000000-0000-0000-0000-000000000001"}])
async def test_fields_the_system_owns_cannot_be_assigned(client, applicant, field) -> None:
    body = assert_problem(await client.post(APPLICATIONS, json=field, headers=applicant), 422)
    assert [error["field"] for error in body["errors"]] == [next(iter(field))]
    assert (await client.get(APPLICATIONS, headers=applicant)).json()["items"] == []


async def test_a_sponsoring_employer_files_for_a_citizen_and_sees_the_figures_masked(
    client, applicant, sponsor, other_applicant
) -> None:
    me = (await client.get("/api/v1/me", headers=applicant)).json()
    created = await client.post(APPLICATIONS, json={"on_behalf_of": me["id"]}, headers=sponsor)
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    assert created.json()["sponsored_by_client"] == "demo-partner"
    await declare(client, applicant, app_id, SALARY)  # the citizen sees it as theirs
    sponsor_view = (await fetch(client, sponsor, app_id)).json()
    assert sponsor_view["claims"][0]["data"]["annual_amount"] == "***"
    own_view = (await fetch(client, applicant, app_id)).json()
    assert own_view["claims"][0]["data"]["annual_amount"] == 240000
    assert_problem(await fetch(client, other_applicant, app_id), 404)
