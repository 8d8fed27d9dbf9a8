"""Function-level authorization of EVERY `/api/v1/me` route, generated from the app's own routes: these are a
person's own things, so nobody gets in without a token and a partner system's token (a client acting as itself)
gets 403. Which person's rows a route reaches is each route's own test (consents, mandates, notifications)."""

import uuid

from fastapi import routing

from tests.helpers import assert_problem
from tests.oauth import bearer, client_token

PREFIX = "/api/v1/me"
IDS = {"client_id": "demo-web", "notification_id": str(uuid.uuid4())}


def me_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) the app serves under /api/v1/me."""
    found = []
    for context in routing.iter_route_contexts(app.routes):
        route = getattr(context, "route", context)
        path = getattr(context, "path", getattr(route, "path", ""))
        if path == PREFIX or path.startswith(PREFIX + "/"):
            found += [(method, path) for method in getattr(route, "methods", None) or () if method != "HEAD"]
    assert {("GET", f"{PREFIX}/consents"), ("DELETE", f"{PREFIX}/consents/{{client_id}}")} <= set(found), found
    return sorted(found)


async def _call(client, method: str, path: str, headers: dict[str, str]):
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, path.format(**IDS), json=body, headers={**headers, "If-Match": '"1"'})


async def test_no_token_is_401_on_every_me_route(app, client) -> None:
    for method, path in me_routes(app):
        response = await _call(client, method, path, {})
        assert response.status_code == 401, (method, path, response.text)
        assert_problem(response, 401)


async def test_a_partner_systems_token_is_403_on_every_me_route(app, client) -> None:
    partner = bearer(await client_token(app, "demo-partner", "partner:read partner:submit webhooks:manage"))
    for method, path in me_routes(app):
        response = await _call(client, method, path, partner)
        assert response.status_code == 403, (method, path, response.text)
        assert_problem(response, 403)
