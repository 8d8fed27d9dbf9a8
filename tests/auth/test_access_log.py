"""The citizen access log: a staff member's read of a citizen's data is shown to that citizen, and only to them."""

from sqlalchemy import select

from auth.models import Account
from core.accesslog import AccessLogEntry
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for

LOG = "/api/v1/me/access-log"


async def _citizen_id(app, db, phone: str):
    phone_hash = app.state.identity.cipher.lookup_hash(phone, context="phone")
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Account.id).where(Account.phone_hash == phone_hash))).scalar_one()


async def test_an_administrators_read_lands_in_the_citizens_access_log(app, client, db) -> None:
    citizen = bearer(await token_for(app, "13800000002", "openid profile account"))
    other = bearer(await token_for(app, "13800000001", "openid profile account"))
    admin = bearer(await token_for(app, "admin", "admin"))
    assert (await client.get(LOG, headers=citizen)).json()["items"] == []

    citizen_id = await _citizen_id(app, db, "13800000002")
    read = await client.get(f"/api/v1/admin/accounts/{citizen_id}", headers=admin)
    assert read.status_code == 200
    [entry] = (await client.get(LOG, headers=citizen)).json()["items"]
    admin_account = await client.get("/api/v1/me", headers=bearer(await token_for(app, "admin", "openid profile")))
    assert entry["reader_kind"] == "administrator"
    assert entry["reader_name"] == admin_account.json()["name"]
    assert entry["client_id"] == "officer-console"
    assert (entry["purpose"], entry["object_type"], entry["object_id"]) == (
        "account administration",
        "account",
        str(citizen_id),
    )
    assert (await client.get(LOG, headers=other)).json()["items"] == []  # nobody else sees it


async def test_a_list_masks_citizens_names_and_a_change_is_logged_like_a_read(app, client, db) -> None:
    citizen = bearer(await token_for(app, "13800000002", "openid profile account"))
    admin = bearer(await token_for(app, "admin", "admin"))
    citizen_id = await _citizen_id(app, db, "13800000002")
    listed = await client.get("/api/v1/admin/accounts", headers=admin, params={"kind": "citizen", "limit": 100})
    [row] = [item for item in listed.json()["items"] if item["id"] == str(citizen_id)]
    whole = (await client.get("/api/v1/me", headers=citizen)).json()["name"]
    assert row["name"] == whole[0] + "**"  # two stars whatever the name's length (the length tells too)
    assert (await client.get(LOG, headers=citizen)).json()["items"] == []  # a list logs nothing: it shows nothing whole

    changed = await client.patch(
        f"/api/v1/admin/accounts/{citizen_id}",
        json={"status": "disabled"},
        headers={**admin, "If-Match": f'"{row["version"]}"'},
    )
    assert (changed.status_code, changed.json()["name"]) == (200, whole)
    async with db.transaction(write=False) as session:
        logged = (await session.execute(select(AccessLogEntry.citizen_id))).scalars().all()
    assert logged == [citizen_id]


async def test_a_failed_read_and_a_staff_read_log_nothing(app, client, db) -> None:
    citizen = bearer(await token_for(app, "13800000002", "openid profile account"))
    admin = bearer(await token_for(app, "admin", "admin"))
    assert_problem(await client.get("/api/v1/admin/accounts/00000000-0000-0000-0000-000000000000", headers=admin), 404)
    staff = (await client.get("/api/v1/admin/accounts", headers=admin, params={"kind": "staff"})).json()["items"]
    assert (await client.get(f"/api/v1/admin/accounts/{staff[0]['id']}", headers=admin)).status_code == 200
    assert (await client.get(LOG, headers=citizen)).json()["items"] == []


async def test_the_access_log_pages_and_needs_a_person(app, client, db) -> None:
    citizen = bearer(await token_for(app, "13800000002", "openid profile account"))
    admin = bearer(await token_for(app, "admin", "admin"))
    citizen_id = await _citizen_id(app, db, "13800000002")
    for _ in range(3):
        assert (await client.get(f"/api/v1/admin/accounts/{citizen_id}", headers=admin)).status_code == 200
    first = (await client.get(LOG, headers=citizen, params={"limit": 2})).json()
    second = (await client.get(LOG, headers=citizen, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    ids = [entry["id"] for entry in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3
    assert ids == sorted(ids, reverse=True)  # newest first
    assert second["next_cursor"] is None
    assert_problem(await client.get(LOG), 401)


async def test_the_access_log_is_for_people_and_checks_its_cursor(app, client, db) -> None:
    from tests.oauth import client_token

    partner = bearer(await client_token(app, "demo-partner", "partner:read"))
    assert_problem(await client.get(LOG, headers=partner), 403)  # a partner system has no access log of its own
    citizen = bearer(await token_for(app, "13800000002", "openid profile account"))
    assert_problem(await client.get(LOG, headers=citizen, params={"cursor": "not-a-cursor"}), 422)
