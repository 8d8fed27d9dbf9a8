"""Citizen sign-up, the caller's own account, and the administrators' account and client registry."""

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import pytest
from joserfc.jwk import ECKey, OKPKey, RSAKey
from sqlalchemy import select, update

from auth.models import Account, AccountRole, OAuthClient
from auth.policy import verify_password
from auth.recovery.models import PhoneCode
from core.audit.models import AuditEvent
from core.crypto import secret_digest
from core.events import OutboxEvent
from core.http import IdempotencyRecord
from core.models import utcnow
from tests.helpers import assert_problem, phone_code, sign_up
from tests.oauth import WEB, bearer, client_token, sign_in, token_for

# (a code that was never sent: for the checks made before the code is looked at; `sign_up` sends a real one)
SIGN_UP = {
    "phone": "13912345678",
    "phone_code": "000000",
    "password": "Harbour-lights-over-Jiang",
    "name": "林小雨 Lin Xiaoyu",
}


# -- sign-up and /me ------------------------------------------------------------------------------------------------


async def test_citizen_signs_up_unverified_and_signs_in(client, app, db) -> None:
    response = await sign_up(client, app, SIGN_UP)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "unverified"
    assert body["roles"] == ["citizen"]
    assert body["phone"] == "13912345678"
    assert "password" not in str(body).lower()
    # Stored encrypted and found by its keyed hash, never in clear.
    async with db.engine.connect() as connection:
        row = await connection.execute(select(Account.__table__).where(Account.__table__.c.id == uuid.UUID(body["id"])))
        stored = row.mappings().one()
    assert "13912345678" not in str(stored["phone_encrypted"])
    assert stored["password_hash"].startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    tokens = await sign_in(client, "13912345678", "openid profile permits:apply", app=WEB, password=SIGN_UP["password"])
    me = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.json()["name"] == "林小雨 Lin Xiaoyu"
    assert me.json()["status"] == "unverified"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least 10"),
        ("password2026", "attackers try first"),
        ("abcdefghijk", "sequence"),
        ("lin-13912345678", "phone number"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(client, password: str, reason: str) -> None:
    response = await client.post("/api/v1/accounts", json={**SIGN_UP, "password": password})
    body = assert_problem(response, 422, "weak-password")
    assert body["errors"][0]["field"] == "password"
    assert any(reason in error["detail"] for error in body["errors"])


async def test_duplicate_phone_is_409(client, app, db) -> None:
    assert (await sign_up(client, app, SIGN_UP)).status_code == 201
    async with db.transaction() as session:  # (a number is sent one code a minute)
        await session.execute(update(PhoneCode).values(created_at=utcnow() - timedelta(minutes=1)))
    # Told only to whoever shows they hold the phone: a code sent to it, and used.
    assert_problem(await sign_up(client, app, SIGN_UP), 409, "phone-taken")


@pytest.mark.parametrize(
    "field",
    [
        {"status": "active"},
        {"roles": ["admin"]},
        {"department": "market"},
        {"id": "00000000-0000-0000-0000-000000000000"},
    ],
)
async def test_sign_up_refuses_mass_assignment(client, db, field: dict) -> None:
    body = assert_problem(await client.post("/api/v1/accounts", json={**SIGN_UP, **field}), 422, "validation-failed")
    assert body["errors"][0]["code"] == "extra_forbidden"
    async with db.engine.connect() as connection:
        assert (
            await connection.execute(select(Account.__table__.c.id).where(Account.__table__.c.name == SIGN_UP["name"]))
        ).first() is None


@pytest.mark.parametrize("phone", ["12345", "23800000001", "1380000000a", "+8613800000001"])
async def test_sign_up_validates_the_phone_number(client, phone: str) -> None:
    body = assert_problem(await client.post("/api/v1/accounts", json={**SIGN_UP, "phone": phone}), 422)
    assert body["errors"][0]["field"] == "phone"


@pytest.mark.parametrize("name", ["   ", "\t\u3000 "])
async def test_a_name_of_blanks_is_refused_at_sign_up_and_for_staff(client, app, db, name: str) -> None:
    """Only PATCH /me trimmed a name: a citizen signed up as "   " (the default holder of their permits), and an
    administrator made or renamed staff so, who are then named by nothing in the access logs of the citizens whose
    data they read."""
    signed_up = await sign_up(client, app, {**SIGN_UP, "name": name})
    assert assert_problem(signed_up, 422, "validation-failed")["errors"][0]["field"] == "name"
    admin = bearer(await token_for(app, "admin", "admin"))
    created = await client.post("/api/v1/admin/accounts", json={**STAFF, "name": name}, headers=admin)
    assert assert_problem(created, 422, "validation-failed")["errors"][0]["field"] == "name"
    listed = await client.get("/api/v1/admin/accounts", params={"role": "officer", "limit": 1}, headers=admin)
    url = f"/api/v1/admin/accounts/{listed.json()['items'][0]['id']}"
    renamed = await client.patch(url, json={"name": name}, headers={**admin, "If-Match": '"1"'})
    assert assert_problem(renamed, 422, "validation-failed")["errors"][0]["field"] == "name"
    trimmed = await client.patch(url, json={"name": " 周明 Zhou Ming "}, headers={**admin, "If-Match": '"1"'})
    assert trimmed.json()["name"] == "周明 Zhou Ming"


@asynccontextmanager
async def every_hashing_slot_taken(app) -> AsyncIterator[None]:
    """Hold every slot of the process's password-hashing gate: who hashes through it waits until the block ends."""
    gate = app.state.identity.passwords
    async with AsyncExitStack() as held:
        for _ in range(app.state.settings.password_hash_slots):
            await held.enter_async_context(gate._semaphore)
        yield


@pytest.mark.parametrize("who", ["citizen", "staff"])
async def test_a_new_accounts_password_is_hashed_off_the_event_loop(client, app, admin, who: str) -> None:
    """Sign-up and create_staff hashed in the request's own coroutine: ~15 ms of argon2id during which the process
    answered nobody. They now hash through the process's hashing gate, in a thread, as sign-in does: seen by holding
    every slot of the gate, the account waits for one while the process goes on answering."""
    if who == "citizen":
        body = {**SIGN_UP, "phone_code": await phone_code(client, app, SIGN_UP["phone"])}
        request = client.post("/api/v1/accounts", json=body)
    else:
        request = client.post("/api/v1/admin/accounts", json=STAFF, headers=admin)
    async with every_hashing_slot_taken(app):
        creating = asyncio.ensure_future(request)
        done, _ = await asyncio.wait({creating}, timeout=1.0)
        assert not done, "the password was hashed without waiting for the hashing gate"
        assert (await client.get("/healthz")).json() == {"status": "ok"}
    created = await creating
    assert created.status_code == 201, created.text
    assert created.json()["name"] == (SIGN_UP if who == "citizen" else STAFF)["name"]


async def test_a_rehash_at_sign_in_is_made_off_the_event_loop(app, db) -> None:
    """The upgrade of an old hash at sign-in hashed on the event loop too."""
    from auth import service

    async with db.transaction() as session:
        account_id = (await session.execute(select(Account.id).where(Account.username == "auditor"))).scalar_one()
        async with every_hashing_slot_taken(app):
            rehashing = asyncio.ensure_future(
                service.rehash_password(
                    session=session, identity=app.state.identity, account_id=account_id, password="A-new-hash-of-41"
                )
            )
            done, _ = await asyncio.wait({rehashing}, timeout=1.0)
            assert not done, "the password was hashed without waiting for the hashing gate"
        await rehashing
        account = await session.get(Account, account_id)
        assert verify_password(account.password_hash, "A-new-hash-of-41")


UNSHOWN = [
    ("\u202eLin Xiaoyu", "U+202E"),  # RIGHT-TO-LEFT OVERRIDE: the rest of the log line reads backwards
    ("Lin\u2066 Xiaoyu\u2069", "U+2066, U+2069"),  # a directional isolate and its end
    ("林\u200b小雨", "U+200B"),  # ZERO WIDTH SPACE: looks like 林小雨, is not
    ("Lin\u200dXiaoyu\ufeff", "U+200D, U+FEFF"),  # zero-width joiner, byte-order mark
    ("Lin\x07Xiaoyu", "U+0007"),  # a control character (BEL)
    ("Lin\nXiaoyu", "U+000A"),  # a line break inside: a forged second log line
    ("Lin\u2028Xiaoyu", "U+2028"),  # LINE SEPARATOR
    ("Lin\u2029Xiaoyu", "U+2029"),  # PARAGRAPH SEPARATOR
    ("Lin\ue000Xiaoyu", "U+E000"),  # private use
]


@pytest.mark.parametrize(("name", "code_points"), UNSHOWN)
async def test_a_name_with_characters_it_is_not_shown_with_is_refused_everywhere(
    client, app, db, admin, name: str, code_points: str
) -> None:
    """A name is what a citizen's access log shows of who read their data: with U+202E in it, "Mallory" reads as
    someone else. Refused at sign-up, for staff, in an administrator's and the owner's renaming and in the identity
    check (whose name becomes the account's)."""
    detail = f"Value error, a name cannot contain control, invisible or direction-changing characters ({code_points})"

    def refused(response) -> None:
        body = assert_problem(response, 422, "validation-failed")
        assert [(error["field"], error["detail"]) for error in body["errors"]] == [("name", detail)]

    refused(await sign_up(client, app, {**SIGN_UP, "name": name}))
    refused(await client.post("/api/v1/admin/accounts", json={**STAFF, "name": name}, headers=admin))
    listed = await client.get("/api/v1/admin/accounts", params={"role": "officer", "limit": 1}, headers=admin)
    url = f"/api/v1/admin/accounts/{listed.json()['items'][0]['id']}"
    refused(await client.patch(url, json={"name": name}, headers={**admin, "If-Match": '"1"'}))
    owner = bearer(await token_for(app, "13800000003", "openid profile account", client_id="demo-web"))
    etag = (await client.get("/api/v1/me", headers=owner)).headers["etag"]
    refused(await client.patch("/api/v1/me", json={"name": name}, headers={**owner, "If-Match": etag}))
    checked = await client.post(
        "/api/v1/me/identity-verification", headers=owner, json={"name": name, "id_number": "440703199203150034"}
    )
    refused(checked)
    me = (await client.get("/api/v1/me", headers=owner)).json()
    assert (me["name"], me["identity_verified_at"], me["version"]) == ("王磊 Wang Lei", None, 1)
    assert (await client.get(url, headers=admin)).json()["version"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "阿卜杜·热合曼",  # a transliterated name, its parts joined by a middle dot
        "Zoë O'Brien-Smith",
        "Anne Marie d’Arc",  # a typographic apostrophe
        "欧阳 娜娜",
        "Nguyễn Thị Minh Khai",
        "Ахмед Ибрагим",
    ],
)
async def test_names_in_any_script_with_their_own_punctuation_pass(client, app, db, admin, name: str) -> None:
    signed_up = await sign_up(client, app, {**SIGN_UP, "name": name})
    assert (signed_up.status_code, signed_up.json()["name"]) == (201, name)
    created = await client.post("/api/v1/admin/accounts", json={**STAFF, "name": name}, headers=admin)
    assert (created.status_code, created.json()["name"]) == (201, name)
    owner = bearer(await token_for(app, "13800000003", "openid profile account", client_id="demo-web"))
    etag = (await client.get("/api/v1/me", headers=owner)).headers["etag"]
    renamed = await client.patch("/api/v1/me", json={"name": name}, headers={**owner, "If-Match": etag})
    assert (renamed.status_code, renamed.json()["name"]) == (200, name)


async def test_sign_up_is_idempotent_with_a_key(client, app, db) -> None:
    headers = {"Idempotency-Key": "signup-1"}
    body = {**SIGN_UP, "phone_code": await phone_code(client, app, SIGN_UP["phone"])}
    first = await client.post("/api/v1/accounts", json=body, headers=headers)
    retry = await client.post("/api/v1/accounts", json=body, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"


async def test_me_requires_a_person(client, app) -> None:
    assert_problem(await client.get("/api/v1/me"), 401, "unauthorized")
    partner = await client_token(app, "demo-partner", "partner:read")
    assert_problem(await client.get("/api/v1/me", headers=bearer(partner)), 403, "insufficient-scope")
    # A client acting as itself has no "me", whatever its token's scopes.
    profiled = await client_token(app, "demo-partner", "profile")
    assert_problem(await client.get("/api/v1/me", headers=bearer(profiled)), 403, "forbidden")


async def test_me_shows_the_owner_their_data_and_updates_with_if_match(client, app) -> None:
    headers = bearer(await token_for(app, "13800000001", "openid profile account", client_id="demo-web"))
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["phone"] == "13800000001"
    etag = me.headers["etag"]
    assert_problem(await client.patch("/api/v1/me", json={"preferred_language": "en"}, headers=headers), 428)
    updated = await client.patch("/api/v1/me", json={"preferred_language": "en"}, headers={**headers, "If-Match": etag})
    assert updated.status_code == 200
    assert updated.json()["preferred_language"] == "en"
    stale = await client.patch("/api/v1/me", json={"name": "x"}, headers={**headers, "If-Match": etag})
    assert_problem(stale, 412)
    # Read again at once, the account is the changed one, and its ETag takes the next change.
    reread = await client.get("/api/v1/me", headers=headers)
    assert (reread.json()["preferred_language"], reread.headers["etag"]) == ("en", updated.headers["etag"])
    blank = await client.patch(
        "/api/v1/me", json={"name": "   "}, headers={**headers, "If-Match": reread.headers["etag"]}
    )
    assert [e["field"] for e in assert_problem(blank, 422)["errors"]] == ["name"]
    renamed = await client.patch(
        "/api/v1/me", json={"name": "王小明"}, headers={**headers, "If-Match": reread.headers["etag"]}
    )
    assert renamed.status_code == 200, renamed.text
    assert (await client.get("/api/v1/me", headers=headers)).json()["name"] == "王小明"
    assert_problem(
        await client.patch(
            "/api/v1/me", json={"status": "active"}, headers={**headers, "If-Match": updated.headers["etag"]}
        ),
        422,
    )


async def test_me_shows_the_phone_and_the_id_number_only_through_the_scopes_that_release_them(client, app) -> None:
    """The consent page tells the person an app with `profile` sees their name and preferred language: the phone takes
    `phone`, and the ID number (masked, it still tells where they were registered and their sex) the city's own apps
    (`account`). Each process caches the account whole, so the portal reads first: that must not leak to the next."""
    portal = bearer(await token_for(app, "13800000003", "openid profile account", client_id="demo-web"))
    checked = await client.post(
        "/api/v1/me/identity-verification", headers=portal, json={"name": "王磊", "id_number": "440703199203150034"}
    )
    assert checked.status_code == 200, checked.text
    whole = (await client.get("/api/v1/me", headers=portal)).json()
    assert (whole["phone"], whole["id_number_masked"]) == ("13800000003", "4407**********0034")
    for scopes, phone, id_number in (
        ("openid profile", None, None),
        ("openid profile talent:apply", None, None),
        ("openid profile phone", "13800000003", None),
        ("openid account", "13800000003", "4407**********0034"),
    ):
        shown = await client.get("/api/v1/me", headers=bearer(await token_for(app, "13800000003", scopes)))
        assert shown.status_code == 200, shown.text
        assert (shown.json()["phone"], shown.json()["id_number_masked"]) == (phone, id_number), scopes
        rest = {name: value for name, value in shown.json().items() if name not in ("phone", "id_number_masked")}
        assert rest == {name: value for name, value in whole.items() if name not in ("phone", "id_number_masked")}
        assert (rest["name"], rest["preferred_language"]) == ("王磊", "zh-CN")
    # Without `profile` (or `account`) the account is not the app's to read, the phone alone included: that is the
    # OpenID Connect UserInfo's to give (phone_number).
    for scopes in ("openid", "openid phone", "openid phone talent:apply permits:apply"):
        refused = await client.get("/api/v1/me", headers=bearer(await token_for(app, "13800000003", scopes)))
        assert_problem(refused, 403, "insufficient-scope")
        assert 'scope="account profile"' in refused.headers["www-authenticate"]


async def test_changing_the_account_takes_the_account_scope(client, app) -> None:
    """`profile` lets an app see the name and language, not change them: 403, and nothing changed."""
    other_app = bearer(await token_for(app, "13800000001", "openid profile phone talent:apply"))
    before = await client.get("/api/v1/me", headers=other_app)
    refused = await client.patch(
        "/api/v1/me",
        json={"name": "别人起的名字", "preferred_language": "en"},
        headers={**other_app, "If-Match": before.headers["etag"]},
    )
    body = assert_problem(refused, 403, "insufficient-scope")
    assert body["detail"] == "This needs the scope(s): account."
    assert refused.headers["www-authenticate"] == (
        'Bearer realm="talent-island", error="insufficient_scope", scope="account"'
    )
    after = await client.get("/api/v1/me", headers=other_app)
    assert (after.json(), after.headers["etag"]) == (before.json(), before.headers["etag"])
    portal = bearer(await token_for(app, "13800000001", "openid profile account", client_id="demo-web"))
    changed = await client.patch(
        "/api/v1/me", json={"preferred_language": "en"}, headers={**portal, "If-Match": before.headers["etag"]}
    )
    assert (changed.status_code, changed.json()["preferred_language"]) == (200, "en")


async def test_a_name_verified_against_an_id_card_is_edited_by_nobody(client, app, db) -> None:
    """The real-name check set it: registries are asked about it and credentials carry it. An unverified citizen
    still edits theirs."""
    admin = bearer(await token_for(app, "admin", "admin"))
    headers = bearer(await token_for(app, "13800000003", "openid profile account", client_id="demo-web"))
    checked = await client.post(
        "/api/v1/me/identity-verification", headers=headers, json={"name": "王磊", "id_number": "440703199203150034"}
    )
    assert checked.status_code == 200, checked.text
    me = await client.get("/api/v1/me", headers=headers)
    assert (me.json()["name"], bool(me.json()["identity_verified_at"])) == ("王磊", True)
    renamed = await client.patch(
        "/api/v1/me", json={"name": "李四"}, headers={**headers, "If-Match": me.headers["etag"]}
    )
    assert_problem(renamed, 409, "name-verified")
    same = await client.patch(
        "/api/v1/me", json={"name": me.json()["name"]}, headers={**headers, "If-Match": me.headers["etag"]}
    )
    assert same.status_code == 200, same.text
    account = f"/api/v1/admin/accounts/{me.json()['id']}"
    etag = (await client.get(account, headers=admin)).headers["etag"]
    assert_problem(await client.patch(account, json={"name": "李四"}, headers={**admin, "If-Match": etag}), 409)
    assert (await client.get("/api/v1/me", headers=headers)).json()["name"] == me.json()["name"]

    citizen = (await sign_up(client, app, SIGN_UP)).json()
    fresh = await client.patch(
        f"/api/v1/admin/accounts/{citizen['id']}", json={"name": "新名字"}, headers={**admin, "If-Match": '"1"'}
    )
    assert (fresh.status_code, fresh.json()["name"]) == (200, "新名字")


# -- administrators -------------------------------------------------------------------------------------------------


@pytest.fixture
async def admin(app) -> dict[str, str]:
    return bearer(await token_for(app, "admin", "admin"))


STAFF = {
    "username": "officer.tax",
    "name": "钱芳 Qian Fang",
    "password": "Ledger-and-lantern-41",
    "department": "tax",
    "roles": ["officer"],
}


@pytest.mark.parametrize("login", ["13800000001", "officer.market", "auditor"])
async def test_admin_routes_refuse_everyone_else(client, app, login: str) -> None:
    headers = bearer(await token_for(app, login, "admin openid"))
    assert_problem(await client.get("/api/v1/admin/accounts", headers=headers), 403)
    assert_problem(await client.post("/api/v1/admin/accounts", json=STAFF, headers=headers), 403)
    assert_problem(await client.get("/api/v1/admin/clients", headers=headers), 403)


async def test_admin_creates_lists_and_reads_staff(client, admin) -> None:
    created = await client.post("/api/v1/admin/accounts", json=STAFF, headers=admin)
    assert created.status_code == 201, created.text
    account = created.json()
    assert (account["status"], account["department"], account["roles"]) == ("active", "tax", ["officer"])
    assert created.headers["location"] == f"/api/v1/admin/accounts/{account['id']}"
    listed = (await client.get("/api/v1/admin/accounts", params={"department": "tax"}, headers=admin)).json()
    assert [item["username"] for item in listed["items"]] == ["officer.tax"]
    citizens = (
        await client.get("/api/v1/admin/accounts", params={"kind": "citizen", "limit": 100}, headers=admin)
    ).json()
    # Personal data is masked for administrators.
    assert {item["phone_masked"] for item in citizens["items"]} >= {"138****0001"}
    assert all("phone" not in item for item in citizens["items"])
    assert_problem(await client.post("/api/v1/admin/accounts", json=STAFF, headers=admin), 409, "username-taken")


async def _account(client, admin, **filters) -> dict:
    listed = await client.get("/api/v1/admin/accounts", params={**filters, "limit": 1}, headers=admin)
    return listed.json()["items"][0]


def _department_refused(response, detail: str) -> None:
    body = assert_problem(response, 422, "invalid-department")
    assert body["detail"] == detail
    assert [(error["field"], error["detail"]) for error in body["errors"]] == [("department", detail)]


@pytest.mark.parametrize(
    ("roles", "named"),
    [
        (["officer"], "the role officer"),
        (["supervisor"], "the role supervisor"),
        (["talent_officer", "officer"], "the roles officer, talent_officer"),
        (["catalogue_editor", "publisher"], "the role catalogue_editor"),
    ],
)
async def test_staff_who_work_for_a_department_are_created_with_one(client, admin, roles: list, named: str) -> None:
    """Officers, supervisors and editors without a department were created, and then worked nobody's queue."""
    detail = f"An account with {named} belongs to a department: give it one."
    without = {key: value for key, value in STAFF.items() if key != "department"} | {"roles": roles}
    for body in (without, {**without, "department": None}):
        _department_refused(await client.post("/api/v1/admin/accounts", json=body, headers=admin), detail)
    nobody = await client.get("/api/v1/admin/accounts", params={"role": roles[0], "limit": 100}, headers=admin)
    assert STAFF["username"] not in [item["username"] for item in nobody.json()["items"]]
    created = await client.post("/api/v1/admin/accounts", json={**STAFF, "roles": roles}, headers=admin)
    assert (created.status_code, created.json()["department"]) == (201, "tax")


@pytest.mark.parametrize("roles", [["publisher"], ["auditor"], ["admin"], ["auditor", "publisher"]])
async def test_staff_who_work_across_departments_need_none(client, admin, roles: list) -> None:
    body = {key: value for key, value in STAFF.items() if key != "department"} | {"roles": roles}
    created = await client.post("/api/v1/admin/accounts", json=body, headers=admin)
    assert (created.status_code, created.json()["department"]) == (201, None)


async def test_a_citizen_is_given_no_department(client, db, admin) -> None:
    """An administrator could put a citizen in a department, whose tokens then carried `dept`."""
    citizen = await _account(client, admin, kind="citizen")
    url = f"/api/v1/admin/accounts/{citizen['id']}"
    detail = "A citizen belongs to no department: leave department out (or null)."
    _department_refused(
        await client.patch(url, json={"department": "market"}, headers={**admin, "If-Match": '"1"'}), detail
    )
    after = (await client.get(url, headers=admin)).json()
    assert (after["department"], after["version"]) == (None, 1)
    # Naming nothing is no department, and any other change goes through.
    renamed = await client.patch(
        url, json={"department": None, "status": "disabled"}, headers={**admin, "If-Match": '"1"'}
    )
    assert (renamed.status_code, renamed.json()["department"], renamed.json()["status"]) == (200, None, "disabled")


async def test_an_officer_keeps_a_department_through_changes(client, admin) -> None:
    officer = await _account(client, admin, role="officer", department="market")
    url = f"/api/v1/admin/accounts/{officer['id']}"
    detail = "An account with the role officer belongs to a department: give it one."
    _department_refused(
        await client.patch(url, json={"department": None}, headers={**admin, "If-Match": '"1"'}), detail
    )
    publisher = await _account(client, admin, role="publisher")
    to_publisher = f"/api/v1/admin/accounts/{publisher['id']}"
    detail = "An account with the roles officer, supervisor belongs to a department: give it one."
    _department_refused(
        await client.patch(
            to_publisher, json={"roles": ["publisher", "supervisor", "officer"]}, headers={**admin, "If-Match": '"1"'}
        ),
        detail,
    )
    assert (await client.get(to_publisher, headers=admin)).json()["roles"] == ["publisher"]
    # Given one in the same change, it is taken; moved to another department, so is the officer.
    promoted = await client.patch(
        to_publisher,
        json={"roles": ["publisher", "supervisor"], "department": "housing"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert (promoted.status_code, promoted.json()["department"]) == (200, "housing")
    moved = await client.patch(url, json={"department": "housing"}, headers={**admin, "If-Match": '"1"'})
    assert (moved.status_code, moved.json()["department"]) == (200, "housing")
    # Out of the department's roles, no department is needed.
    left = await client.patch(
        url, json={"roles": ["auditor"], "department": None}, headers={**admin, "If-Match": moved.headers["etag"]}
    )
    assert (left.status_code, left.json()["department"], left.json()["roles"]) == (200, None, ["auditor"])


async def test_removing_a_role_or_disabling_cuts_off_live_tokens(client, app, admin) -> None:
    tokens = await sign_in(client, "officer.market", "openid permits:process")
    accounts = (
        await client.get("/api/v1/admin/accounts", params={"role": "officer", "department": "market"}, headers=admin)
    ).json()["items"]
    target = accounts[0]
    etag = (await client.get(f"/api/v1/admin/accounts/{target['id']}", headers=admin)).headers["etag"]
    changed = await client.patch(
        f"/api/v1/admin/accounts/{target['id']}", json={"status": "disabled"}, headers={**admin, "If-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.json()["status"] == "disabled"
    deadline = time.monotonic() + 2.5
    while (await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))).status_code != 401:
        assert time.monotonic() < deadline, "a disabled account's token still works after 2 seconds"
    refreshed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("officer-console", "officer-console-secret"),
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_admin_cannot_assign_unknown_roles_or_activate_unverified_citizens(client, app, admin) -> None:
    body = assert_problem(
        await client.post("/api/v1/admin/accounts", json={**STAFF, "roles": ["root"]}, headers=admin), 422
    )
    assert body["errors"][0]["field"] == "roles.0"
    citizen = (await sign_up(client, app, SIGN_UP)).json()
    response = await client.patch(
        f"/api/v1/admin/accounts/{citizen['id']}", json={"status": "active"}, headers={**admin, "If-Match": '"1"'}
    )
    assert_problem(response, 422, "invalid-account-change")


async def test_enabling_a_disabled_unverified_citizen_leaves_them_unverified(client, app, admin) -> None:
    citizen = (await sign_up(client, app, SIGN_UP)).json()
    url = f"/api/v1/admin/accounts/{citizen['id']}"
    disabled = await client.patch(url, json={"status": "disabled"}, headers={**admin, "If-Match": '"1"'})
    assert disabled.json()["status"] == "disabled"
    etag = disabled.headers["etag"]
    enabled = await client.patch(url, json={"status": "active"}, headers={**admin, "If-Match": etag})
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["status"] == "unverified"


async def _account_of(client, admin, username: str) -> dict:
    listed = (await client.get("/api/v1/admin/accounts", params={"kind": "staff", "limit": 100}, headers=admin)).json()
    return next(item for item in listed["items"] if item["username"] == username)


@pytest.mark.parametrize("change", [{"roles": ["auditor"]}, {"status": "disabled"}])
async def test_the_last_active_administrator_keeps_the_role(client, app, admin, change: dict) -> None:
    """The only administrator took the role from themselves (or disabled themselves) and the city had none left:
    nobody could manage accounts and clients, or give the role back, short of the database and the command line."""
    me = await _account_of(client, admin, "admin")
    url = f"/api/v1/admin/accounts/{me['id']}"
    body = assert_problem(await client.patch(url, json=change, headers={**admin, "If-Match": '"1"'}), 409)
    assert body["type"].endswith(":last-administrator"), body
    assert "last active administrator" in body["detail"]
    kept = (await client.get(url, headers=admin)).json()
    assert (kept["roles"], kept["status"], kept["version"]) == (["admin"], "active", 1)

    # With a second administrator the first may step down.
    second = await client.post(
        "/api/v1/admin/accounts", json={**STAFF, "username": "admin.two", "roles": ["admin"]}, headers=admin
    )
    assert second.status_code == 201, second.text
    stepped_down = await client.patch(url, json=change, headers={**admin, "If-Match": '"1"'})
    assert stepped_down.status_code == 200, stepped_down.text
    # The second, now the last, cannot be removed by anyone either.
    other = bearer(await token_for(app, "admin.two", "admin"))
    second_url = f"/api/v1/admin/accounts/{second.json()['id']}"
    refused = await client.patch(second_url, json={"status": "disabled"}, headers={**other, "If-Match": '"1"'})
    assert assert_problem(refused, 409)["type"].endswith(":last-administrator")


async def test_two_administrators_removing_each_other_at_once_leave_one(client, app, admin) -> None:
    second = await client.post(
        "/api/v1/admin/accounts", json={**STAFF, "username": "admin.two", "roles": ["admin"]}, headers=admin
    )
    other = bearer(await token_for(app, "admin.two", "admin"))
    first_id = (await _account_of(client, admin, "admin"))["id"]
    second_id = second.json()["id"]
    answers = await asyncio.gather(
        client.patch(
            f"/api/v1/admin/accounts/{second_id}", json={"roles": ["auditor"]}, headers={**admin, "If-Match": '"1"'}
        ),
        client.patch(
            f"/api/v1/admin/accounts/{first_id}", json={"roles": ["auditor"]}, headers={**other, "If-Match": '"1"'}
        ),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409], [answer.text for answer in answers]
    async with app.state.db.transaction(write=False) as session:
        admins = await session.execute(select(AccountRole.account_id).where(AccountRole.role == "admin"))
        assert len(admins.all()) == 1


async def test_a_change_of_roles_moves_the_accounts_version(client, admin) -> None:
    """Roles live in their own table: changing only them left the account's version (its ETag) where it was, so
    a second administrator's change made from the same read was taken too, silently undoing the first."""
    target = await _account_of(client, admin, "officer.market")
    url = f"/api/v1/admin/accounts/{target['id']}"
    first = await client.patch(url, json={"roles": ["officer", "supervisor"]}, headers={**admin, "If-Match": '"1"'})
    assert first.status_code == 200, first.text
    assert (first.json()["version"], first.headers["etag"]) == (2, '"2"')
    stale = await client.patch(url, json={"roles": ["auditor"]}, headers={**admin, "If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    kept = (await client.get(url, headers=admin)).json()
    assert (kept["roles"], kept["version"]) == (["officer", "supervisor"], 2)


# -- clients --------------------------------------------------------------------------------------------------------


PARTNER = {
    "client_id": "city-bank",
    "name_zh": "城市银行",
    "name_en": "City Bank",
    "kind": "confidential",
    "token_endpoint_auth_method": "client_secret_basic",
    "grant_types": ["client_credentials"],
    "scopes": ["partner:read"],
}


async def test_client_secret_is_shown_once_and_stored_hashed(client, db, admin) -> None:
    keyed = {**admin, "Idempotency-Key": "new-client-1"}
    created = await client.post("/api/v1/admin/clients", json=PARTNER, headers=keyed)
    assert created.status_code == 201, created.text
    secret = created.json()["client_secret"]
    assert len(secret) >= 40
    async with db.engine.connect() as connection:
        stored = (
            await connection.execute(
                select(OAuthClient.__table__.c.secret_hash).where(OAuthClient.__table__.c.client_id == "city-bank")
            )
        ).scalar_one()
        # The answer kept for a retry is encrypted: the secret is nowhere in the database in the clear.
        kept = (await connection.execute(select(IdempotencyRecord.__table__.c.body))).scalars().all()
    assert stored == secret_digest(secret)
    assert kept
    assert not any(secret.encode() in body or b"city-bank" in body for body in kept)
    retried = await client.post("/api/v1/admin/clients", json=PARTNER, headers=keyed)
    assert (retried.headers["idempotent-replayed"], retried.json()) == ("true", created.json())
    read = (await client.get("/api/v1/admin/clients/city-bank", headers=admin)).json()
    assert "client_secret" not in read
    assert "secret_hash" not in read
    token = await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("city-bank", secret))
    assert token.status_code == 200


async def test_rotating_the_secret_retires_the_old_one(client, admin) -> None:
    created = (await client.post("/api/v1/admin/clients", json=PARTNER, headers=admin)).json()
    old = created["client_secret"]
    assert (
        await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("city-bank", old))
    ).status_code == 200
    rotated = await client.post("/api/v1/admin/clients/city-bank/secret", headers={**admin, "If-Match": '"1"'})
    new = rotated.json()["client_secret"]
    assert new != old
    deadline = time.monotonic() + 2.5
    while (
        await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("city-bank", old))
    ).status_code != 401:
        assert time.monotonic() < deadline
    assert (
        await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("city-bank", new))
    ).status_code == 200


async def test_rotating_the_secret_stops_the_access_tokens_issued_with_the_old_one(client, db, admin) -> None:
    """A secret is rotated because it leaked, and the tokens minted with it went on working for their ten minutes."""
    partner = ("demo-partner", "demo-partner-secret")
    issued = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "scope": "webhooks:manage"}, auth=partner
    )
    held = bearer(issued.json()["access_token"])
    assert (await client.get("/api/v1/partners/webhooks", headers=held)).status_code == 200
    rotated = await client.post("/api/v1/admin/clients/demo-partner/secret", headers={**admin, "If-Match": '"1"'})
    assert rotated.status_code == 200, rotated.text
    deadline = time.monotonic() + 2.5
    while (refused := await client.get("/api/v1/partners/webhooks", headers=held)).status_code != 401:
        assert time.monotonic() < deadline, "a token minted with the rotated secret still works"
    assert assert_problem(refused, 401, "invalid-token")["detail"] == "The token was revoked."
    async with db.transaction(write=False) as session:
        statement = select(AuditEvent.detail).where(
            AuditEvent.action == "identity.client.secret_rotated", AuditEvent.object_id == "demo-partner"
        )
        assert (await session.execute(statement)).scalar_one() == {"revoked": "access_tokens"}
    # The new secret's tokens work (once past the second of the rotation: a revocation stops what was issued up to
    # and including its second, token times being whole seconds).
    new = ("demo-partner", rotated.json()["client_secret"])
    deadline = time.monotonic() + 2.5
    while True:
        fresh = await client.post(
            "/oauth2/token", data={"grant_type": "client_credentials", "scope": "webhooks:manage"}, auth=new
        )
        answer = await client.get("/api/v1/partners/webhooks", headers=bearer(fresh.json()["access_token"]))
        if answer.status_code == 200:
            break
        assert time.monotonic() < deadline, answer.text


async def test_rotating_the_secret_keeps_the_sign_ins_refreshable_with_the_new_one(client, admin) -> None:
    """People signed in through the client lose the access token they hold, not their sign-in: refreshing takes the
    client's secret, which only the new one passes."""
    tokens = await sign_in(client, "13800000001", "openid profile")
    me = bearer(tokens["access_token"])
    assert (await client.get("/api/v1/me", headers=me)).status_code == 200
    etag = (await client.get("/api/v1/admin/clients/officer-console", headers=admin)).headers["etag"]
    rotated = await client.post("/api/v1/admin/clients/officer-console/secret", headers={**admin, "If-Match": etag})
    rotated_at = time.time()  # the revocation's time is before this
    assert rotated.status_code == 200, rotated.text
    deadline = time.monotonic() + 2.5
    while (await client.get("/api/v1/me", headers=me)).status_code != 401:
        assert time.monotonic() < deadline, "the access token outlived the rotation of its client's secret"
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    deadline = time.monotonic() + 2.5
    while (
        stale := await client.post("/oauth2/token", data=refresh, auth=("officer-console", "officer-console-secret"))
    ).status_code != 401:
        assert time.monotonic() < deadline, "the old secret still refreshes"
    assert stale.json()["error"] == "invalid_client"
    # A revocation stops what was issued up to and including its second (token times are whole seconds), so the
    # refresh is made in a later one: a token issued in the rotation's own second would be refused for its life.
    await asyncio.sleep(max(0.0, math.ceil(rotated_at) - time.time()) + 0.05)
    refreshed = await client.post(
        "/oauth2/token", data=refresh, auth=("officer-console", rotated.json()["client_secret"])
    )
    assert refreshed.status_code == 200, refreshed.text
    assert (await client.get("/api/v1/me", headers=bearer(refreshed.json()["access_token"]))).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"redirect_uris": ["http://evil.example/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://app.example/cb#frag"]}, "redirect_uris"),
        ({"redirect_uris": ["https://*.example/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://user@app.example/cb"]}, "redirect_uris"),
        ({"scopes": ["everything"]}, "scopes"),
        ({"kind": "public"}, "body"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "body"),
        ({"jwks": {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "d": "secret"}]}}, "jwks"),
    ],
)
async def test_client_registration_is_validated(client, admin, change: dict, field: str) -> None:
    body = assert_problem(await client.post("/api/v1/admin/clients", json={**PARTNER, **change}, headers=admin), 422)
    assert body["errors"][0]["field"].startswith(field) or field == "body"


async def test_disabling_a_client_stops_it(client, admin) -> None:
    created = (await client.post("/api/v1/admin/clients", json=PARTNER, headers=admin)).json()
    disabled = await client.patch(
        "/api/v1/admin/clients/city-bank", json={"status": "disabled"}, headers={**admin, "If-Match": '"1"'}
    )
    assert disabled.status_code == 200
    deadline = time.monotonic() + 2.5
    while (
        await client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("city-bank", created["client_secret"])
        )
    ).status_code != 401:
        assert time.monotonic() < deadline


async def test_disabling_a_client_cuts_off_the_people_signed_in_through_it(client, admin) -> None:
    tokens = await sign_in(client, "13800000001", "openid profile", app=WEB)
    me = bearer(tokens["access_token"])
    assert (await client.get("/api/v1/me", headers=me)).status_code == 200

    async def set_status(status: str) -> None:
        etag = (await client.get("/api/v1/admin/clients/demo-web", headers=admin)).headers["etag"]
        changed = await client.patch(
            "/api/v1/admin/clients/demo-web", json={"status": status}, headers={**admin, "If-Match": etag}
        )
        assert changed.status_code == 200, changed.text

    await set_status("disabled")
    deadline = time.monotonic() + 2.5
    while (await client.get("/api/v1/me", headers=me)).status_code != 401:
        assert time.monotonic() < deadline, "the access token still works through a disabled client"
    # Enabling the client again does not bring back what it held when it was disabled.
    await set_status("active")
    refreshed = await client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "demo-web"},
    )
    assert refreshed.json()["error"] == "invalid_grant"
    assert (await client.get("/api/v1/me", headers=me)).status_code == 401


async def test_contact_details_are_the_accounts_own_and_see_a_pending_change(client, app, db) -> None:
    # What notifications and new applications use: the name, the phone decrypted, the language; in the caller's
    # transaction, a change not yet flushed is already seen.
    from auth import service

    created = (await sign_up(client, app, SIGN_UP)).json()
    identity = app.state.identity
    async with db.transaction() as session:
        account_id = uuid.UUID(created["id"])
        assert await service.contact_of(session=session, identity=identity, account_id=account_id) == (
            "林小雨 Lin Xiaoyu",
            "13912345678",
            "zh-CN",
        )
        account = await session.get(Account, account_id)
        account.name = "Lin Xiaoyu"
        name, _, _ = await service.contact_of(session=session, identity=identity, account_id=account_id)
        assert name == "Lin Xiaoyu"
        await session.rollback()
        with pytest.raises(service.AccountNotFound):
            await service.contact_of(session=session, identity=identity, account_id=uuid.uuid4())


async def test_taking_a_scope_from_a_client_stops_the_tokens_that_carry_it(client, db, admin) -> None:
    """A partner whose webhooks:manage was taken away kept managing webhooks with the token it held, for the rest of
    its ten minutes: only new tokens were narrowed."""
    partner = ("demo-partner", "demo-partner-secret")
    wanted = {"grant_type": "client_credentials", "scope": "partner:read webhooks:manage"}
    issued = await client.post("/oauth2/token", data=wanted, auth=partner)
    held = bearer(issued.json()["access_token"])
    assert (await client.get("/api/v1/partners/webhooks", headers=held)).status_code == 200
    narrowed = await client.patch(
        "/api/v1/admin/clients/demo-partner",
        json={"scopes": ["partner:read", "partner:submit"]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert narrowed.status_code == 200, narrowed.text
    deadline = time.monotonic() + 2.5
    while (refused := await client.get("/api/v1/partners/webhooks", headers=held)).status_code != 401:
        assert time.monotonic() < deadline, "a token still carries the scope taken from its client"
    assert assert_problem(refused, 401, "invalid-token")["detail"] == "The token was revoked."
    again = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "scope": "webhooks:manage"}, auth=partner
    )
    assert again.json()["error"] == "invalid_scope"
    async with db.transaction(write=False) as session:
        statement = select(AuditEvent.detail).where(
            AuditEvent.action == "identity.client.updated", AuditEvent.object_id == "demo-partner"
        )
        assert (await session.execute(statement)).scalar_one()["scopes_removed"] == ["webhooks:manage"]


@pytest.mark.parametrize("field", ["scopes", "redirect_uris", "name_zh", "skip_consent", "status"])
async def test_a_client_field_is_left_out_to_keep_it_never_null(client, admin, field: str) -> None:
    """Null was written as it came: a null scope list was a 500, a null name, flag or status a 409 blaming "data that
    already exists"."""
    response = await client.patch(
        "/api/v1/admin/clients/demo-web", json={field: None}, headers={**admin, "If-Match": '"1"'}
    )
    body = assert_problem(response, 422, "validation-failed")
    assert [(error["field"], error["detail"]) for error in body["errors"]] == [
        (field, "Value error, leave the field out to keep it; it cannot be null")
    ]
    kept = (await client.get("/api/v1/admin/clients/demo-web", headers=admin)).json()
    assert (kept["version"], "phone" in kept["scopes"], kept["status"]) == (1, True, "active")


@pytest.mark.parametrize("change", [{}, {"status": "active", "skip_consent": False}])
async def test_a_client_patch_that_changes_nothing_records_no_change(client, db, admin, change: dict) -> None:
    """An empty PATCH, or one repeating the current values, was audited and announced as a change of the client."""
    response = await client.patch(
        "/api/v1/admin/clients/demo-partner", json=change, headers={**admin, "If-Match": '"1"'}
    )
    assert (response.status_code, response.json()["version"], response.headers["etag"]) == (200, 1, '"1"')
    async with db.transaction(write=False) as session:
        audited = await session.execute(select(AuditEvent.id).where(AuditEvent.action == "identity.client.updated"))
        announced = await session.execute(select(OutboxEvent.id).where(OutboxEvent.name == "identity.client.updated"))
        assert (audited.all(), announced.all()) == ([], [])


@pytest.mark.parametrize(
    "key",
    [
        {"kty": "RSA"},  # no modulus
        {"kty": "RSA", "n": "AAAA", "e": "AQAB"},  # a modulus of nothing
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},  # not a point on the curve
    ],
)
async def test_a_key_set_the_token_endpoint_cannot_read_is_refused(client, admin, key: dict) -> None:
    """Registered with a 201, such a client then failed every sign-in with "bad signature"."""
    jwt_partner = {**PARTNER, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key]}}
    body = assert_problem(await client.post("/api/v1/admin/clients", json=jwt_partner, headers=admin), 422)
    assert [error["field"] for error in body["errors"]] == ["jwks"]
    assert "not a usable public key" in body["errors"][0]["detail"]
    assert_problem(await client.get("/api/v1/admin/clients/city-bank", headers=admin), 404)


def _public_key(kind: str, size_or_curve: int | str) -> dict:
    generate = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}[kind].generate_key
    return generate(size_or_curve).as_dict(private=False)


WEAK_KEYS = [
    (("RSA", 1024), "an RSA key of 1024 bits is too weak: at least 2048 bits are required"),
    (("RSA", 2040), "an RSA key of 2040 bits is too weak: at least 2048 bits are required"),
    (("EC", "P-384"), "an EC key on P-384 is not accepted: use P-256"),
    (("EC", "secp256k1"), "an EC key on secp256k1 is not accepted: use P-256"),
    (("OKP", "X25519"), "an OKP key on X25519 is not accepted: use Ed25519 or Ed448"),
]


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")  # joserfc's own warning on small RSA keys
@pytest.mark.parametrize(("weak", "problem"), WEAK_KEYS)
async def test_a_weak_key_or_one_on_a_curve_we_do_not_verify_is_refused(client, admin, weak, problem: str) -> None:
    """A 1024-bit RSA key (or 512: factored in hours) was registered with a 201 and verified the client's assertions;
    so was a key on a curve ES256 / EdDSA never verify with, whose client then failed every sign-in."""
    strong = _public_key("RSA", 2048)
    jwt_partner = {**PARTNER, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [strong]}}
    refused = {**jwt_partner, "jwks": {"keys": [strong, _public_key(*weak)]}}
    body = assert_problem(await client.post("/api/v1/admin/clients", json=refused, headers=admin), 422)
    assert [(error["field"], error["detail"]) for error in body["errors"]] == [
        ("jwks", f"Value error, key 2 of the set: {problem}")
    ]
    assert_problem(await client.get("/api/v1/admin/clients/city-bank", headers=admin), 404)
    # Nor by a change of a registered client's keys.
    assert (await client.post("/api/v1/admin/clients", json=jwt_partner, headers=admin)).status_code == 201
    patched = await client.patch(
        "/api/v1/admin/clients/city-bank",
        json={"jwks": {"keys": [_public_key(*weak)]}},
        headers={**admin, "If-Match": '"1"'},
    )
    body = assert_problem(patched, 422, "validation-failed")
    assert [(error["field"], error["detail"]) for error in body["errors"]] == [
        ("jwks", f"Value error, key 1 of the set: {problem}")
    ]
    kept = (await client.get("/api/v1/admin/clients/city-bank", headers=admin)).json()
    assert (kept["version"], kept["jwks"]) == (1, {"keys": [strong]})


@pytest.mark.parametrize("key", [("RSA", 2048), ("RSA", 4096), ("EC", "P-256"), ("OKP", "Ed25519"), ("OKP", "Ed448")])
async def test_keys_of_the_kinds_we_verify_are_registered(client, admin, key) -> None:
    jwt_partner = {**PARTNER, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [_public_key(*key)]}}
    created = await client.post("/api/v1/admin/clients", json=jwt_partner, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["jwks"] == jwt_partner["jwks"]
