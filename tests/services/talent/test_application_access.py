"""Object- and function-level authorization of EVERY talent application route, generated from the app's own routes:
another person and a permits officer get 404 (the application's existence is not confirmed), nobody gets in without
a token, a token without a talent scope gets 403, and the applicant taking a staff step gets 403."""

import pytest
from fastapi import routing

from services.talent.workflow import APPLICANT, SYSTEM, TALENT_LIFECYCLE
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for
from tests.services.talent.conftest import APPLICATIONS, act, declare, fetch

PREFIX = "/api/v1/talent/applications/{application_id}"
ENGLISH = {"kind": "language", "language": "en", "level": "B2"}
BODIES = {
    ("POST", PREFIX + "/claims"): ENGLISH,
    ("PUT", PREFIX + "/claims/{claim_id}"): ENGLISH,
    ("POST", PREFIX + "/claims/{claim_id}/verification"): {"decision": "verified", "reason": "seen"},
    ("POST", PREFIX + "/claims/{claim_id}/evidence"): {
        "filename": "a.pdf",
        "media_type": "application/pdf",
        "size": 9,
    },
    ("POST", PREFIX + "/evidence/{evidence_id}/confirm"): {"sha256": "0" * 64},
    ("POST", PREFIX + "/comments"): {"body": "hello"},
}


def talent_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app serves that addresses one talent application."""
    found = []
    for context in routing.iter_route_contexts(app.routes):
        route = getattr(context, "route", context)
        path = getattr(context, "path", getattr(route, "path", ""))
        if path.startswith(PREFIX):
            found += [(method, path) for method in getattr(route, "methods", None) or () if method != "HEAD"]
    assert len(found) >= 10, found  # the test must not pass by finding nothing
    return sorted(found)


@pytest.fixture
async def verifying(client, applicant, officer, worker) -> dict[str, str]:
    """The talent's application, submitted, its employment claim left to the officer, who has claimed it."""
    app_id = (await client.post(APPLICATIONS, json={}, headers=applicant)).json()["id"]
    claim_id = await declare(
        client,
        applicant,
        app_id,
        {"kind": "employment", "employer": "E", "role": "R", "start": "2020-01-01"},
    )
    assert (await act(client, applicant, app_id, "submit")).status_code == 200
    await worker.drain()
    assert (await act(client, officer, app_id, "claim")).status_code == 200
    body = (await fetch(client, applicant, app_id)).json()
    assert body["status"] == "verifying"
    return {
        "application_id": app_id,
        "claim_id": claim_id,
        "evidence_id": body["claims"][0]["evidence"][0]["id"],
        "etag": (await fetch(client, officer, app_id)).headers["etag"],
    }


async def _call(client, method: str, path: str, ids: dict[str, str], headers: dict[str, str]):
    url = path.format(
        application_id=ids["application_id"], claim_id=ids["claim_id"], evidence_id=ids["evidence_id"], action="score"
    )
    return await client.request(
        method,
        url,
        json=BODIES.get((method, path), {}) if method in ("POST", "PUT") else None,
        headers={**headers, "If-Match": ids["etag"]},
    )


async def test_another_person_gets_404_on_every_route(app, client, verifying, other_applicant) -> None:
    for method, path in talent_routes(app):
        response = await _call(client, method, path, verifying, other_applicant)
        assert_problem(response, 404)
        assert response.json()["type"].endswith("talent-application-not-found"), (method, path)


async def test_an_officer_of_another_department_gets_404_on_every_route(
    app, client, verifying, market_supervisor
) -> None:
    market = bearer(await token_for(app, "supervisor.market", "talent:review"))  # the scope, the wrong department
    for headers in (market_supervisor, market):
        for method, path in talent_routes(app):
            response = await _call(client, method, path, verifying, headers)
            assert response.status_code in (403, 404), (method, path, response.text)
            if response.status_code == 404:
                assert response.json()["type"].endswith("talent-application-not-found"), (method, path)


async def test_no_token_is_401_on_every_route(app, client, verifying) -> None:
    for method, path in [*talent_routes(app), ("GET", APPLICATIONS), ("POST", APPLICATIONS)]:
        assert_problem(await _call(client, method, path, verifying, {}), 401)


async def test_a_token_without_a_talent_scope_is_403(app, client, verifying) -> None:
    profile_only = bearer(await token_for(app, "13800000003", "openid profile", client_id="demo-web"))
    for method, path in talent_routes(app):
        assert_problem(await _call(client, method, path, verifying, profile_only), 403)


STAFF_ACTIONS = sorted({t.action for t in TALENT_LIFECYCLE.transitions if t.actor not in (APPLICANT, SYSTEM)})


async def test_the_applicant_gets_403_on_every_staff_step(client, verifying, applicant) -> None:
    assert STAFF_ACTIONS == ["approve", "claim", "reassign", "reject", "request_info", "review", "score"]
    app_id = verifying["application_id"]
    for action in ("claim", "request_info", "score", "reject", "reassign"):  # the ones possible while verifying
        assert_problem(await act(client, applicant, app_id, action, reason="x"), 403)
    verification = await client.post(
        f"{APPLICATIONS}/{app_id}/claims/{verifying['claim_id']}/verification",
        json={"decision": "verified", "reason": "I say so"},
        headers={**applicant, "If-Match": (await fetch(client, applicant, app_id)).headers["etag"]},
    )
    assert_problem(verification, 403)
    after = (await fetch(client, applicant, app_id)).json()
    assert after["status"] == "verifying"
    assert after["claims"][0]["status"] == "pending"


async def test_an_officer_cannot_take_the_supervisors_steps_or_the_applicants(client, verifying, officer) -> None:
    app_id = verifying["application_id"]
    assert_problem(await act(client, officer, app_id, "reject", reason="x"), 403)
    assert_problem(await act(client, officer, app_id, "withdraw"), 403)
    declared = await client.post(f"{APPLICATIONS}/{app_id}/claims", json=ENGLISH, headers=officer)
    assert_problem(declared, 403)


async def test_lists_show_only_what_the_caller_may_see(
    client, verifying, applicant, other_applicant, officer, market_supervisor
) -> None:
    async def ids(headers) -> list[str]:
        return [item["id"] for item in (await client.get(APPLICATIONS, headers=headers)).json()["items"]]

    assert await ids(applicant) == [verifying["application_id"]]
    assert await ids(other_applicant) == []
    assert verifying["application_id"] in await ids(officer)  # with the demo application the seed put in the queue
    assert_problem(await client.get(APPLICATIONS, headers=market_supervisor), 403)  # no talent scope


async def test_a_card_is_seen_by_its_holder_and_the_talent_office_only(client, other_applicant) -> None:
    assert_problem(await client.get("/api/v1/talent/cards/TI-TALENT-2026-000001", headers=other_applicant), 404)
