"""A person sees the applications they have allowed to act for them, and withdraws that permission: the consent
goes, the application's tokens of theirs stop at once, and its next request asks them again."""

import asyncio
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from auth.models import TokenRevocation
from core.audit import chain_pending
from core.audit.models import AuditEvent
from tests.auth.conftest import TWO_URIS
from tests.helpers import all_pages, assert_problem
from tests.oauth import WEB, authorize, bearer, client_token, exchange, pkce, sign_in, token_for

CONSENTS = "/api/v1/me/consents"
TWO = {"client_id": "two-uris", "redirect_uri": TWO_URIS[0]}


async def _refused_within_two_seconds(client, token: str) -> None:
    deadline = time.monotonic() + 2.5
    while (await client.get("/api/v1/me", headers=bearer(token))).status_code != 401:
        assert time.monotonic() < deadline, "a withdrawn application's token still works after 2 seconds"
        await asyncio.sleep(0.1)


def _authorize_url(app: dict[str, str], scope: str) -> str:
    _, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": app["redirect_uri"],
        "scope": scope,
        "state": "again",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"/oauth2/authorize?{urlencode(query)}"


async def _revocation_entries(db) -> set[tuple[str, str]]:
    async with db.transaction(write=False) as session:
        return {
            (kind, value) for kind, value in await session.execute(select(TokenRevocation.kind, TokenRevocation.value))
        }


async def _refresh(client, refresh_token: str):
    return await client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "client_id": "demo-web", "refresh_token": refresh_token}
    )


async def test_a_person_lists_the_applications_they_allowed_newest_first(app, client, two_uri_client) -> None:
    web = await sign_in(client, "13800000001", "openid profile account permits:apply", app=WEB)
    await sign_in(client, "13800000001", "openid", app=TWO)  # a second application, allowed later
    headers = bearer(web["access_token"])

    listed = await client.get(CONSENTS, headers=headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [item["client_id"] for item in items] == ["two-uris", "demo-web"]
    assert items[1]["client_name"] == "人才岛市民端（演示）"  # in Chinese unless the request asks otherwise
    assert items[1]["scopes"] == ["account", "openid", "permits:apply", "profile"]
    assert items[0]["scopes"] == ["openid"]
    assert items[0]["granted_at"] >= items[1]["granted_at"]
    assert set(items[0]) == {"client_id", "client_name", "scopes", "granted_at"}
    english = (await client.get(CONSENTS, headers=headers, params={"lang": "en"})).json()["items"]
    assert english[1]["client_name"] == "Talent Island web app (demo)"
    assert await all_pages(client, CONSENTS, headers, limit=1) == items  # keyset pages, one at a time
    # Nobody else's consents are listed: the second citizen has given none.
    other = bearer(await token_for(app, "13800000002", "openid account", client_id="demo-web"))
    assert (await client.get(CONSENTS, headers=other)).json() == {"items": [], "next_cursor": None}


async def test_withdrawing_stops_the_applications_tokens_and_asks_again(app, client, db, two_uri_client) -> None:
    first = await sign_in(client, "13800000001", "openid profile permits:apply", app=WEB)
    second = await sign_in(client, "13800000001", "openid profile", app=WEB)  # another sign-in, another family
    kept = await sign_in(client, "13800000001", "openid", app=TWO)  # another application: untouched
    someone_else = bearer(await token_for(app, "13800000002", "openid profile", client_id="demo-web"))
    # The city's account app (here two-uris, for the account scope) manages the person's permissions.
    manager = bearer(await token_for(app, "13800000001", "openid account", client_id="two-uris"))
    assert (await client.get("/api/v1/me", headers=bearer(first["access_token"]))).status_code == 200

    before = await _revocation_entries(db)
    withdrawn = await client.delete(f"{CONSENTS}/demo-web", headers=manager)
    assert withdrawn.status_code == 204, withdrawn.text
    assert withdrawn.content == b""
    # One entry for the (person, client) pair, not one per sign-in: the list every process reloads stays small.
    me = (await client.get("/oauth2/userinfo", headers=bearer(kept["access_token"]))).json()["sub"]
    assert await _revocation_entries(db) - before == {("subject_client", f"{me} demo-web")}

    # Every refresh token of this person for this application is revoked, in the table (at once) ...
    for tokens in (first, second):
        assert (await _refresh(client, tokens["refresh_token"])).json()["error"] == "invalid_grant"
    # ... and its access tokens are refused by every process within a second.
    await _refused_within_two_seconds(client, first["access_token"])
    await _refused_within_two_seconds(client, second["access_token"])
    introspected = await client.post(
        "/oauth2/introspect",
        data={"token": second["access_token"]},
        auth=("officer-console", "officer-console-secret"),
    )
    assert introspected.json() == {"active": False}
    # The other application's token, and another person's through this application, still work.
    assert (await client.get("/oauth2/userinfo", headers=bearer(kept["access_token"]))).status_code == 200
    assert (await client.get("/api/v1/me", headers=someone_else)).status_code == 200
    listed = (await client.get(CONSENTS, headers=manager)).json()["items"]
    assert [item["client_id"] for item in listed] == ["two-uris"]

    # Still signed in, the person is asked again on the application's next request.
    page = await client.get(_authorize_url(WEB, "openid profile"))
    assert page.status_code == 200, page.text[:300]
    assert 'name="decision"' in page.text

    async with db.transaction() as session:
        await chain_pending(session)
        statement = select(AuditEvent).where(AuditEvent.action == "auth.consent.withdrawn")
        (event,) = (await session.execute(statement)).scalars()
    assert event.object_id == "demo-web"
    assert event.detail == {"scopes": ["openid", "permits:apply", "profile"], "refresh_families_revoked": 2}
    assert event.subject == me


async def test_a_code_not_yet_exchanged_is_dead_once_the_consent_is_withdrawn(client, two_uri_client) -> None:
    """A code issued just before the withdrawal would otherwise start tokens after it, which it does not reach."""
    kept = await sign_in(client, "13800000001", "openid account", app=WEB)
    pending = await authorize(client, login="13800000001", scope="openid", **TWO)
    assert (await client.delete(f"{CONSENTS}/two-uris", headers=bearer(kept["access_token"]))).status_code == 204
    response = await exchange(client, pending, client_id="two-uris")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


async def test_a_client_without_refresh_tokens_is_cut_off_too(app, client, two_uri_client) -> None:
    """two-uris has no refresh grant: its families have no refresh token row to find them by, yet they stop."""
    tokens = await sign_in(client, "13800000001", "openid", app=TWO)
    assert "refresh_token" not in tokens
    manager = bearer(await token_for(app, "13800000001", "openid account", client_id="demo-web"))
    assert (await client.delete(f"{CONSENTS}/two-uris", headers=manager)).status_code == 204
    await _refused_within_two_seconds(client, tokens["access_token"])


async def test_withdrawing_what_was_never_granted_is_404_whether_or_not_the_client_exists(app, client) -> None:
    citizen = bearer(await token_for(app, "13800000001", "openid account", client_id="demo-web"))
    never = assert_problem(await client.delete(f"{CONSENTS}/demo-partner", headers=citizen), 404, "consent-not-found")
    nobody = assert_problem(
        await client.delete(f"{CONSENTS}/no-such-client", headers=citizen), 404, "consent-not-found"
    )
    assert never["title"] == nobody["title"]
    assert never["detail"].replace("demo-partner", "X") == nobody["detail"].replace("no-such-client", "X")
    assert_problem(await client.delete(f"{CONSENTS}/Bad Id!", headers=citizen), 422)


async def test_another_persons_consent_is_out_of_reach(app, client, two_uri_client) -> None:
    mine = await sign_in(client, "13800000001", "openid", app=TWO)
    other = bearer(await token_for(app, "13800000002", "openid account", client_id="demo-web"))
    # The second citizen never allowed two-uris: withdrawing "it" finds nothing, and the first citizen's stands.
    assert_problem(await client.delete(f"{CONSENTS}/two-uris", headers=other), 404, "consent-not-found")
    manager = bearer(await token_for(app, "13800000001", "openid account", client_id="demo-web"))
    listed = (await client.get(CONSENTS, headers=manager)).json()["items"]
    assert [item["client_id"] for item in listed] == ["two-uris"]
    assert (await client.get("/oauth2/userinfo", headers=bearer(mine["access_token"]))).status_code == 200


async def test_only_people_see_and_withdraw_consents(app, client) -> None:
    partner = bearer(await client_token(app, "demo-partner", "partner:read"))
    assert_problem(await client.get(CONSENTS, headers=partner), 403)
    assert_problem(await client.delete(f"{CONSENTS}/demo-web", headers=partner), 403)
    assert_problem(await client.get(CONSENTS), 401)
    assert_problem(await client.delete(f"{CONSENTS}/demo-web"), 401)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", CONSENTS),
        ("DELETE", f"{CONSENTS}/demo-web"),
        ("GET", "/api/v1/me/representations"),
        ("PUT", "/api/v1/me/representations/demo-partner"),
        ("DELETE", "/api/v1/me/representations/demo-partner"),
        ("GET", "/api/v1/me/access-log"),
    ],
)
async def test_an_app_the_person_let_read_their_name_does_not_manage_their_account(app, client, method, path) -> None:
    """Without the account scope (only the city's own apps are registered for it), an app cannot see which other apps
    the person uses, withdraw their permission, nor let a partner system file in the person's name."""
    reader = bearer(await token_for(app, "13800000001", "openid profile", client_id="demo-web"))
    refused = assert_problem(await client.request(method, path, headers=reader), 403)
    assert "account" in refused["detail"]
