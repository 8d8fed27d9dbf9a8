"""The sign-in and sign-out pages: CSRF, throttling, cookies, the audit trail, RP-initiated logout."""

import asyncio
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from core.audit import chain_pending
from core.audit.models import AuditEvent
from core.ratelimit import MemoryRateLimiter
from core.settings import Settings
from main import create_app
from tests.conftest import asgi_client
from tests.oauth import WEB, bearer, csrf_of, sign_in

PASSWORD = "TalentIsland-2026!"


async def _login(client, identifier: str, password: str, **extra):
    page = await client.get("/oauth2/login")
    form = {"identifier": identifier, "password": password, "csrf_token": csrf_of(page), "return_to": "", **extra}
    return await client.post("/oauth2/login", data=form)


async def _actions(db) -> list[tuple[str, str, str | None]]:
    async with db.transaction() as session:
        await chain_pending(session)
    async with db.engine.connect() as connection:
        table = AuditEvent.__table__
        rows = await connection.execute(
            select(table.c.action, table.c.outcome, table.c.object_id)
            .where(table.c.seq.is_not(None))
            .order_by(table.c.seq)
        )
        return [tuple(row) for row in rows]


async def test_successful_login_sets_a_safe_session_cookie_and_is_audited(client, db) -> None:
    response = await _login(client, "13800000001", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/oauth2/login/done")
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("ti_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/oauth2" in cookie
    assert "Secure" not in cookie  # plain http in tests; see the production test below
    assert ("auth.login.succeeded", "success") in [(a, o) for a, o, _ in await _actions(db)]


async def test_session_cookie_is_secure_in_production(settings: Settings, db) -> None:
    app = create_app(settings.model_copy(update={"env": "production"}))
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    try:
        # Secure cookies only travel over https, so this client speaks https to the app.
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            response = await _login(http, "13800000001", PASSWORD)
        cookie = next(
            value
            for name, value in response.headers.multi_items()
            if name == "set-cookie" and value.startswith("ti_session=")
        )
        assert "Secure" in cookie
    finally:
        await app.state.db.dispose()


async def test_wrong_password_and_unknown_account_look_the_same_and_are_audited(client, db) -> None:
    wrong = await _login(client, "13800000001", "not the password")
    unknown = await _login(client, "13899999999", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "ti_session" not in response.headers.get("set-cookie", "")
    assert "13899999999" in unknown.text  # the identifier is kept in the form, nothing else is said
    failures = [(a, o) for a, o, _ in await _actions(db) if a == "auth.login.failed"]
    assert failures == [("auth.login.failed", "failure")] * 2


async def test_unknown_logins_lock_out_exactly_like_existing_ones(client, app) -> None:
    # Otherwise the lockout would tell which phone numbers and usernames have accounts.
    for identifier in ("officer.market", "nobody.here", "13899999999"):
        for _ in range(5):
            assert (await _login(client, identifier, "wrong password here")).status_code == 401, identifier
        locked = await _login(client, identifier, "wrong password here")
        assert locked.status_code == 429, identifier
        assert int(locked.headers["retry-after"]) > 0
        assert identifier in locked.text  # the same page as for any lockout, the identifier kept in the form
    # The counters are keyed on a keyed hash, never on the phone number itself.
    assert not any("13899999999" in key for key, *_ in app.state.identity.limiter._counts)


async def test_login_without_a_valid_csrf_token_is_refused(client) -> None:
    await client.get("/oauth2/login")
    response = await client.post(
        "/oauth2/login",
        data={"identifier": "13800000001", "password": PASSWORD, "csrf_token": "forged", "return_to": ""},
    )
    assert response.status_code == 400
    assert "ti_session" not in response.headers.get("set-cookie", "")


async def test_repeated_failures_lock_the_account_with_retry_after(client, db) -> None:
    for _ in range(5):
        assert (await _login(client, "officer.market", "wrong password here")).status_code == 401
    locked = await _login(client, "officer.market", PASSWORD)  # even the right password, for now
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert ("auth.login.throttled", "denied") in [(a, o) for a, o, _ in await _actions(db)]
    # Another account from the same address is not locked.
    assert (await _login(client, "officer.housing", PASSWORD)).status_code == 303


async def test_guesses_sent_all_at_once_are_held_to_the_same_five(client) -> None:
    # (On SQLite sign-ins queue at the one write lock anyway; on PostgreSQL they run together, as in production.)
    pages = [await client.get("/oauth2/login") for _ in range(20)]
    forms = [
        {
            "identifier": "officer.housing",
            "password": f"wrong password {n}",
            "csrf_token": csrf_of(page),
            "return_to": "",
        }
        for n, page in enumerate(pages)
    ]
    answers = await asyncio.gather(*(client.post("/oauth2/login", data=form) for form in forms))
    assert sorted(answer.status_code for answer in answers) == [401] * 5 + [429] * 15
    assert (await _login(client, "officer.housing", PASSWORD)).status_code == 429  # the right one, too, for now


async def test_a_lockout_lifts_though_the_person_keeps_trying(app, client) -> None:
    """Guesses refused while locked out are not counted: counted, one a minute kept the lockout up for ever."""
    now = [1_800_000_000.0]
    app.state.identity.limiter, kept = MemoryRateLimiter(clock=lambda: now[0]), app.state.identity.limiter
    try:
        for _ in range(5):
            assert (await _login(client, "officer.housing", "wrong password here")).status_code == 401
        answers = []
        for _ in range(30):  # half an hour of trying the right password once a minute
            now[0] += 60
            answers.append((await _login(client, "officer.housing", PASSWORD)).status_code)
            if answers[-1] != 429:
                break
        assert (answers[0], answers[-1]) == (429, 303), answers  # locked out at first; in, once it lifted
    finally:
        app.state.identity.limiter = kept


async def test_too_many_attempts_from_one_address_are_throttled(settings: Settings, db) -> None:
    app = create_app(settings.model_copy(update={"login_attempts_per_address": (3, 3600)}))
    try:
        async with asgi_client(app) as http:
            statuses = [(await _login(http, f"1380000000{i}", "wrong password")).status_code for i in range(4)]
        assert statuses == [401, 401, 401, 429]
    finally:
        await app.state.db.dispose()


async def test_return_to_is_never_an_open_redirect(client) -> None:
    for target in ("https://evil.example/", "//evil.example/oauth2/authorize?x", "/oauth2/authorize?/\\evil"):
        response = await _login(client, "13800000002", PASSWORD, return_to=target)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/oauth2/login/done")


async def test_pages_work_in_both_languages_and_carry_a_strict_csp(client) -> None:
    chinese = await client.get("/oauth2/login")
    english = await client.get("/oauth2/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "手机号码或用户名" in chinese.text
    assert "Phone number or username" in english.text
    assert (await client.get("/oauth2/login?ui_locales=en")).text.count("Sign in") >= 2
    # ui_locales matches languages as Accept-Language does: zha (Zhuang) is not Chinese, so English comes next
    assert "Phone number or username" in (await client.get("/oauth2/login?ui_locales=zha%20en-GB")).text
    csp = english.headers["content-security-policy"]
    assert "script-src" not in csp
    assert "default-src 'none'" in csp
    assert 'name="viewport"' in english.text


async def test_rp_initiated_logout_with_id_token_hint(client) -> None:
    tokens = await sign_in(client, "13800000001", "openid profile", app=WEB)
    assert (await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))).status_code == 200
    response = await client.get(
        "/oauth2/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:8765/",
            "state": "bye",
        },
    )
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query) == {"state": ["bye"]}
    # The session and everything issued in it are gone.
    deadline = time.monotonic() + 2.5
    while (await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))).status_code != 401:
        assert time.monotonic() < deadline
    refreshed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": "demo-web", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.json()["error"] == "invalid_grant"
    page = await client.get(
        "/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": "demo-web",
            "redirect_uri": WEB["redirect_uri"],
            "scope": "openid",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        },
    )
    assert 'name="password"' in page.text


async def test_logout_without_a_hint_asks_first(client) -> None:
    await sign_in(client, "13800000001", "openid", app=WEB)
    page = await client.get("/oauth2/logout")
    assert page.status_code == 200
    assert 'value="logout"' in page.text
    done = await client.post("/oauth2/logout", data={"decision": "logout", "csrf_token": csrf_of(page)})
    assert done.status_code == 200
    assert re.search("退出登录|signed out", done.text)


async def test_logout_refuses_a_client_id_the_id_token_hint_was_not_issued_to(client) -> None:
    # RP-Initiated Logout 2: with both, client_id must be the hint's audience, or the redirect goes to another client.
    tokens = await sign_in(client, "13800000001", "openid", app=WEB)
    response = await client.get(
        "/oauth2/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "client_id": "officer-console",
            "post_logout_redirect_uri": "http://127.0.0.1:8766/",
        },
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_request" in response.text
    assert "client_id" in response.text
    # Nothing was ended either.
    assert (await client.get("/oauth2/userinfo", headers=bearer(tokens["access_token"]))).status_code == 200


async def test_logout_refuses_an_unregistered_post_logout_redirect(client) -> None:
    tokens = await sign_in(client, "13800000001", "openid", app=WEB)
    response = await client.get(
        "/oauth2/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"},
    )
    assert response.status_code == 400
    assert "location" not in response.headers
