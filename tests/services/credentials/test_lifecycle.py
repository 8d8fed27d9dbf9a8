"""Supervisors of the issuing department suspend, reinstate and revoke; verification follows at once; every change is
audited and announced; nobody else reaches the credential."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.audit import chain_pending
from core.audit.models import AuditEvent
from core.events import OutboxEvent
from core.models import utcnow
from services.credentials import service
from services.credentials.exceptions import AlreadyIssued, CredentialNumberTaken, InvalidCredential
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for
from tests.services.credentials.conftest import CITIZEN, CREDENTIALS, VERIFY


async def _act(client, headers, row_id, action: str, etag: str | None, reason: str | None = None, **params):
    return await client.post(
        f"{CREDENTIALS}/{row_id}/actions/{action}",
        headers={**headers, **({"If-Match": etag} if etag else {})},
        json={"reason": reason} if reason else None,
        params=params,
    )


async def _verified_status(client, token: str) -> str:
    body = (await client.get(VERIFY, params={"token": token})).json()
    assert body["integrity"] == "valid"
    return body["status"]


async def test_the_departments_supervisor_revokes_and_it_verifies_as_revoked(client, db, issue, supervisor) -> None:
    row = await issue()
    read = await client.get(f"{CREDENTIALS}/{row.id}", headers=supervisor)
    assert read.status_code == 200, read.text
    assert read.headers["etag"] == '"1"'
    assert (read.json()["status"], read.json()["allowed_actions"]) == ("active", ["revoke", "suspend"])
    assert read.json()["title"] == "食品经营许可证"  # in Chinese unless the request asks otherwise
    english = await client.get(f"{CREDENTIALS}/{row.id}", headers={**supervisor, "Accept-Language": "en"})
    assert (english.json()["title"], english.json()["conditions"]) == ("Food business licence", ["Dine-in only"])

    revoked = await _act(client, supervisor, row.id, "revoke", read.headers["etag"], "营业执照已被吊销")
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert (body["status"], body["status_reason"], body["version"], body["allowed_actions"]) == (
        "revoked",
        "营业执照已被吊销",
        2,
        [],
    )
    assert revoked.headers["etag"] == '"2"'
    assert await _verified_status(client, row.token) == "revoked"
    # Final: there is no way back.
    again = await _act(client, supervisor, row.id, "reinstate", '"2"')
    assert_problem(again, 409, "transition-not-allowed")

    async with db.transaction() as session:
        await chain_pending(session)
        entries = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.detail).where(AuditEvent.object_id == str(row.id))
            )
        ).all()
        events = (
            await session.execute(
                select(OutboxEvent.name, OutboxEvent.payload).where(OutboxEvent.subject == f"credential:{row.id}")
            )
        ).all()
    assert [action for action, _ in entries] == ["credentials.credential.issued", "credentials.credential.revoked"]
    assert entries[1][1]["reason"] == "营业执照已被吊销"
    assert sorted(name for name, _ in events) == ["credentials.credential.issued", "credentials.credential.revoked"]
    revoked_event = next(payload for name, payload in events if name.endswith("revoked"))
    # Partner-visible: the number and status, never the holder or the free-text reason.
    assert revoked_event["number"] == row.number
    assert revoked_event["status"] == "revoked"
    assert "holder_account_id" not in revoked_event
    assert "reason" not in revoked_event


async def test_suspend_then_reinstate(client, issue, supervisor) -> None:
    row = await issue()
    suspended = await _act(client, supervisor, row.id, "suspend", '"1"', "待核查经营场所")
    assert suspended.status_code == 200, suspended.text
    assert (suspended.json()["status"], suspended.json()["allowed_actions"]) == ("suspended", ["reinstate", "revoke"])
    assert await _verified_status(client, row.token) == "suspended"

    reinstated = await _act(client, supervisor, row.id, "reinstate", suspended.headers["etag"])
    assert reinstated.status_code == 200, reinstated.text
    body = reinstated.json()
    assert (body["status"], body["status_reason"], body["version"]) == ("active", None, 3)
    assert await _verified_status(client, row.token) == "active"
    # The token never changed: the status lives in the register.
    assert body["token"] == row.token


async def test_a_dry_run_checks_everything_and_changes_nothing(client, issue, supervisor) -> None:
    row = await issue()
    preview = await _act(client, supervisor, row.id, "suspend", '"1"', "核查", dry_run="true")
    assert preview.status_code == 200, preview.text
    assert (preview.json()["status"], preview.json()["version"]) == ("suspended", 1)
    assert preview.json()["title"] == "食品经营许可证"
    assert (await _act(client, supervisor, row.id, "suspend", '"1"', "核查", dry_run="true", lang="en")).json()[
        "title"
    ] == "Food business licence"
    assert await _verified_status(client, row.token) == "active"
    assert_problem(await _act(client, supervisor, row.id, "suspend", '"1"', dry_run="true"), 422)  # no reason


async def test_if_match_is_required_and_must_be_current(client, issue, supervisor) -> None:
    row = await issue()
    missing = assert_problem(await _act(client, supervisor, row.id, "suspend", None, "核查"), 428)
    assert "If-Match" in missing["detail"]
    first = await _act(client, supervisor, row.id, "suspend", '"1"', "核查")
    assert first.status_code == 200, first.text
    stale = assert_problem(await _act(client, supervisor, row.id, "reinstate", '"1"'), 412, "precondition-failed")
    assert "version 2" in stale["detail"]
    assert await _verified_status(client, row.token) == "suspended"


async def test_suspending_or_revoking_needs_a_reason(client, issue, supervisor) -> None:
    row = await issue()
    for action in ("suspend", "revoke"):
        body = assert_problem(await _act(client, supervisor, row.id, action, '"1"'), 422)
        assert body["errors"][0]["field"] == "reason"
    assert_problem(await _act(client, supervisor, row.id, "renew", '"1"', "x"), 404, "unknown-action")
    assert await _verified_status(client, row.token) == "active"


async def test_a_past_valid_until_reads_as_expired(client, issue, citizen) -> None:
    row = await issue(valid_from=utcnow() - timedelta(days=30), valid_until=utcnow() - timedelta(seconds=1))
    body = (await client.get(f"{CREDENTIALS}/{row.id}", headers=citizen)).json()
    assert body["status"] == "expired"
    assert await _verified_status(client, row.token) == "expired"


async def test_who_reaches_a_credential(app, client, issue, citizen, other_citizen, officer, housing_officer) -> None:
    row = await issue()
    # The holder reads it (no actions for them) and so does the issuing department's officer.
    mine = await client.get(f"{CREDENTIALS}/{row.id}", headers=citizen)
    assert mine.status_code == 200, mine.text
    assert (mine.json()["number"], mine.json()["allowed_actions"]) == (row.number, [])
    assert "holder_account_id" not in mine.json()
    seen = await client.get(f"{CREDENTIALS}/{row.id}", headers=officer)
    assert (seen.status_code, seen.json()["allowed_actions"]) == (200, [])  # an officer, not a supervisor

    # Anyone else: a 404 that does not confirm it exists.
    for headers in (other_citizen, housing_officer):
        assert_problem(await client.get(f"{CREDENTIALS}/{row.id}", headers=headers), 404, "credential-not-found")
        assert_problem(await client.get(f"{CREDENTIALS}/{row.id}/qr.png", headers=headers), 404)
    body = assert_problem(await _act(client, housing_officer, row.id, "revoke", '"1"', "x"), 404)
    assert body["type"].endswith("credential-not-found")
    assert_problem(await client.get(f"{CREDENTIALS}/{uuid.uuid4()}", headers=citizen), 404)

    # A citizen (the holder too) may not act at all; the same department's officer is not a supervisor.
    assert_problem(await _act(client, citizen, row.id, "revoke", '"1"', "x"), 403)
    assert_problem(await _act(client, other_citizen, row.id, "revoke", '"1"', "x"), 403)
    body = assert_problem(await _act(client, officer, row.id, "revoke", '"1"', "x"), 403)
    assert "supervisor" in body["detail"]
    # A supervisor token without the permits scope reaches no permit.
    unscoped = bearer(await token_for(app, "supervisor.market", "openid"))
    assert_problem(await client.get(f"{CREDENTIALS}/{row.id}", headers=unscoped), 404)
    assert_problem(await _act(client, unscoped, row.id, "revoke", '"1"', "x"), 403)
    assert_problem(await client.get(f"{CREDENTIALS}/{row.id}"), 401)
    assert_problem(await _act(client, {}, row.id, "revoke", '"1"', "x"), 401)
    assert await _verified_status(client, row.token) == "active"


async def test_a_staff_read_of_a_credential_lands_in_the_holders_access_log(app, client, issue, officer) -> None:
    row = await issue()
    holder = bearer(await token_for(app, CITIZEN, "openid profile account"))
    assert (await client.get(f"{CREDENTIALS}/{row.id}", headers=holder)).status_code == 200  # their own: not logged
    assert (await client.get(f"{CREDENTIALS}/{row.id}", headers=officer)).status_code == 200
    log = (await client.get("/api/v1/me/access-log", headers=holder)).json()["items"]
    assert [(e["reader_kind"], e["reader_department"], e["purpose"]) for e in log] == [
        ("officer", "market", f"credential {row.number}")
    ]


async def test_talent_cards_belong_to_the_talent_office(app, client, issue, supervisor) -> None:
    card = await issue(
        kind="talent_card",
        number="TI-TALENT-2026-000007",
        department="talent",
        title={"zh-CN": "人才岛人才卡（B类）", "en": "Talent Island talent card (tier B)"},
        conditions=[],
        subject_type="talent_registration",
    )
    talent_officer = bearer(await token_for(app, "officer.talent", "openid talent:review"))
    read = await client.get(f"{CREDENTIALS}/{card.id}", headers=talent_officer)
    assert (read.status_code, read.json()["kind"], read.json()["allowed_actions"]) == (200, "talent_card", [])
    assert_problem(await _act(client, talent_officer, card.id, "revoke", '"1"', "x"), 403)
    # The market supervisor's permits scope does not reach a talent card.
    assert_problem(await client.get(f"{CREDENTIALS}/{card.id}", headers=supervisor), 404)
    assert_problem(await _act(client, supervisor, card.id, "revoke", '"1"', "x"), 404)


async def test_issuing_checks_what_it_is_given(app, db, issue) -> None:
    first = await issue()
    with pytest.raises(CredentialNumberTaken):
        await issue(number=first.number)
    with pytest.raises(AlreadyIssued):
        await issue(subject_id=first.subject_id)
    with pytest.raises(InvalidCredential) as refused:
        await issue(kind="diploma", title={"zh-CN": "许可"}, number="lower-case", valid_until=first.valid_from)
    assert {error.field for error in refused.value.errors} == {"kind", "number", "title", "valid_until"}
    async with db.transaction(write=False) as session:
        found = await service.get_by_subject(
            session=session, subject_type="permit_application", subject_id=first.subject_id
        )
        assert found is not None
        assert found.id == first.id
        assert await service.get_by_subject(session=session, subject_type="x", subject_id=uuid.uuid4()) is None


async def test_a_revoked_subject_can_be_issued_again(app, db, issue, client, supervisor) -> None:
    first = await issue()
    assert (await _act(client, supervisor, first.id, "revoke", '"1"', "错误签发")).status_code == 200
    second = await issue(subject_id=first.subject_id)
    async with db.transaction(write=False) as session:
        newest = await service.get_by_subject(
            session=session, subject_type="permit_application", subject_id=first.subject_id
        )
    assert newest.id == second.id
    assert await _verified_status(client, first.token) == "revoked"
    assert await _verified_status(client, second.token) == "active"
