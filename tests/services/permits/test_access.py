"""Object- and function-level authorization of EVERY permits route, generated from the app's own routes: another
citizen and an officer of another department get 404 (the application's existence is not confirmed), nobody gets in
without a token, a citizen taking an officer's or supervisor's step gets 403, and fields the system owns cannot be
assigned through the API."""

import pytest
from fastapi import routing

from services.permits.workflow import APPLICANT, APPLICATION_LIFECYCLE, SYSTEM
from tests.helpers import assert_problem
from tests.services.permits.conftest import APPLICATIONS, act, create, fetch, upload

PREFIX = "/api/v1/permits/applications/{application_id}"
BODIES = {
    ("PATCH", PREFIX): {"holder_name": "someone"},
    ("POST", PREFIX + "/documents"): {
        "code": "id_card",
        "filename": "a.pdf",
        "media_type": "application/pdf",
        "size": 9,
    },
    ("POST", PREFIX + "/documents/{document_id}/confirm"): {"sha256": "0" * 64},
    ("POST", PREFIX + "/documents/{document_id}/review"): {"decision": "accepted"},
    ("POST", PREFIX + "/comments"): {"body": "hello"},
}


def permit_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app serves that addresses one application."""
    found = []
    for context in routing.iter_route_contexts(app.routes):
        route = getattr(context, "route", context)
        path = getattr(context, "path", getattr(route, "path", ""))
        if path.startswith(PREFIX):
            found += [(method, path) for method in getattr(route, "methods", None) or () if method != "HEAD"]
    assert len(found) >= 12, found  # the test must not pass by finding nothing
    return sorted(found)


@pytest.fixture
async def claimed(app, client, street_vendor, citizen, officer, worker) -> dict[str, str]:
    """Citizen 13800000001's application, submitted and claimed by the market officer, with one document."""
    application = await create(client, citizen)
    confirmed = await upload(client, citizen, application["id"])
    assert (await act(client, citizen, application["id"], "submit")).status_code == 200
    await worker.drain()
    claimed = await act(client, officer, application["id"], "claim")
    assert claimed.status_code == 200, claimed.text
    etag = (await fetch(client, officer, application["id"])).headers["etag"]
    return {"application_id": application["id"], "document_id": confirmed.json()["id"], "etag": etag}


def _url(path: str, ids: dict[str, str]) -> str:
    return path.format(application_id=ids["application_id"], document_id=ids["document_id"], action="claim")


async def _call(client, method: str, path: str, ids: dict[str, str], headers: dict[str, str]):
    return await client.request(
        method,
        _url(path, ids),
        json=BODIES.get((method, path), {}) if method in ("POST", "PATCH") else None,
        headers={**headers, "If-Match": ids["etag"]},
    )


async def test_another_citizen_gets_404_on_every_route(app, client, claimed, other_citizen) -> None:
    for method, path in permit_routes(app):
        response = await _call(client, method, path, claimed, other_citizen)
        assert_problem(response, 404)
        assert response.json()["type"].endswith("application-not-found"), (method, path)


async def test_an_officer_of_another_department_gets_404_on_every_route(app, client, claimed, other_officer) -> None:
    for method, path in permit_routes(app):
        response = await _call(client, method, path, claimed, other_officer)
        assert_problem(response, 404)
        assert response.json()["type"].endswith("application-not-found"), (method, path)


async def test_no_token_is_401_on_every_route(app, client, claimed) -> None:
    for method, path in [*permit_routes(app), ("GET", APPLICATIONS), ("POST", APPLICATIONS)]:
        response = await _call(client, method, path, claimed, {})
        assert_problem(response, 401)


async def test_a_token_without_a_permits_scope_is_403(app, client, claimed) -> None:
    from tests.oauth import bearer, token_for

    profile_only = bearer(await token_for(app, "13800000001", "openid profile"))
    for method, path in permit_routes(app):
        assert_problem(await _call(client, method, path, claimed, profile_only), 403)


STAFF_ACTIONS = sorted({t.action for t in APPLICATION_LIFECYCLE.transitions if t.actor not in (APPLICANT, SYSTEM)})


async def test_the_applicant_gets_403_on_every_staff_step(client, claimed, citizen) -> None:
    assert STAFF_ACTIONS == ["approve", "claim", "pass", "propose_rejection", "reassign", "reject", "request_info"]
    for action in STAFF_ACTIONS:
        response = await act(client, citizen, claimed["application_id"], action, reason="x")
        # 403 where the step exists from this state; 409 where it does not (the state machine answers first)
        assert response.status_code in (403, 409), (action, response.text)
    for action in ("pass", "request_info", "propose_rejection", "reject", "reassign"):
        assert_problem(await act(client, citizen, claimed["application_id"], action, reason="x"), 403)
    review = await client.post(
        f"{APPLICATIONS}/{claimed['application_id']}/documents/{claimed['document_id']}/review",
        json={"decision": "accepted"},
        headers=citizen,
    )
    assert_problem(review, 403)
    assert (await fetch(client, citizen, claimed["application_id"])).json()["status"] == "under_review"


async def test_an_officer_cannot_take_the_supervisors_steps_or_the_applicants(client, claimed, officer) -> None:
    assert_problem(await act(client, officer, claimed["application_id"], "reject", reason="x"), 403)
    assert_problem(await act(client, officer, claimed["application_id"], "withdraw"), 403)
    internal = await client.post(f"{APPLICATIONS}/{claimed['application_id']}/payment", headers=officer)
    assert_problem(internal, 403)


async def test_lists_show_only_what_the_caller_may_see(
    client, claimed, street_vendor, citizen, other_citizen, officer, other_officer
) -> None:
    async def ids(headers) -> list[str]:
        # the service filter leaves out the demo applications the seed put in the market queue
        response = await client.get(APPLICATIONS, headers=headers, params={"service": street_vendor})
        return [item["id"] for item in response.json()["items"]]

    assert await ids(citizen) == [claimed["application_id"]]
    assert await ids(other_citizen) == []
    assert await ids(officer) == [claimed["application_id"]]
    assert await ids(other_officer) == []


@pytest.mark.parametrize(
    "field", [{"status": "issued"}, {"applicant_id": "00000000-0000-0000-0000-000000000001"}, {"department": "housing"}]
)
async def test_fields_the_system_owns_cannot_be_assigned(client, street_vendor, citizen, field) -> None:
    created = await client.post(
        APPLICATIONS, json={"service_code": street_vendor, "form": {}, **field}, headers=citizen
    )
    body = assert_problem(created, 422)
    assert [e["field"] for e in body["errors"]] == [next(iter(field))]
    application = await create(client, citizen)
    etag = (await fetch(client, citizen, application["id"])).headers["etag"]
    patched = await client.patch(
        f"{APPLICATIONS}/{application['id']}", json=field, headers={**citizen, "If-Match": etag}
    )
    assert_problem(patched, 422)
    after = (await fetch(client, citizen, application["id"])).json()
    assert (after["status"], after["department"]) == ("draft", "market")
    listed = (await client.get(APPLICATIONS, headers=citizen)).json()["items"]
    assert len(listed) == 1  # the refused create left nothing behind
