"""Proof of the phone by SMS code (sign-up, reset), changing the password, resetting a forgotten one: over HTTP
through the app, with real tokens and the mock cloud's SMS service as the citizen's handset."""

import asyncio
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi import routing
from sqlalchemy import select, update

from auth.models import Account
from auth.recovery.models import PhoneCode
from core.audit import chain_pending
from core.audit.models import AuditEvent
from core.models import utcnow
from core.worker import Worker
from main import worker_settings
from services.cloud.models import SmsMessage
from services.notifications.models import Notification
from tests.conftest import asgi_client
from tests.helpers import assert_problem, phone_code, sms_to
from tests.oauth import WEB, bearer, client_token, pkce, sign_in, token_for

CODES = "/api/v1/accounts/phone-codes"
RESET = "/api/v1/accounts/password-reset"
CHANGE = "/api/v1/me/password"
PHONE = "13912345678"  # no account has it
CITIZEN = "13800000001"  # the demo citizen
DEMO_PASSWORD = "TalentIsland-2026!"
NEW_PASSWORD = "Lanterns-on-the-Tan-River-7"
PERSON = {"phone": PHONE, "password": "Harbour-lights-over-Jiang", "name": "林小雨 Lin Xiaoyu"}


@pytest.fixture
def worker(app, db, quiet_outbox) -> Worker:
    return Worker(db, context=app.state, settings=worker_settings(app.state.settings))


async def _actions(db, prefix: str) -> list[tuple[str, str]]:
    async with db.transaction() as session:
        await chain_pending(session)
    async with db.engine.connect() as connection:
        table = AuditEvent.__table__
        rows = await connection.execute(
            select(table.c.action, table.c.outcome).where(table.c.action.like(f"{prefix}%")).order_by(table.c.seq)
        )
        return [tuple(row) for row in rows]


async def _refused(http, token: str) -> bool:
    return (await http.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def _eventually(check, *, within: float = 2.5) -> None:
    """Revocations reach every process within a second or so: poll for a little longer, no more."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not refused within the revocation window"
        await asyncio.sleep(0.1)


async def _asks_for_the_password(http) -> bool:
    """Whether the browser (its cookie) must sign in again to authorize an app."""
    _verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": WEB["client_id"],
        "redirect_uri": WEB["redirect_uri"],
        "scope": "openid",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = await http.get(f"/oauth2/authorize?{urlencode(params)}")
    return page.status_code == 200 and 'name="password"' in page.text


async def _refresh(http, refresh_token: str):
    data = {"grant_type": "refresh_token", "client_id": WEB["client_id"], "refresh_token": refresh_token}
    return await http.post("/oauth2/token", data=data)


# -- codes ----------------------------------------------------------------------------------------------------------


async def test_a_code_goes_by_sms_holds_nothing_but_itself_and_is_kept_only_hashed(client, app, db) -> None:
    response = await client.post(CODES, json={"phone": PHONE, "purpose": "sign_up"})
    assert response.status_code == 202
    assert response.json() == {"expires_in": 600, "resend_after": 60}
    [message] = sms_to(app, PHONE)[:1]
    [code] = message["Params"]
    assert len(code) == 6
    assert code.isdigit()
    assert message["Template"] == "100001"
    text = (await client.get("/mock-cloud/_mock/sms", params={"phone": PHONE})).json()[0]["text"]
    assert text.startswith("【人才岛政务】")
    assert code in text
    assert PHONE[-4:] not in text.replace(code, "")  # no number, no name: the code alone
    async with db.engine.connect() as connection:
        row = (await connection.execute(select(PhoneCode.__table__))).mappings().one()
        sms = (await connection.execute(select(SmsMessage.__table__))).mappings().all()
    assert code not in str(dict(row))
    assert PHONE not in str(dict(row))
    assert (row["purpose"], row["tries"], row["used_at"]) == ("sign_up", 0, None)
    assert timedelta(seconds=590) < row["expires_at"] - row["created_at"] <= timedelta(seconds=600)
    # The SMS is recorded like any other (number sealed), never with the code.
    assert [(m["template"], m["purpose"].split(":")[0]) for m in sms] == [("100001", "phone-code")]
    assert code not in str([dict(m) for m in sms])
    assert PHONE not in str([dict(m) for m in sms])


async def test_a_code_signs_up_once(client, app, db) -> None:
    code = await phone_code(client, app, PHONE)
    created = await client.post("/api/v1/accounts", json={**PERSON, "phone_code": code})
    assert created.status_code == 201, created.text
    again = await client.post("/api/v1/accounts", json={**PERSON, "phone": PHONE, "phone_code": code})
    assert_problem(again, 422, "phone-code-invalid")
    assert await _actions(db, "identity.phone_code.") == [
        ("identity.phone_code.requested", "success"),
        ("identity.phone_code.used", "success"),
        ("identity.phone_code.refused", "failure"),
    ]


async def test_sign_up_without_a_code_or_with_one_never_sent_is_refused(client, app, db) -> None:
    missing = assert_problem(await client.post("/api/v1/accounts", json=PERSON), 422, "validation-failed")
    assert missing["errors"][0]["field"] == "phone_code"
    body = assert_problem(
        await client.post("/api/v1/accounts", json={**PERSON, "phone_code": "123456"}), 422, "phone-code-invalid"
    )
    assert body["errors"][0]["field"] == "phone_code"
    async with db.engine.connect() as connection:
        assert (await connection.execute(select(Account.id).where(Account.name == PERSON["name"]))).first() is None


async def test_five_wrong_tries_kill_a_code(client, app, db) -> None:
    code = await phone_code(client, app, PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert_problem(
            await client.post("/api/v1/accounts", json={**PERSON, "phone_code": wrong}), 422, "phone-code-invalid"
        )
    # The right code, now: the code is dead.
    assert_problem(
        await client.post("/api/v1/accounts", json={**PERSON, "phone_code": code}), 422, "phone-code-invalid"
    )
    async with db.engine.connect() as connection:
        assert (await connection.execute(select(PhoneCode.tries))).scalar() == 5
    assert (await _actions(db, "identity.phone_code.refused")).count(("identity.phone_code.refused", "failure")) == 6


async def test_an_expired_code_is_refused(client, app, db) -> None:
    code = await phone_code(client, app, PHONE)
    async with db.transaction() as session:
        await session.execute(update(PhoneCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_problem(
        await client.post("/api/v1/accounts", json={**PERSON, "phone_code": code}), 422, "phone-code-invalid"
    )


async def test_only_the_newest_code_of_a_number_counts(client, app, db) -> None:
    first = await phone_code(client, app, PHONE)
    await _a_minute_later(db)
    second = await phone_code(client, app, PHONE)
    if first != second:
        stale = await client.post("/api/v1/accounts", json={**PERSON, "phone_code": first})
        assert_problem(stale, 422, "phone-code-invalid")
    assert (await client.post("/api/v1/accounts", json={**PERSON, "phone_code": second})).status_code == 201


async def test_the_answer_is_the_same_whether_or_not_an_account_has_the_number(client, app, db) -> None:
    answers = []
    for phone in (CITIZEN, PHONE):
        for purpose in ("reset", "sign_up"):
            response = await client.post(CODES, json={"phone": phone, "purpose": purpose})
            answers.append((response.status_code, response.json(), sorted(response.headers.keys())))
            await _a_minute_later(db)
    assert all(answer == answers[0] for answer in answers), answers
    # A reset code goes only to a number with an account; a sign-up code to any number (the 409 "phone taken" is
    # told only to whoever then shows they hold it).
    assert [m["Template"] for m in sms_to(app, CITIZEN)[:2]] == ["100001", "100002"]
    assert [m["Template"] for m in sms_to(app, PHONE)[:1]] == ["100001"]
    assert all(m["Template"] != "100002" for m in sms_to(app, PHONE))


async def test_codes_are_limited_per_number_and_per_address_with_retry_after(client, app) -> None:
    for phone in (CITIZEN, PHONE):  # the same limit whether or not an account has the number
        assert (await client.post(CODES, json={"phone": phone, "purpose": "reset"})).status_code == 202
        again = await client.post(CODES, json={"phone": phone, "purpose": "sign_up"})  # whatever the purpose
        assert_problem(again, 429, "too-many-requests")
        assert 58 <= int(again.headers["retry-after"]) <= 60
    for n in range(16):  # 20 an hour from one address, on any numbers, the refused ones counted
        assert (await client.post(CODES, json={"phone": f"137{n:08d}", "purpose": "sign_up"})).status_code == 202
    refused = await client.post(CODES, json={"phone": "13699999999", "purpose": "sign_up"})
    assert_problem(refused, 429, "too-many-requests")
    assert int(refused.headers["retry-after"]) > 60
    assert sms_to(app, "13699999999") == []


async def _a_minute_later(db) -> None:
    async with db.transaction() as session:
        await session.execute(update(PhoneCode).values(created_at=utcnow() - timedelta(seconds=61)))


async def test_a_number_gets_five_codes_an_hour(client, app, db) -> None:
    for _ in range(5):
        assert (await client.post(CODES, json={"phone": PHONE, "purpose": "sign_up"})).status_code == 202
        await _a_minute_later(db)
    refused = await client.post(CODES, json={"phone": PHONE, "purpose": "sign_up"})
    assert_problem(refused, 429, "too-many-requests")
    assert int(refused.headers["retry-after"]) > 60


@pytest.mark.parametrize(
    "body",
    [
        {"phone": PHONE},
        {"phone": PHONE, "purpose": "login"},
        {"phone": "+8613912345678", "purpose": "sign_up"},
        {"phone": PHONE, "purpose": "sign_up", "account_id": "x"},
    ],
)
async def test_code_requests_are_validated(client, body: dict) -> None:
    assert_problem(await client.post(CODES, json=body), 422, "validation-failed")


# -- changing the password ------------------------------------------------------------------------------------------


async def test_changing_the_password_needs_the_current_one_and_ends_the_other_sign_ins(app, db, worker) -> None:
    scope = "openid profile account"
    async with asgi_client(app) as phone_app, asgi_client(app) as laptop:
        other = await sign_in(phone_app, CITIZEN, scope, app=WEB)
        mine = await sign_in(laptop, CITIZEN, scope, app=WEB)
        wrong = await laptop.post(
            CHANGE,
            json={"current_password": "not-the-password", "password": NEW_PASSWORD},
            headers=bearer(mine["access_token"]),
        )
        body = assert_problem(wrong, 422, "wrong-password")
        assert body["errors"][0]["field"] == "current_password"
        weak = await laptop.post(
            CHANGE,
            json={"current_password": DEMO_PASSWORD, "password": "password123"},
            headers=bearer(mine["access_token"]),
        )
        assert_problem(weak, 422, "weak-password")
        changed = await laptop.post(
            CHANGE,
            json={"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD},
            headers=bearer(mine["access_token"]),
        )
        assert changed.status_code == 204, changed.text
        # The other sign-in ends: its access token within a second, its refresh token at once.
        await _eventually(lambda: _refused(phone_app, other["access_token"]))
        assert (await _refresh(phone_app, other["refresh_token"])).json()["error"] == "invalid_grant"
        assert await _asks_for_the_password(phone_app)
        # This one stays.
        assert not await _asks_for_the_password(laptop)
        assert (await laptop.get("/api/v1/me", headers=bearer(mine["access_token"]))).status_code == 200
        assert (await _refresh(laptop, mine["refresh_token"])).status_code == 200
    async with asgi_client(app) as fresh:
        with pytest.raises(AssertionError):
            await sign_in(fresh, CITIZEN, "openid", app=WEB)  # the old password
        assert (await sign_in(fresh, CITIZEN, "openid", app=WEB, password=NEW_PASSWORD))["access_token"]
    assert await _actions(db, "identity.password.") == [
        ("identity.password.change_failed", "failure"),
        ("identity.password.changed", "success"),
    ]
    await worker.drain()
    await _told(app, db, CITIZEN, "100102")


async def _told(app, db, phone: str, template: str) -> None:
    """The citizen's inbox and handset say the password changed; the SMS carries a time and a word, nothing personal."""
    async with db.engine.connect() as connection:
        notes = (await connection.execute(select(Notification.template, Notification.sms_status))).all()
    assert ("password_changed", "sent") in [tuple(note) for note in notes] or (
        "password_changed",
        "delivered",
    ) in [tuple(note) for note in notes]
    message = sms_to(app, phone)[0]
    assert message["Template"] == template
    assert "UTC+8" in message["Params"][0]
    assert not any(phone in param or "Lin" in param for param in message["Params"])


async def test_wrong_current_passwords_are_throttled_as_sign_ins_are(client, app, db) -> None:
    token = bearer(await token_for(app, CITIZEN, "openid profile account", client_id="demo-web"))
    for _ in range(5):
        wrong = await client.post(
            CHANGE, json={"current_password": "nope-nope-nope", "password": NEW_PASSWORD}, headers=token
        )
        assert_problem(wrong, 422, "wrong-password")
    locked = await client.post(
        CHANGE, json={"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD}, headers=token
    )
    assert_problem(locked, 429, "too-many-requests")
    assert int(locked.headers["retry-after"]) > 0
    # The same count as the sign-in page's: it is locked too.
    page = await client.get("/oauth2/login")
    from tests.oauth import csrf_of

    form = {"identifier": CITIZEN, "password": DEMO_PASSWORD, "csrf_token": csrf_of(page), "return_to": ""}
    assert (await client.post("/oauth2/login", data=form)).status_code == 429
    assert ("auth.login.throttled", "denied") in await _actions(db, "auth.login.throttled")


async def test_changing_the_password_is_for_people_signed_in(client, app) -> None:
    body = {"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD}
    assert_problem(await client.post(CHANGE, json=body), 401, "unauthorized")
    partner = await client_token(app, "demo-partner", "partner:read")
    assert_problem(await client.post(CHANGE, json=body, headers=bearer(partner)), 403)
    # An app the person only let read their name cannot end their other sign-ins by changing it.
    reader = bearer(await token_for(app, CITIZEN, "openid profile", client_id="demo-web"))
    assert_problem(await client.post(CHANGE, json=body, headers=reader), 403)


async def test_staff_change_their_password_too(client, app) -> None:
    token = bearer(await token_for(app, "officer.market", "openid profile account"))
    changed = await client.post(
        CHANGE, json={"current_password": DEMO_PASSWORD, "password": NEW_PASSWORD}, headers=token
    )
    assert changed.status_code == 204, changed.text


# -- resetting a forgotten password ---------------------------------------------------------------------------------


async def test_a_reset_by_phone_ends_every_sign_in_and_the_old_password(app, db, worker) -> None:
    async with asgi_client(app) as http:
        before = await sign_in(http, CITIZEN, "openid profile", app=WEB)
        code = await phone_code(http, app, CITIZEN, purpose="reset")
        assert sms_to(app, CITIZEN)[0]["Template"] == "100002"
        weak = await http.post(RESET, json={"phone": CITIZEN, "phone_code": code, "password": "13800000001abc"})
        assert_problem(weak, 422, "weak-password")  # and the code is not spent on it
        reset = await http.post(RESET, json={"phone": CITIZEN, "phone_code": code, "password": NEW_PASSWORD})
        assert reset.status_code == 204, reset.text
        await _eventually(lambda: _refused(http, before["access_token"]))
        assert (await _refresh(http, before["refresh_token"])).json()["error"] == "invalid_grant"
        # The browser's sign-in session is gone too: the next authorization asks for the password again.
        assert await _asks_for_the_password(http)
        again = await http.post(RESET, json={"phone": CITIZEN, "phone_code": code, "password": NEW_PASSWORD + "x"})
        assert_problem(again, 422, "phone-code-invalid")  # used once
    async with asgi_client(app) as fresh:
        with pytest.raises(AssertionError):
            await sign_in(fresh, CITIZEN, "openid", app=WEB)
        assert (await sign_in(fresh, CITIZEN, "openid", app=WEB, password=NEW_PASSWORD))["access_token"]
    assert ("identity.password.reset", "success") in await _actions(db, "identity.password.")
    await worker.drain()
    await _told(app, db, CITIZEN, "100102")


async def _staff_id(http, admin: dict[str, str], username: str) -> str:
    listed = await http.get("/api/v1/admin/accounts", params={"kind": "staff", "limit": 100}, headers=admin)
    return next(item["id"] for item in listed.json()["items"] if item["username"] == username)


async def test_an_administrator_sets_a_new_password_for_staff_who_lost_theirs(app, db, worker) -> None:
    """Staff have no phone to reset by, and the README promised that an administrator sets a new password for them:
    there was no way to, and a staff member who forgot theirs could only be given a new account."""
    admin = bearer(await token_for(app, "admin", "admin"))
    async with asgi_client(app) as http:
        before = await sign_in(http, "officer.market", "openid permits:process")
        url = f"/api/v1/admin/accounts/{await _staff_id(http, admin, 'officer.market')}/password"
        assert_problem(await http.post(url, json={"password": NEW_PASSWORD}, headers=admin), 428)
        weak = await http.post(url, json={"password": "officer.market1"}, headers={**admin, "If-Match": '"1"'})
        assert_problem(weak, 422, "weak-password")
        done = await http.post(url, json={"password": NEW_PASSWORD}, headers={**admin, "If-Match": '"1"'})
        assert (done.status_code, done.content, done.headers["etag"]) == (204, b"", '"2"')
        await _eventually(lambda: _refused(http, before["access_token"]))
        refreshed = await http.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": before["refresh_token"]},
            auth=("officer-console", "officer-console-secret"),
        )
        assert refreshed.json()["error"] == "invalid_grant"
    async with asgi_client(app) as fresh:
        with pytest.raises(AssertionError):
            await sign_in(fresh, "officer.market", "openid")  # the old password
        assert (await sign_in(fresh, "officer.market", "openid", password=NEW_PASSWORD))["access_token"]
    assert ("identity.password.set_by_administrator", "success") in await _actions(db, "identity.password.")
    await worker.drain()
    async with db.engine.connect() as connection:
        told = (await connection.execute(select(Notification.template, Notification.body))).all()
    said = [body for template, body in told if template == "password_changed"]
    assert len(said) == 1, told
    assert "password was reset by an administrator at" in said[0]


async def test_an_administrator_sets_no_citizens_password_nor_their_own(client, app) -> None:
    """Nor another administrator's: one stolen administrator's session would otherwise take over, or lock out, every
    other administrator."""
    admin = bearer(await token_for(app, "admin", "admin"))
    second_admin = {"username": "admin.two", "name": "Second Admin", "roles": ["admin"]}
    second = await client.post(
        "/api/v1/admin/accounts",
        json={**second_admin, "password": "Tide-Harbour-Lamp-2026!"},
        headers=admin,
    )
    assert second.status_code == 201, second.text
    refused = await client.post(
        f"/api/v1/admin/accounts/{second.json()['id']}/password",
        json={"password": NEW_PASSWORD},
        headers={**admin, "If-Match": second.headers["etag"]},
    )
    assert "replaced from the command line" in assert_problem(refused, 422, "invalid-account-change")["detail"]
    unchanged = await client.get(f"/api/v1/admin/accounts/{second.json()['id']}", headers=admin)
    assert unchanged.headers["etag"] == second.headers["etag"]
    nobody = await client.post(
        f"/api/v1/admin/accounts/{uuid.uuid4()}/password", json={"password": NEW_PASSWORD}, headers=admin
    )
    assert_problem(nobody, 404)
    malformed = await client.post(
        f"/api/v1/admin/accounts/{second.json()['id']}/password", json={"password": 12}, headers=admin
    )
    assert [e["field"] for e in assert_problem(malformed, 422)["errors"]] == ["password"]
    listed = await client.get("/api/v1/admin/accounts", params={"kind": "citizen", "limit": 1}, headers=admin)
    citizen = listed.json()["items"][0]["id"]
    for account_id, said in (
        (citizen, "A citizen resets their own password with a code sent to their phone."),
        (
            await _staff_id(client, admin, "admin"),
            "Change your own password at /api/v1/me/password, with your current one.",
        ),
    ):
        refused = await client.post(
            f"/api/v1/admin/accounts/{account_id}/password",
            json={"password": NEW_PASSWORD},
            headers={**admin, "If-Match": '"1"'},
        )
        assert assert_problem(refused, 422, "invalid-account-change")["detail"] == said
    officer = bearer(await token_for(app, "officer.market", "admin openid"))
    assert_problem(
        await client.post(
            f"/api/v1/admin/accounts/{citizen}/password", json={"password": NEW_PASSWORD}, headers=officer
        ),
        403,
    )


async def test_a_reset_for_a_number_without_an_account_is_refused_as_a_wrong_code(client, app) -> None:
    assert (await client.post(CODES, json={"phone": PHONE, "purpose": "reset"})).status_code == 202
    assert sms_to(app, PHONE) == [] or all(m["Template"] != "100002" for m in sms_to(app, PHONE))
    for guess in ("000000", "123456"):
        refused = await client.post(RESET, json={"phone": PHONE, "phone_code": guess, "password": NEW_PASSWORD})
        assert_problem(refused, 422, "phone-code-invalid")


async def test_a_sign_up_code_does_not_reset_and_a_reset_code_does_not_sign_up(client, app) -> None:
    code = await phone_code(client, app, CITIZEN, purpose="sign_up")
    refused = await client.post(RESET, json={"phone": CITIZEN, "phone_code": code, "password": NEW_PASSWORD})
    assert_problem(refused, 422, "phone-code-invalid")


async def test_five_wrong_reset_codes_kill_it(client, app) -> None:
    code = await phone_code(client, app, CITIZEN, purpose="reset")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        refused = await client.post(RESET, json={"phone": CITIZEN, "phone_code": wrong, "password": NEW_PASSWORD})
        assert_problem(refused, 422, "phone-code-invalid")
    late = await client.post(RESET, json={"phone": CITIZEN, "phone_code": code, "password": NEW_PASSWORD})
    assert_problem(late, 422, "phone-code-invalid")


async def test_resets_are_limited_per_address(client, app) -> None:
    for _ in range(10):
        refused = await client.post(RESET, json={"phone": PHONE, "phone_code": "000000", "password": NEW_PASSWORD})
        assert_problem(refused, 422, "phone-code-invalid")
    limited = await client.post(RESET, json={"phone": PHONE, "phone_code": "000000", "password": NEW_PASSWORD})
    assert_problem(limited, 429, "too-many-requests")
    assert int(limited.headers["retry-after"]) > 0


# -- every route of these, enumerated from the app ------------------------------------------------------------------

ANONYMOUS = {("POST", CODES), ("POST", RESET), ("POST", "/api/v1/accounts")}


def recovery_routes(app) -> list[tuple[str, str]]:
    from auth.recovery.router import router

    paths = {route.path for route in router.routes}
    found = []
    for context in routing.iter_route_contexts(app.routes):
        route = getattr(context, "route", context)
        path = getattr(context, "path", getattr(route, "path", ""))
        if path in paths:
            found += [(method, path) for method in getattr(route, "methods", None) or () if method != "HEAD"]
    assert len(found) >= 3, found
    return sorted(found)


async def test_every_route_is_anonymous_by_design_or_needs_a_person(client, app) -> None:
    partner = bearer(await client_token(app, "demo-partner", "partner:read partner:submit"))
    for method, path in recovery_routes(app):
        if (method, path) in ANONYMOUS:
            continue  # proof of the phone (the code) is what these ask for, and they answer alike for every number
        assert_problem(await client.request(method, path, json={}), 401)
        assert_problem(await client.request(method, path, json={}, headers=partner), 403)


async def test_nothing_of_another_account_can_be_named(app) -> None:
    """No route here takes an account or a code id: a person acts on their own account (the token's), a phone
    number's holder on the number's (the code). Object-level access has nothing else to hold on to."""
    for _method, path in recovery_routes(app):
        assert "{" not in path
    from auth.recovery.schemas import PasswordChange, PasswordReset, PhoneCodeRequest

    for schema in (PasswordChange, PasswordReset, PhoneCodeRequest):
        assert not {"account_id", "id", "subject"} & set(schema.model_fields)
        assert schema.model_config.get("extra") == "forbid"


# -- the page the sign-in page links to -----------------------------------------------------------------------------


async def test_the_sign_in_page_links_to_a_reset_page_that_resets_by_phone(client, app, db) -> None:
    from tests.oauth import csrf_of

    login = await client.get("/oauth2/login?lang=en")
    assert 'href="/oauth2/password-reset?lang=en"' in login.text
    assert "Forgot your password?" in login.text
    page = await client.get("/oauth2/password-reset?lang=zh-CN")
    assert page.status_code == 200
    assert "重设密码" in page.text
    assert "<script" not in page.text
    form = {"step": "code", "phone": CITIZEN, "csrf_token": csrf_of(page)}
    forged = await client.post("/oauth2/password-reset", data={**form, "csrf_token": "x"})
    assert forged.status_code == 400
    step2 = await client.post("/oauth2/password-reset?lang=en", data=form)
    assert step2.status_code == 200
    assert 'name="phone_code"' in step2.text
    code = sms_to(app, CITIZEN)[0]["Params"][0]
    reset = {"step": "reset", "phone": CITIZEN, "phone_code": code, "csrf_token": csrf_of(step2)}
    weak = await client.post("/oauth2/password-reset?lang=en", data={**reset, "password": "password123"})
    assert weak.status_code == 422
    assert "too easy" in weak.text
    done = await client.post("/oauth2/password-reset?lang=en", data={**reset, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    assert "sign in with the new one" in done.text
    assert (await sign_in(client, CITIZEN, "openid", app=WEB, password=NEW_PASSWORD))["access_token"]
    # A number without an account: the same page, and nothing sent.
    await _a_minute_later(db)
    same = await client.post("/oauth2/password-reset?lang=en", data={**form, "phone": PHONE})
    assert same.status_code == 200
    assert 'name="phone_code"' in same.text
    assert all(m["Template"] != "100002" for m in sms_to(app, PHONE))


async def test_asking_again_within_the_minute_uses_up_none_of_the_hour(client, app, db) -> None:
    assert (await client.post(CODES, json={"phone": PHONE, "purpose": "sign_up"})).status_code == 202
    for _ in range(4):  # a double tap, an app retrying: told to wait the minute, sent nothing
        assert_problem(await client.post(CODES, json={"phone": PHONE, "purpose": "sign_up"}), 429)
    await _a_minute_later(db)
    second = await client.post(CODES, json={"phone": PHONE, "purpose": "sign_up"})
    assert second.status_code == 202, second.text


async def test_a_number_is_written_in_ascii_digits_only(client, app) -> None:
    """Other scripts' digits (which `\\d` matches) would make the same handset another number: its limits anew."""
    assert (await client.post(CODES, json={"phone": PHONE, "purpose": "sign_up"})).status_code == 202
    for variant in (PHONE[:-1] + "\u0668", PHONE[:-1] + "\uff18"):  # Arabic-Indic eight, fullwidth eight
        assert_problem(await client.post(CODES, json={"phone": variant, "purpose": "sign_up"}), 422)
    assert [m for m in app.state.cloud.mock.sms.values() if not m["Phone"].isascii()] == []
