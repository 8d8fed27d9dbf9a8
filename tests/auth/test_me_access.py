"""Function-level authorization of EVERY `/api/v1/me` route, generated from the app's own routes: these are a
person's own things, so nobody gets in without a token and a partner system's token (a client acting as itself)
gets 403; and a person's token gets in only with the scope the consent page named for the route (NEEDS). Which
person's rows a route reaches is each route's own test (consents, mandates, notifications)."""

import uuid

from fastapi import routing

from tests.helpers import assert_problem
from tests.oauth import bearer, client_token, token_for

PREFIX = "/api/v1/me"
IDS = {"client_id": "demo-web", "notification_id": str(uuid.uuid4())}
# The scopes that let a person's token use a route, any one of them: reading the account is what `profile` promises
# ("see your name and preferred language"), the holder's credentials are each kind's applying scope, and everything
# else manages the account (`account`, which only the city's own apps are registered for).
NEEDS = {
    ("GET", PREFIX): {"profile", "account"},
    ("GET", f"{PREFIX}/credentials"): {"account", "permits:apply", "talent:apply"},
}
ACCOUNT = {"account"}


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


async def test_a_persons_token_without_the_routes_scope_is_403_insufficient_scope_on_every_me_route(
    app, client
) -> None:
    """An app the person allowed only to know who they are, or to see their phone, or to file a talent registration,
    reaches nothing else of theirs: 403 insufficient_scope, with the RFC 6750 challenge naming the scope(s) needed."""
    for scopes in ("openid", "openid phone", "openid talent:apply"):
        headers = bearer(await token_for(app, "13800000001", scopes, client_id="demo-web"))
        for method, path in me_routes(app):
            needed = NEEDS.get((method, path), ACCOUNT)
            if needed & set(scopes.split()):
                continue
            response = await _call(client, method, path, headers)
            body = assert_problem(response, 403, "insufficient-scope")
            assert set(body["detail"].rstrip(".").split(": ")[1].split()) == needed, (scopes, method, path, body)
            challenge = response.headers["www-authenticate"]
            assert 'error="insufficient_scope"' in challenge, (method, path, challenge)
            assert f'scope="{" ".join(sorted(needed))}"' in challenge, (method, path, challenge)


async def test_each_scope_a_me_route_names_lets_a_persons_token_in(app, client) -> None:
    """The other side of NEEDS: any one of a route's scopes passes its guard (the route then answers as it will: a
    made-up id is a 404, an empty body a 422), so the table above is the routes' own and the 403s are not vacuous."""
    for method, path in me_routes(app):
        for scope in sorted(NEEDS.get((method, path), ACCOUNT)):
            headers = bearer(await token_for(app, "13800000001", f"openid {scope}", client_id="demo-web"))
            response = await _call(client, method, path, headers)
            assert response.status_code not in (401, 403), (scope, method, path, response.text)
