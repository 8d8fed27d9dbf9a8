"""`/api/v1/talent/rule-sets`: public reads of the seeded schemes, administrators writing new versions (old ones stay
as they were), activation with If-Match retiring the version before, the audit trail and outbox events, who may do
what, and the field-level problems of an invalid rule set."""

import asyncio
import copy

from sqlalchemy import func, select

from core.audit.models import AuditEvent
from core.events import OutboxEvent
from services.talent.models import TalentRuleSet
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for
from tests.services.talent.conftest import ASSESSMENTS, ORDINARY, RULE_SETS, SEEDED, talent_island

STRICTER = [{"tier": "A", "min": 95}, {"tier": "B", "min": 70}, {"tier": "C", "min": 40}]


async def _rows(db, statement) -> list:
    async with db.transaction(write=False) as session:
        return list((await session.execute(statement)).all())


async def _create(client, admin, document: dict, **headers):
    return await client.post(RULE_SETS, json=document, headers={**admin, **headers})


async def test_the_seeded_schemes_are_public(client) -> None:
    listed = await client.get(RULE_SETS)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [(item["code"], item["version"], item["status"]) for item in body["items"]] == [
        ("compass-like", 1, "active"),
        ("talent-island", 1, "active"),
        ("work-permit-like", 1, "active"),
    ]
    assert body["next_cursor"] is None
    assert body["items"][1]["name"] == "人才岛人才认定标准"  # in Chinese unless the request asks otherwise
    english = await client.get(RULE_SETS, headers={"Accept-Language": "en"})
    assert english.json()["items"][1]["name"] == "Talent Island talent recognition scheme"
    assert english.headers["content-language"] == "en"
    assert "document" not in body["items"][0]  # a list never carries the documents

    active = await client.get(f"{RULE_SETS}/talent-island")
    assert active.status_code == 200, active.text
    read = active.json()
    assert (read["code"], read["version"], read["status"], read["created_by"]) == ("talent-island", 1, "active", "seed")
    # The name is shown in the language asked for; the document is the rule set as written, in both.
    assert read["name"] == "人才岛人才认定标准"
    assert read["document"] == SEEDED["talent-island"]
    assert read["document"]["name"]["en"] == "Talent Island talent recognition scheme"
    assert len(read["document"]["criteria"]) + len(read["document"]["bonus"]["criteria"]) == 30
    assert read["allowed_actions"] == []
    assert active.headers["etag"] == f'"{read["revision"]}"'

    version = await client.get(f"{RULE_SETS}/work-permit-like/versions/1")
    assert version.status_code == 200, version.text
    assert [t["min"] for t in version.json()["document"]["thresholds"]] == [85, 60, 0]


async def test_a_list_pages_by_code_and_version(client) -> None:
    first = await client.get(RULE_SETS, params={"limit": 2})
    assert [item["code"] for item in first.json()["items"]] == ["compass-like", "talent-island"]
    second = await client.get(RULE_SETS, params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert [item["code"] for item in second.json()["items"]] == ["work-permit-like"]
    assert second.json()["next_cursor"] is None
    only = await client.get(RULE_SETS, params={"code": "compass-like"})
    assert [item["code"] for item in only.json()["items"]] == ["compass-like"]


async def test_unknown_schemes_and_versions_are_404(client) -> None:
    assert_problem(await client.get(f"{RULE_SETS}/no-such-scheme"), 404, "rule-set-not-found")
    assert_problem(await client.get(f"{RULE_SETS}/talent-island/versions/9"), 404, "rule-set-not-found")


async def test_an_admin_writes_a_new_version_and_the_old_one_stays(client, db, admin, citizen) -> None:
    before = (await client.get(f"{RULE_SETS}/talent-island/versions/1")).json()

    created = await _create(client, admin, talent_island(thresholds=STRICTER))
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["code"], body["version"], body["status"]) == ("talent-island", 2, "draft")
    assert body["document"]["thresholds"] == STRICTER
    assert body["allowed_actions"] == ["activate"]
    assert body["activated_at"] is None
    assert created.headers["location"] == "/api/v1/talent/rule-sets/talent-island/versions/2"
    assert created.headers["etag"] == f'"{body["revision"]}"'

    # Version 1 is untouched and still the active one; the draft is the administrator's alone.
    assert (await client.get(f"{RULE_SETS}/talent-island/versions/1")).json() == before
    assert (await client.get(f"{RULE_SETS}/talent-island")).json()["version"] == 1
    assert_problem(await client.get(f"{RULE_SETS}/talent-island/versions/2"), 404, "rule-set-not-found")
    assert_problem(await client.get(f"{RULE_SETS}/talent-island/versions/2", headers=citizen), 404)
    draft = await client.get(f"{RULE_SETS}/talent-island/versions/2", headers=admin)
    assert draft.status_code == 200, draft.text
    assert draft.json()["document"]["thresholds"] == STRICTER
    public = await client.get(RULE_SETS, params={"code": "talent-island"})
    assert [item["version"] for item in public.json()["items"]] == [1]
    as_admin = await client.get(RULE_SETS, params={"code": "talent-island"}, headers=admin)
    assert [(item["version"], item["status"]) for item in as_admin.json()["items"]] == [(1, "active"), (2, "draft")]

    # A brand-new scheme starts at version 1.
    other = await _create(client, admin, talent_island(code="talent-island-pilot"))
    assert (other.status_code, other.json()["version"]) == (201, 1)

    audited = await _rows(db, select(AuditEvent.action, AuditEvent.detail).where(AuditEvent.object_id == body["id"]))
    assert audited == [("talent.rule_set.created", {"code": "talent-island", "version": 2})]
    events = await _rows(db, select(OutboxEvent.payload).where(OutboxEvent.subject == f"talent_rule_set:{body['id']}"))
    assert events == [({"code": "talent-island", "version": 2},)]


async def test_activation_switches_what_assessments_use(client, db, admin, citizen) -> None:
    what_if = {"claims": ORDINARY, "as_of": "2026-11-24"}
    under_v1 = await client.post(ASSESSMENTS, json=what_if, headers=citizen)
    assert under_v1.status_code == 200, under_v1.text
    assert (under_v1.json()["rule_set"], under_v1.json()["tier"]) == ({"code": "talent-island", "version": 1}, "B")

    created = await _create(client, admin, talent_island(thresholds=STRICTER))
    # A draft changes nothing for anyone.
    assert (await client.post(ASSESSMENTS, json=what_if, headers=citizen)).json() == under_v1.json()

    activated = await client.post(
        f"{RULE_SETS}/talent-island/versions/2/actions/activate",
        headers={**admin, "If-Match": created.headers["etag"]},
    )
    assert activated.status_code == 200, activated.text
    assert (activated.json()["status"], activated.json()["allowed_actions"]) == ("active", [])
    assert activated.json()["activated_at"] is not None
    assert activated.headers["etag"] != created.headers["etag"]

    under_v2 = await client.post(ASSESSMENTS, json=what_if, headers=citizen)
    assert under_v2.status_code == 200, under_v2.text
    assert under_v2.json()["rule_set"] == {"code": "talent-island", "version": 2}
    assert (under_v2.json()["score"], under_v2.json()["tier"]) == (under_v1.json()["score"], "C")
    assert (await client.get(f"{RULE_SETS}/talent-island")).json()["version"] == 2

    # Version 1 is retired, its document unchanged, and still readable and usable by number.
    old = (await client.get(f"{RULE_SETS}/talent-island/versions/1")).json()
    assert (old["status"], old["document"]) == ("retired", SEEDED["talent-island"])
    assert old["retired_at"] is not None
    pinned = await client.post(ASSESSMENTS, json={**what_if, "version": 1}, headers=citizen)
    assert (pinned.json()["rule_set"]["version"], pinned.json()["tier"]) == (1, "B")

    statuses = await _rows(
        db,
        select(TalentRuleSet.version, TalentRuleSet.status)
        .where(TalentRuleSet.code == "talent-island")
        .order_by(TalentRuleSet.version),
    )
    assert statuses == [(1, "retired"), (2, "active")]
    audited = await _rows(db, select(AuditEvent.detail).where(AuditEvent.action == "talent.rule_set.activated"))
    assert ({"code": "talent-island", "version": 2, "retired_version": 1},) in audited
    events = await _rows(db, select(OutboxEvent.payload).where(OutboxEvent.name == "talent.rule_set.activated"))
    assert events == [({"code": "talent-island", "version": 2, "retired_version": 1},)]

    # Rolling back is activating the old version again.
    old_etag = (await client.get(f"{RULE_SETS}/talent-island/versions/1")).headers["etag"]
    back = await client.post(
        f"{RULE_SETS}/talent-island/versions/1/actions/activate", headers={**admin, "If-Match": old_etag}
    )
    assert (back.status_code, back.json()["status"], back.json()["retired_at"]) == (200, "active", None)
    assert (await client.post(ASSESSMENTS, json=what_if, headers=citizen)).json()["rule_set"]["version"] == 1


async def test_activation_needs_the_current_etag(client, admin) -> None:
    created = await _create(client, admin, talent_island(thresholds=STRICTER))
    url = f"{RULE_SETS}/talent-island/versions/2/actions/activate"
    assert_problem(await client.post(url, headers=admin), 428, "precondition-required")
    stale = await client.post(url, headers={**admin, "If-Match": '"99"'})
    assert_problem(stale, 412, "precondition-failed")
    assert stale.headers["etag"] == created.headers["etag"]
    assert (await client.get(f"{RULE_SETS}/talent-island")).json()["version"] == 1

    current = (await client.get(f"{RULE_SETS}/talent-island/versions/1")).headers["etag"]
    again = await client.post(
        f"{RULE_SETS}/talent-island/versions/1/actions/activate", headers={**admin, "If-Match": current}
    )
    body = assert_problem(again, 409, "rule-set-already-active")
    assert body["detail"] == "talent-island version 1 is already active."
    missing = await client.post(
        f"{RULE_SETS}/talent-island/versions/7/actions/activate", headers={**admin, "If-Match": "*"}
    )
    assert_problem(missing, 404, "rule-set-not-found")


async def test_only_administrators_write(client, db, citizen, talent, officer, partner, app) -> None:
    document = talent_island(thresholds=STRICTER)
    activate = f"{RULE_SETS}/talent-island/versions/1/actions/activate"
    for headers in (citizen, talent, officer):
        refused = assert_problem(await client.post(RULE_SETS, json=document, headers=headers), 403)
        assert refused["type"].endswith("insufficient-scope")
        assert_problem(await client.post(activate, headers={**headers, "If-Match": "*"}), 403)
    assert_problem(await client.post(RULE_SETS, json=document, headers=partner), 403)
    # The admin scope without the admin role (or the role without the scope) is not enough either.
    admin_without_scope = bearer(await token_for(app, "admin", "openid profile"))
    assert_problem(await client.post(RULE_SETS, json=document, headers=admin_without_scope), 403, "insufficient-scope")

    anonymous = assert_problem(await client.post(RULE_SETS, json=document), 401, "unauthorized")
    assert anonymous["detail"] == "Send an access token: Authorization: Bearer <token>."
    assert_problem(await client.post(activate, headers={"If-Match": "*"}), 401)
    assert_problem(await client.post(RULE_SETS, json=document, headers={"Authorization": "Bearer nonsense"}), 401)

    count = await _rows(db, select(func.count()).select_from(TalentRuleSet))
    assert count == [(3,)]


async def test_a_retried_create_with_the_same_key_writes_one_version(client, db, admin) -> None:
    document = talent_island(thresholds=STRICTER)
    first = await _create(client, admin, document, **{"Idempotency-Key": "rules-2026-11-24"})
    replay = await _create(client, admin, document, **{"Idempotency-Key": "rules-2026-11-24"})
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    versions = await _rows(db, select(TalentRuleSet.version).where(TalentRuleSet.code == "talent-island"))
    assert sorted(versions) == [(1,), (2,)]


async def test_versions_written_at_the_same_moment_are_all_kept_numbered_in_turn(client, db, admin) -> None:
    """Read side by side, they were numbered alike and all but one failed on the key with a bare 409."""
    document = talent_island(thresholds=STRICTER)
    written = await asyncio.gather(*(_create(client, admin, document) for _ in range(5)))
    assert [response.status_code for response in written] == [201] * 5, [r.text for r in written]
    assert sorted(response.json()["version"] for response in written) == [2, 3, 4, 5, 6]


def _errors(response) -> dict[str, str]:
    body = assert_problem(response, 422)
    return {error["field"]: error["code"] for error in body["errors"]}


async def test_an_invalid_rule_set_is_a_field_level_422(client, db, admin) -> None:
    document = talent_island()
    document["criteria"][6]["bands"][1]["min"] = 30  # age: 30-46 overlaps 18-36
    document["criteria"][1]["code"] = "education_level"  # the first criterion's code
    document["thresholds"][1]["min"] = 90  # B above A
    document["criteria"][8]["where"] = {"colour": "blue"}  # salaries have no colour
    document["direct_routes"][0]["tier"] = "S"
    document["criteria"][15]["bands"] = [{"min": 1, "points": 2}]  # both bands and per_unit
    document["criteria"][0]["bands"][1]["levels"] = ["master", "doctorate"]  # doctorate is already in band 0
    document["bonus"]["criteria"][1]["where"]["level"] = "professor"
    response = await _create(client, admin, document)
    assert response.json()["type"] == "urn:talent-island:problem:rule-set-invalid"
    assert _errors(response) == {
        "criteria.0.bands.1.levels.1": "overlap",
        "criteria.1.code": "duplicate",
        "criteria.6.bands.1": "overlap",
        "criteria.8.where.colour": "unknown_field",
        "criteria.15.bands": "bands_or_per_unit",
        "bonus.criteria.1.where.level": "unknown_value",
        "thresholds.1.min": "not_descending",
        "direct_routes.0.tier": "unknown_tier",
    }
    assert all(error["location"] == "body" for error in response.json()["errors"])
    assert await _rows(db, select(func.count()).select_from(TalentRuleSet)) == [(3,)]


async def test_a_misshapen_rule_set_is_a_field_level_422(client, admin) -> None:
    document = talent_island()
    document["criteria"][0]["claim"] = "horoscope"  # not a claim kind
    document["criteria"][2]["derive"] = "average"
    document["criteria"][3]["bands"][0]["points"] = -5
    document["unexpected"] = True
    errors = _errors(await _create(client, admin, document))
    assert errors == {
        "criteria.0.claim": "literal_error",
        "criteria.2.derive": "literal_error",
        "criteria.3.bands.0.points": "greater_than_equal",
        "unexpected": "extra_forbidden",
    }

    wrong_derivations = talent_island()
    wrong_derivations["criteria"][7]["derive"] = "age"  # the salary criterion
    wrong_derivations["criteria"][0]["field"] = "institution"  # not a level field
    wrong_derivations["criteria"][9]["relative_to"] = "nothing"  # employment years relative to nothing
    wrong_derivations["direct_routes"][1]["when"][0]["at_least"] = "national"  # a salary has no level
    errors = _errors(await _create(client, admin, wrong_derivations))
    assert errors == {
        "criteria.7.derive": "not_applicable",
        "criteria.7.field": "not_applicable",
        "criteria.7.relative_to": "not_applicable",
        "criteria.0.field": "unknown_field",
        "criteria.9.relative_to": "not_applicable",
        "direct_routes.1.when.0.at_least": "not_applicable",
    }

    too_big = copy.deepcopy(talent_island())
    too_big["criteria"] = too_big["criteria"] * 5  # 120 criteria
    assert _errors(await _create(client, admin, too_big)) == {"criteria": "too_long"}
