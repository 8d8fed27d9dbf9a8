"""A partner system files for a citizen only with the citizen's mandate, which the citizen grants and withdraws."""

import asyncio
import uuid

from sqlalchemy import select

from core.audit import chain_pending
from core.audit.models import AuditEvent
from tests.helpers import assert_problem
from tests.oauth import bearer, client_token, token_for

MANDATES = "/api/v1/me/representations"
PERMITS = "/api/v1/permits/applications"
APPLICATION = {
    "service_code": "business-licence",
    "form": {"entity_type": "llc", "planned_employees": 3},
    "holder_name": "江门试点商店",
}


async def test_a_citizen_grants_and_withdraws_a_partners_mandate(app, client, db) -> None:
    citizen = bearer(await token_for(app, "13800000001", "openid profile account permits:apply", client_id="demo-web"))
    partner = bearer(await client_token(app, "demo-partner", "partner:submit"))
    me = (await client.get("/api/v1/me", headers=citizen)).json()["id"]

    async def file_for(account_id: str):
        return await client.post(PERMITS, json={**APPLICATION, "on_behalf_of": account_id}, headers=partner)

    # No mandate: refused, and in the very words used for an id that is nobody's (a partner learns no accounts).
    refused = assert_problem(await file_for(me), 422)
    nobody = assert_problem(await file_for(str(uuid.uuid4())), 422)
    assert refused["errors"] == nobody["errors"]
    assert refused["detail"] == nobody["detail"]
    assert refused["errors"][0]["field"] == "on_behalf_of"
    assert (await client.get(MANDATES, headers=citizen)).json() == []

    granted = await client.put(f"{MANDATES}/demo-partner", headers=citizen)
    assert granted.status_code == 200, granted.text
    assert granted.json()["client_name"] == "合作伙伴系统（演示）"  # in Chinese unless the request asks otherwise
    again = await client.put(f"{MANDATES}/demo-partner", headers=citizen)
    assert again.json()["granted_at"] == granted.json()["granted_at"]  # granting again changes nothing
    assert [m["client_id"] for m in (await client.get(MANDATES, headers=citizen)).json()] == ["demo-partner"]
    filed = await file_for(me)
    assert filed.status_code == 201, filed.text

    assert (await client.delete(f"{MANDATES}/demo-partner", headers=citizen)).status_code == 204
    assert (await client.get(MANDATES, headers=citizen)).json() == []
    assert_problem(await file_for(me), 422)
    assert_problem(await client.delete(f"{MANDATES}/demo-partner", headers=citizen), 404, "representation-not-found")
    # What the partner filed while it could stays the citizen's.
    mine = (await client.get(PERMITS, headers=citizen)).json()["items"]
    assert [item["id"] for item in mine] == [filed.json()["id"]]


async def test_only_partner_systems_get_mandates_and_only_people_give_them(app, client, db) -> None:
    citizen = bearer(await token_for(app, "13800000001", "openid profile account", client_id="demo-web"))
    assert_problem(await client.put(f"{MANDATES}/demo-web", headers=citizen), 404, "partner-not-found")
    assert_problem(await client.put(f"{MANDATES}/no-such-client", headers=citizen), 404, "partner-not-found")
    assert_problem(await client.put(f"{MANDATES}/Bad Id!", headers=citizen), 422)
    assert_problem(await client.get(MANDATES), 401)
    assert_problem(await client.delete(f"{MANDATES}/demo-partner"), 401)
    assert_problem(await client.delete(f"{MANDATES}/Bad Id!", headers=citizen), 422)
    partner = bearer(await client_token(app, "demo-partner", "partner:submit"))  # a system, not a person
    for method in ("GET", "PUT", "DELETE"):
        url = MANDATES if method == "GET" else f"{MANDATES}/demo-partner"
        assert_problem(await client.request(method, url, headers=partner), 403)


async def test_a_citizens_mandates_are_theirs_alone(app, client, db) -> None:
    other = bearer(await token_for(app, "13800000002", "openid profile account", client_id="demo-web"))
    citizen = bearer(await token_for(app, "13800000001", "openid profile account", client_id="demo-web"))
    assert [m["client_id"] for m in (await client.get(MANDATES, headers=other)).json()] == ["demo-partner"]  # seeded
    assert (await client.get(MANDATES, headers=citizen)).json() == []
    assert_problem(await client.delete(f"{MANDATES}/demo-partner", headers=citizen), 404)  # not the other's one
    assert [m["client_id"] for m in (await client.get(MANDATES, headers=other)).json()] == ["demo-partner"]


async def test_grants_sent_at_once_all_answer_the_one_mandate_and_audit_it_once(app, client, db) -> None:
    citizen = bearer(await token_for(app, "13800000001", "openid profile account", client_id="demo-web"))

    async def mandate_entries() -> list[str]:
        async with db.transaction() as session:
            await chain_pending(session)
            statement = select(AuditEvent.action).where(AuditEvent.action.like("identity.mandate.%"))
            return list((await session.execute(statement.order_by(AuditEvent.seq))).scalars())

    before = len(await mandate_entries())
    for _ in range(2):  # a first grant, then a grant again after a withdrawal
        answers = await asyncio.gather(*(client.put(f"{MANDATES}/demo-partner", headers=citizen) for _ in range(6)))
        assert [answer.status_code for answer in answers] == [200] * 6, [a.text for a in answers]
        assert len({answer.json()["granted_at"] for answer in answers}) == 1
        assert (await client.delete(f"{MANDATES}/demo-partner", headers=citizen)).status_code == 204
    assert (await mandate_entries())[before:] == ["identity.mandate.granted", "identity.mandate.withdrawn"] * 2
