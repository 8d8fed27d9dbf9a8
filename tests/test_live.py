"""Against the app served by uvicorn on 127.0.0.1: an OAuth client that shares no code with Authlib, two processes
sharing one rate limit through Redis, and a real browser (Debian's Chromium) through the login, consent and Swagger
UI pages."""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import requests
from requests_oauth2client import ClientSecretBasic, OAuth2Client

from tests.databases import fresh_database
from tests.live import free_port, live_server, prepare, server_env

PASSWORD = "TalentIsland-2026!"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    with fresh_database(backend, tmp_path) as url:
        env = server_env(url, tmp_path, TI_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
        prepare(env)
        with live_server(env, port) as base:
            yield base


def _form_fields(html: str) -> dict[str, str]:
    return {
        name: value.replace("&amp;", "&")
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


def test_independent_client_runs_code_with_pkce_and_client_credentials(server: str) -> None:
    """requests-oauth2client: discovery, PKCE, state and RFC 9207 iss validation are all its own code."""
    web = OAuth2Client.from_discovery_endpoint(
        f"{server}/.well-known/openid-configuration",
        issuer=server,
        client_id="demo-web",
        redirect_uri="http://127.0.0.1:8765/callback",
        testing=True,
    )
    request = web.authorization_request(scope="openid profile phone permits:apply")
    browser = requests.Session()
    login_page = browser.get(str(request.uri))
    assert login_page.status_code == 200
    form = _form_fields(login_page.text) | {"identifier": "13800000001", "password": PASSWORD}
    consent = browser.post(f"{server}/oauth2/login", data=form)  # follows the 303 back to /oauth2/authorize
    assert 'name="decision"' in consent.text
    action = re.search(r'<form method="post" action="([^"]+)"', consent.text).group(1).replace("&amp;", "&")
    allowed = browser.post(
        urljoin(server, action), data=_form_fields(consent.text) | {"decision": "allow"}, allow_redirects=False
    )
    assert allowed.status_code == 302
    response = request.validate_callback(allowed.headers["Location"])  # checks state and iss
    token = web.authorization_code(response)
    assert token.refresh_token
    me = requests.get(f"{server}/api/v1/me", headers={"Authorization": f"Bearer {token.access_token}"}, timeout=10)
    assert me.json()["phone"] == "13800000001"
    refreshed = web.refresh_token(token)
    assert refreshed.access_token != token.access_token

    partner = OAuth2Client(
        token_endpoint=f"{server}/oauth2/token",
        introspection_endpoint=f"{server}/oauth2/introspect",
        # The registered method, exactly: the server refuses client_secret_post for a client_secret_basic client.
        auth=ClientSecretBasic("demo-partner", "demo-partner-secret"),
        testing=True,
    )
    partner_token = partner.client_credentials(scope="partner:read")
    assert partner_token.scope == "partner:read"
    assert partner.introspect_token(partner_token.access_token)["active"] is True


def _redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


@pytest.mark.skipif(
    not os.environ.get("TEST_REDIS_URL") and not _redis_available(), reason="needs Redis (CI sets TEST_REDIS_URL)"
)
def test_two_processes_sharing_redis_enforce_one_limit(backend: str, tmp_path: Path) -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    ports = [free_port(), free_port()]
    with fresh_database(backend, tmp_path) as url:
        env = server_env(url, tmp_path, TI_REDIS_URL=REDIS_URL, TI_LOGIN_ATTEMPTS_PER_ADDRESS="[6, 60]")
        prepare(env)
        with live_server(env, ports[0]) as first, live_server(env, ports[1]) as second:
            session = httpx.Client()
            page = session.get(f"{first}/oauth2/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            statuses = []
            for attempt in range(8):
                server = (first, second)[attempt % 2]
                response = session.post(
                    f"{server}/oauth2/login",
                    data={
                        # A number each time: the address's limit is shared, not one identifier's (5 failures).
                        "identifier": f"139000000{attempt:02d}",
                        "password": "not the password",
                        "csrf_token": csrf,
                        "return_to": "",
                    },
                )
                statuses.append(response.status_code)
    # Six attempts between both processes, then both refuse: one shared counter, not one each.
    assert statuses == [401] * 6 + [429, 429]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by .ci/run (apt-get install chromium)")
async def test_browser_signs_in_consents_and_swagger_ui_authorizes(server: str) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = await browser.new_page(locale="en-US")
            # The demo web app's callback: nothing listens there, so answer for it and keep the URL.
            await page.route("http://127.0.0.1:8765/**", lambda route: route.fulfill(body="callback reached"))
            await page.goto(
                f"{server}/oauth2/authorize?response_type=code&client_id=demo-web"
                "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=openid%20profile"
                "&state=browser-state&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
                "&code_challenge_method=S256"
            )
            await page.fill("#identifier", "13800000001")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_selector("button[value=allow]")
            assert "Talent Island web app (demo)" in await page.content()
            await page.click("button[value=allow]")
            await page.wait_for_url(re.compile(r"http://127\.0\.0\.1:8765/callback\?.*"))
            assert "code=" in page.url
            assert "state=browser-state" in page.url
            assert "iss=" in page.url

            # Swagger UI's Authorize button: authorization code + PKCE against this server, in a popup.
            docs = await browser.new_page(locale="en-US")
            await docs.goto(f"{server}/docs")
            await docs.click("button.btn.authorize")
            modal = docs.locator(".modal-ux")
            await modal.wait_for()
            async with docs.expect_popup() as popup_info:
                code_flow = modal.locator(".auth-container", has_text="authorizationCode")
                await code_flow.locator("button.authorize").click()
            popup = await popup_info.value
            await popup.wait_for_load_state()
            await popup.fill("#identifier", "officer.market")
            await popup.fill("#password", PASSWORD)
            await popup.click("button[type=submit]")
            await popup.wait_for_selector("button[value=allow]")
            await popup.click("button[value=allow]")
            # Back in Swagger UI: the code was exchanged (with PKCE) and the flow says so.
            code_flow = modal.locator(".auth-container", has_text="authorizationCode")
            await code_flow.get_by_text("Authorized", exact=True).wait_for(timeout=15000)
            await code_flow.locator("button", has_text="Logout").wait_for()
            await code_flow.locator("button", has_text="Close").click()
            # And the token works: "Try it out" on GET /api/v1/me answers 200 with the officer's account.
            operation = docs.locator("#operations-accounts-accounts-read_me")
            await operation.locator(".opblock-summary").click()
            await operation.get_by_role("button", name="Try it out").click()
            await operation.get_by_role("button", name="Execute").click()
            status = operation.locator(".live-responses-table tr.response .response-col_status").first
            await status.wait_for(timeout=15000)
            assert (await status.inner_text()).strip() == "200"
            assert "officer.market" in await operation.locator(".live-responses-table").inner_text()
        finally:
            await browser.close()
