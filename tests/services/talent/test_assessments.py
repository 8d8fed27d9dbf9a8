"""`POST /api/v1/talent/assessments`: any signed-in person's what-if, with the breakdown, against the active version
or a named one; only claims marked verified count; nothing is written; bounded, strict input."""

import pytest
from sqlalchemy import event, func, select

from services.talent.models import TalentRuleSet
from services.talent.service import RuleSetCache
from tests.databases import take_snapshot
from tests.helpers import assert_problem
from tests.services.talent.conftest import ASSESSMENTS, ORDINARY, RULE_SETS, STRONG, talent_island

AS_OF = "2026-11-24"


async def test_a_citizen_gets_the_tier_and_the_breakdown_and_nothing_is_written(client, db, citizen) -> None:
    before = await take_snapshot(db)
    response = await client.post(ASSESSMENTS, json={"claims": ORDINARY, "as_of": AS_OF}, headers=citizen)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["rule_set"] == {"code": "talent-island", "version": 1}
    assert (body["score"], body["tier"], body["route"], body["points_tier"]) == (67, "B", "points", "B")
    assert (body["as_of"], body["direct_routes"]) == (AS_OF, [])
    assert len(body["breakdown"]) == 30
    assert sum(line["points"] for line in body["breakdown"]) == body["score"]
    lines = {line["code"]: line for line in body["breakdown"]}
    assert lines["salary_level"] == {
        "code": "salary_level",
        "name": "年薪（相对本地平均工资）",  # in Chinese unless the request asks otherwise
        "group": "criterion",
        "value": 2.5,
        "band": {"index": 1, "label": "2 ≤ value < 3"},
        "earned": 10,
        "points": 10,
    }
    assert (lines["age"]["value"], lines["age"]["points"]) == (32, 15)
    assert lines["bonus_multiple_degrees"]["group"] == "bonus"

    for _ in range(3):  # and again, from the cache
        again = await client.post(ASSESSMENTS, json={"claims": ORDINARY, "as_of": AS_OF}, headers=citizen)
        assert again.json() == body
    assert await take_snapshot(db) == before


@pytest.mark.parametrize(
    ("ask", "name"),
    [
        ({"headers": {"Accept-Language": "en"}}, "Annual salary (times the local average)"),
        ({"params": {"lang": "zh-CN"}}, "年薪（相对本地平均工资）"),
        (
            {"params": {"lang": "all"}},
            {"zh-CN": "年薪（相对本地平均工资）", "en": "Annual salary (times the local average)"},
        ),
    ],
)
async def test_the_breakdown_is_named_in_the_language_asked_for(client, citizen, ask, name) -> None:
    request = {"claims": ORDINARY, "as_of": AS_OF}
    plain = (await client.post(ASSESSMENTS, json=request, headers=citizen)).json()
    for _ in range(2):  # the lines' cached JSON is kept per language
        response = await client.post(
            ASSESSMENTS, json=request, headers={**citizen, **ask.get("headers", {})}, params=ask.get("params")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        lines = {line["code"]: line for line in body["breakdown"]}
        assert lines["salary_level"]["name"] == name
        assert response.headers["vary"] == "Accept-Language"
        # Only the names differ.
        unnamed = [{**line, "name": None} for line in body["breakdown"]]
        assert unnamed == [{**line, "name": None} for line in plain["breakdown"]]
        assert {**body, "breakdown": None} == {**plain, "breakdown": None}


async def test_a_language_it_does_not_have_is_refused_by_name(client, citizen) -> None:
    request = {"claims": ORDINARY, "as_of": AS_OF}
    refused = assert_problem(await client.post(ASSESSMENTS, params={"lang": "fr"}, json=request, headers=citizen), 422)
    assert [(e["location"], e["field"]) for e in refused["errors"]] == [("query", "lang")]


async def test_a_national_award_is_a_direct_route_to_a(client, talent) -> None:
    award = {"kind": "award", "level": "national", "name": "National Science Award", "verified": True}
    born = ORDINARY[0]
    response = await client.post(ASSESSMENTS, json={"claims": [born, award], "as_of": AS_OF}, headers=talent)
    body = response.json()
    # 15 for the age, 20 for the award and 2 for having one: no tier by points, tier A by the route.
    assert (body["score"], body["points_tier"]) == (37, None)
    assert (body["tier"], body["route"]) == ("A", "direct:national_award")
    assert body["direct_routes"] == ["national_award", "provincial_award"]


async def test_unverified_claims_change_nothing(client, citizen) -> None:
    verified_only = await client.post(ASSESSMENTS, json={"claims": ORDINARY, "as_of": AS_OF}, headers=citizen)
    hopeful = [{**claim, "verified": False} for claim in STRONG]
    mixed = await client.post(ASSESSMENTS, json={"claims": [*hopeful, *ORDINARY], "as_of": AS_OF}, headers=citizen)
    assert mixed.json() == verified_only.json()
    nothing = await client.post(ASSESSMENTS, json={"claims": hopeful, "as_of": AS_OF}, headers=citizen)
    body = nothing.json()
    assert (body["score"], body["tier"], body["route"]) == (0, None, "points")
    assert {line["value"] for line in body["breakdown"]} == {None, 0}  # no level, no age; counts of nothing
    assert {line["points"] for line in body["breakdown"]} == {0}


async def test_other_schemes_and_versions(client, citizen, admin) -> None:
    compass = await client.post(
        ASSESSMENTS, json={"claims": STRONG, "rule_set": "compass-like", "as_of": AS_OF}, headers=citizen
    )
    assert (compass.json()["score"], compass.json()["tier"]) == (90, "PASS")
    permit = await client.post(
        ASSESSMENTS, json={"claims": ORDINARY, "rule_set": "work-permit-like", "as_of": AS_OF}, headers=citizen
    )
    assert (permit.json()["rule_set"], permit.json()["tier"]) == ({"code": "work-permit-like", "version": 1}, "B")

    missing = await client.post(ASSESSMENTS, json={"claims": [], "rule_set": "no-such-scheme"}, headers=citizen)
    assert_problem(missing, 404, "rule-set-not-found")
    assert_problem(
        await client.post(ASSESSMENTS, json={"claims": [], "version": 5}, headers=citizen), 404, "rule-set-not-found"
    )

    # A draft is only for administrators to try out.
    created = await client.post(
        RULE_SETS,
        json=talent_island(thresholds=[{"tier": "A", "min": 60}, {"tier": "B", "min": 50}, {"tier": "C", "min": 40}]),
        headers=admin,
    )
    assert created.status_code == 201, created.text
    draft = {"claims": ORDINARY, "version": 2, "as_of": AS_OF}
    assert_problem(await client.post(ASSESSMENTS, json=draft, headers=citizen), 404, "rule-set-not-found")
    tried = await client.post(ASSESSMENTS, json=draft, headers=admin)
    assert tried.status_code == 200, tried.text
    assert (tried.json()["rule_set"]["version"], tried.json()["tier"]) == (2, "A")
    # ...and trying it did not make it the active one.
    assert (await client.post(ASSESSMENTS, json=draft | {"version": None}, headers=citizen)).json()["rule_set"] == {
        "code": "talent-island",
        "version": 1,
    }


async def test_age_is_counted_to_the_date_asked(client, citizen) -> None:
    born = [{"kind": "birth_date", "date": "1990-11-25", "verified": True}]
    young = await client.post(ASSESSMENTS, json={"claims": born, "as_of": "2025-11-24"}, headers=citizen)
    older = await client.post(ASSESSMENTS, json={"claims": born, "as_of": "2026-11-25"}, headers=citizen)
    age = {line["code"]: line for line in young.json()["breakdown"]}["age"]
    assert (age["value"], age["points"]) == (34, 15)
    age = {line["code"]: line for line in older.json()["breakdown"]}["age"]
    assert (age["value"], age["points"]) == (36, 10)
    today = await client.post(ASSESSMENTS, json={"claims": born}, headers=citizen)
    assert today.status_code == 200
    assert today.json()["as_of"] >= "2026-01-01"


async def test_who_may_ask(client, partner, officer) -> None:
    anonymous = assert_problem(await client.post(ASSESSMENTS, json={"claims": ORDINARY}), 401, "unauthorized")
    assert anonymous["detail"] == "Send an access token: Authorization: Bearer <token>."
    system = assert_problem(await client.post(ASSESSMENTS, json={"claims": ORDINARY}, headers=partner), 403)
    assert system["detail"] == "Only a person signed in through an app may do this."
    staff = await client.post(ASSESSMENTS, json={"claims": ORDINARY, "as_of": AS_OF}, headers=officer)
    assert (staff.status_code, staff.json()["tier"]) == (200, "B")


async def test_the_request_is_strict_and_bounded(client, db, citizen) -> None:
    def errors(response) -> dict[str, str]:
        return {error["field"]: error["code"] for error in assert_problem(response, 422)["errors"]}

    degree = {"kind": "education", "level": "master", "institution": "U", "year": 2010, "verified": True}
    too_many = await client.post(ASSESSMENTS, json={"claims": [degree] * 101}, headers=citizen)
    assert errors(too_many) == {"claims": "too_long"}
    unknown = await client.post(ASSESSMENTS, json={"claims": [{**degree, "gpa": 4.0}], "tier": "A"}, headers=citizen)
    assert errors(unknown) == {"claims.0.education.gpa": "extra_forbidden", "tier": "extra_forbidden"}
    bad = await client.post(
        ASSESSMENTS,
        json={
            "claims": [
                {"kind": "age", "value": 30, "verified": True},
                {**degree, "level": "postdoc"},
                {"kind": "salary", "year": 2025, "annual_amount": 1, "monthly_amount": 1, "verified": True},
                {"kind": "employment", "employer": "E", "role": "R", "start": "2020-01-01", "end": "2019-01-01"},
            ]
        },
        headers=citizen,
    )
    assert errors(bad) == {
        "claims.0": "union_tag_invalid",
        "claims.1.education.level": "literal_error",
        "claims.2.salary": "value_error",
        "claims.3.employment.verified": "missing",
    }
    async with db.transaction(write=False) as session:
        assert (await session.execute(select(func.count()).select_from(TalentRuleSet))).scalar() == 3


async def test_a_body_that_is_not_json_is_a_clear_problem(client, citizen) -> None:
    # The route validates its body from the bytes itself (core.http.body): the same problems as FastAPI's parsing.
    as_json = {**citizen, "content-type": "application/json"}
    broken = assert_problem(await client.post(ASSESSMENTS, content=b'{"claims": [', headers=as_json), 400)
    assert (broken["type"].rsplit(":", 1)[1], broken["detail"]) == (
        "malformed-body",
        "Invalid JSON: EOF while parsing a list at line 1 column 12",
    )
    as_text = await client.post(
        ASSESSMENTS, content=b'{"claims": []}', headers={**citizen, "content-type": "text/plain"}
    )
    assert assert_problem(as_text, 415)["detail"] == "Send the body as application/json."
    nothing = assert_problem(await client.post(ASSESSMENTS, content=b"", headers=as_json), 422)
    assert [(e["location"], e["field"], e["code"]) for e in nothing["errors"]] == [("body", "body", "missing")]
    missing = assert_problem(await client.post(ASSESSMENTS, content=b"{}", headers=as_json), 422)
    assert [(e["location"], e["field"], e["code"]) for e in missing["errors"]] == [("body", "claims", "missing")]
    # Validated strictly against the schema: JSON's own types, nothing coerced.
    loose = {"claims": [{"kind": "birth_date", "date": 0, "verified": 0}], "version": "1"}
    coerced = assert_problem(await client.post(ASSESSMENTS, json=loose, headers=citizen), 422)
    assert {(e["field"], e["code"]) for e in coerced["errors"]} == {
        ("claims.0.birth_date.date", "date_type"),
        ("claims.0.birth_date.verified", "bool_type"),
        ("version", "int_type"),
    }
    # A UTF-8 byte order mark is ignored, as json.loads does for every other route.
    marked = await client.post(ASSESSMENTS, content=b'\xef\xbb\xbf{"claims": []}', headers=as_json)
    assert (marked.status_code, marked.json()["score"]) == (200, 0)
    # A JSON media type with parameters or a +json suffix is JSON.
    for media in ("application/json; charset=utf-8", "application/vnd.talent+json"):
        fine = await client.post(ASSESSMENTS, content=b'{"claims": []}', headers={**citizen, "content-type": media})
        assert (fine.status_code, fine.json()["score"]) == (200, 0)


async def test_a_client_gone_mid_body_is_a_400_not_a_server_error(app, citizen) -> None:
    sent: list[dict] = []
    messages = iter([{"type": "http.request", "body": b'{"claims": [', "more_body": True}, {"type": "http.disconnect"}])

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(name.lower().encode(), value.encode()) for name, value in citizen.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": ASSESSMENTS,
        "raw_path": ASSESSMENTS.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400


async def test_a_warm_assessment_reads_no_rule_set(client, db, citizen) -> None:
    statements: list[str] = []

    def seen(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    engines = {db.write_engine.sync_engine, db.engine.sync_engine}
    first = await client.post(ASSESSMENTS, json={"claims": ORDINARY, "as_of": AS_OF}, headers=citizen)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        again = await client.post(ASSESSMENTS, json={"claims": ORDINARY, "as_of": AS_OF}, headers=citizen)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)
    assert again.json() == first.json()
    assert [s for s in statements if "talent_rule_set" in s] == []


def test_the_cache_keeps_entries_for_its_ttl_and_forgets_a_code() -> None:
    document = talent_island()
    cache = RuleSetCache(ttl=60)
    assert cache.get("talent-island", None) is None
    entry = cache.put(status="active", raw=document, version=1, code="talent-island")
    assert cache.get("talent-island", None) is entry
    assert cache.get("talent-island", 1) is entry
    assert cache.get("talent-island", 2) is None
    # Read again with the same document: the compiled form is kept.
    assert cache.put(status="retired", raw=document, version=1, code="talent-island").compiled is entry.compiled
    cache.forget("talent-island")
    assert cache.get("talent-island", 1) is None

    expired = RuleSetCache(ttl=0)
    expired.put(status="active", raw=document, version=1, code="talent-island")
    assert expired.get("talent-island", None) is None
