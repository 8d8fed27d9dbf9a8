"""A NUL character (U+0000) is refused with a 400, wherever it comes in: PostgreSQL cannot store one, so before it
answered 500 where it reached the database (a register lookup, the token endpoint, a draft's holder name). The API
answers a problem, the OAuth endpoints their own formats. Text that only looks like one (an escaped backslash before
u0000) is ordinary text."""

import json

from sqlalchemy import func, select

from core.http.middleware import NOT_JSON_NUMBER, NOT_UNICODE, NUL_DETAIL
from services.permits.models import PermitApplication
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for


async def test_a_nul_in_the_url_is_refused(client) -> None:
    for url in ("/api/v1/permits/register?number=TI%00", "/api/v1/catalogue/services/business%00licence"):
        body = assert_problem(await client.get(url), 400, "bad-request")
        assert body["detail"] == NUL_DETAIL


async def test_oauth_refuses_a_nul_in_its_own_formats(client) -> None:
    """The OAuth endpoints answer a NUL as any malformed request: a JSON error, or an error page."""
    form = {"grant_type": "client_credentials", "client_id": "partner\x00", "client_secret": "x"}
    token = await client.post("/oauth2/token", data=form)
    assert token.status_code == 400
    assert token.json()["error"] in ("invalid_request", "unsupported_grant_type")  # the body reads as empty
    # A client id can also come in Basic authentication, base64-encoded: no such client.
    basic = await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("partner\x00", "x"))
    assert (basic.status_code, basic.json()["error"]) == (401, "invalid_client")
    pages = [
        await client.get("/oauth2/authorize", params={"response_type": "code", "client_id": "demo\x00web"}),
        await client.get("/oauth2/logout", params={"client_id": "demo\x00web"}),
        await client.post("/oauth2/login", data={"identifier": "admin\x00", "password": "x", "csrf_token": "x"}),
    ]
    for page in pages:
        assert (page.status_code, page.headers["content-type"]) == (400, "text/html; charset=utf-8")


async def test_a_nul_in_json_is_refused_and_nothing_is_written(app, client, db) -> None:
    citizen = bearer(await token_for(app, "13800000001", "openid permits:apply", client_id="demo-web"))
    draft = {"service_code": "business-licence", "form": {"entity_type": "llc", "planned_employees": 3}}

    async def drafts() -> int:
        async with db.transaction(write=False) as session:
            return await session.scalar(select(func.count()).select_from(PermitApplication))

    before = await drafts()
    for holder in ("Chen\x00Ming", "\\\x00"):  # a NUL, and a NUL after an escaped backslash
        refused = await client.post(
            "/api/v1/permits/applications", json={**draft, "holder_name": holder}, headers=citizen
        )
        assert assert_problem(refused, 400, "bad-request")["detail"] == NUL_DETAIL
    # JSON in UTF-16 hides the escape's NUL between its bytes (the body is full of NUL bytes): refused with the rest.
    utf16 = json.dumps({**draft, "holder_name": "Chen\x00Ming"}).encode("utf-16")
    refused = await client.post(
        "/api/v1/permits/applications", content=utf16, headers={**citizen, "content-type": "application/json"}
    )
    assert assert_problem(refused, 400, "bad-request")["detail"] == NUL_DETAIL
    assert await drafts() == before

    # The text "\u0000" (a backslash, then u0000) is no NUL: it is stored and read back as sent.
    created = await client.post(
        "/api/v1/permits/applications",
        content=json.dumps({**draft, "holder_name": "Chen \\u0000 Ming"}),
        headers={**citizen, "content-type": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["holder_name"] == "Chen \\u0000 Ming"


async def test_nan_infinity_and_lone_surrogates_are_refused_and_nothing_is_written(app, client, db) -> None:
    """Not JSON numbers and not Unicode text: refused at the door like a NUL, where they answered 500 (or were stored
    and broke the public catalogue for everyone). What only looks like them is ordinary text."""
    citizen = {
        **bearer(await token_for(app, "13800000001", "openid permits:apply", client_id="demo-web")),
        "content-type": "application/json",
    }

    async def drafts() -> int:
        async with db.transaction(write=False) as session:
            return await session.scalar(select(func.count()).select_from(PermitApplication))

    before = await drafts()
    draft = '{"service_code": "business-licence", "form": {"entity_type": "llc", "planned_employees": %s}%s}'
    for number in ("NaN", "Infinity", "-Infinity"):
        refused = await client.post("/api/v1/permits/applications", content=draft % (number, ""), headers=citizen)
        assert assert_problem(refused, 400, "bad-request")["detail"] == NOT_JSON_NUMBER
    for text in ('"x\\ud800y"', '"\\udc00"', '"\\ud83d"'):
        holder = f', "holder_name": {text}'
        refused = await client.post("/api/v1/permits/applications", content=draft % ("3", holder), headers=citizen)
        assert assert_problem(refused, 400, "bad-request")["detail"] == NOT_UNICODE
    raw = b'{"service_code": "business-licence", "form": {}, "holder_name": "x\xed\xa0\x80"}'  # as bytes, too
    assert (
        assert_problem(await client.post("/api/v1/permits/applications", content=raw, headers=citizen), 400)["detail"]
        == NOT_UNICODE
    )
    key = '{"service_code": "business-licence", "form": {"\\ud83d": 1}}'  # in a key, too
    assert assert_problem(await client.post("/api/v1/permits/applications", content=key, headers=citizen), 400)
    assert await drafts() == before

    # A pair of surrogate escapes is one character, and "NaN" in text is text.
    fine = draft % ("3", ', "holder_name": "NaN Infinity \\ud83d\\ude00 \\\\ud800"')
    created = await client.post("/api/v1/permits/applications", content=fine, headers=citizen)
    assert created.status_code == 201, created.text
    assert created.json()["holder_name"] == "NaN Infinity \U0001f600 \\ud800"
