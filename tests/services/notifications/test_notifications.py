"""Notifications end to end: an event, the worker, the inbox in the person's language, the SMS and its receipt."""

import uuid

import pytest
from sqlalchemy import func, select, update

from auth.models import Account
from core.events import OutboxEvent
from core.models import utcnow
from core.worker import Worker
from main import worker_settings
from services.cloud.mock_server import PERSONAS, MockCloud
from services.notifications import service
from services.notifications.models import Notification
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for

INBOX = "/api/v1/me/notifications"
CITIZEN, OTHER_CITIZEN = "13800000002", "13800000001"


@pytest.fixture
def mock(app) -> MockCloud:
    mock = app.state.cloud.mock
    mock.set_faults({})
    return mock


@pytest.fixture
def worker(app, db, quiet_outbox) -> Worker:
    return Worker(db, context=app.state, settings=worker_settings(app.state.settings))


async def _signed_in(app, login: str) -> dict[str, str]:
    """Through the city's portal: the inbox (and the identity check) take `account`."""
    return bearer(await token_for(app, login, "openid profile account", client_id="demo-web"))


async def _verify_identity(client, headers: dict[str, str], id_number: str = "440703199203150034") -> None:
    response = await client.post(
        "/api/v1/me/identity-verification", headers=headers, json={"name": "李华", "id_number": id_number}
    )
    assert response.status_code == 200, response.text


async def _account_id(db, login_phone: str, app) -> uuid.UUID:
    phone_hash = app.state.identity.cipher.lookup_hash(login_phone, context="phone")
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Account.id).where(Account.phone_hash == phone_hash))).scalar_one()


async def _inbox(client, headers, **params) -> dict:
    response = await client.get(INBOX, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_identity_verified_reaches_the_inbox_in_chinese_and_the_phone_by_sms(
    app, client, db, worker, mock: MockCloud
) -> None:
    citizen = await _signed_in(app, CITIZEN)
    await _verify_identity(client, citizen)
    assert (await _inbox(client, citizen))["items"] == []  # nothing happens inside the request

    assert await worker.run_once() == 1  # the account event -> the notification and its SMS request
    inbox = await _inbox(client, citizen)
    assert inbox["unread"] == 1
    [notice] = inbox["items"]
    assert (notice["template"], notice["language"], notice["title"]) == ("identity_verified", "zh-CN", "实名认证成功")
    assert notice["body"].startswith("您的实名认证已通过")  # no name: the text goes through the SMS provider too
    assert notice["sms_status"] == "queued"

    assert await worker.run_once() == 1  # the SMS goes out through the cloud, keyed by the notification
    sent = mock.sms[f"notification-{notice['id']}"]
    assert sent["Phone"].endswith(CITIZEN)
    assert "李华" not in str(sent)
    assert (await _inbox(client, citizen))["items"][0]["sms_status"] == "sent"

    await mock.idle()  # the cloud's signed delivery receipt arrives at our callback
    await worker.drain()
    assert (await _inbox(client, citizen))["items"][0]["sms_status"] == "delivered"


async def test_an_english_speaker_gets_the_english_template(app, client, db, worker) -> None:
    citizen = await _signed_in(app, CITIZEN)
    me = await client.get("/api/v1/me", headers=citizen)
    changed = await client.patch(
        "/api/v1/me", headers={**citizen, "If-Match": me.headers["etag"]}, json={"preferred_language": "en"}
    )
    assert changed.status_code == 200, changed.text
    await _verify_identity(client, citizen)
    await worker.drain()
    [notice] = (await _inbox(client, citizen))["items"]
    assert (notice["language"], notice["title"]) == ("en", "Identity verified")
    assert notice["body"] == "Your identity is verified: you can now use Talent Island's online services."


async def test_a_redelivered_event_notifies_and_texts_once(app, client, db, worker, mock: MockCloud) -> None:
    citizen = await _signed_in(app, CITIZEN)
    await _verify_identity(client, citizen)
    await worker.drain()
    await worker.drain()
    # at-least-once: the worker may see every event again (a lost lease, a crash before the commit)
    async with db.transaction() as session:
        await session.execute(update(OutboxEvent).values(status="pending", attempts=0, available_at=utcnow()))
    await worker.drain()
    await worker.drain()
    account_id = await _account_id(db, CITIZEN, app)
    async with db.transaction(write=False) as session:
        rows = (await session.execute(select(Notification).where(Notification.account_id == account_id))).all()
    assert len(rows) == 1
    assert sum(1 for token in mock.sms if token == f"notification-{rows[0][0].id}") == 1
    assert mock.executed["sms_messages"] >= 1


async def test_an_undeliverable_sms_is_marked_failed(app, client, db, worker, mock: MockCloud) -> None:
    account_id = await _account_id(db, CITIZEN, app)
    cipher = app.state.identity.cipher
    async with db.transaction() as session:
        await session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(phone_encrypted=cipher.encrypt(PERSONAS["sms_fails"], context="phone"))
        )
        notice = await service.notify(
            session=session,
            identity=app.state.identity,
            account_id=account_id,
            template="identity_verified",
            params={},
            dedupe_key="test:sms-fails",
        )
    await worker.drain()
    await mock.idle()
    await worker.drain()
    async with db.transaction(write=False) as session:
        assert (await session.get(Notification, notice.id)).sms_status == "failed"


async def test_marking_read_and_the_unread_filter(app, client, db) -> None:
    citizen = await _signed_in(app, CITIZEN)
    account_id = await _account_id(db, CITIZEN, app)
    async with db.transaction() as session:
        notices = [
            await service.notify(
                session=session,
                identity=app.state.identity,
                account_id=account_id,
                template="payment_received",
                params={"amount": f"{n}.00", "description": "人才房租金"},
                dedupe_key=f"test:{n}",
            )
            for n in range(3)
        ]
    assert all(notice.sms_status is None for notice in notices)  # an in-app-only template
    first = await client.post(f"{INBOX}/{notices[0].id}/read", headers=citizen)
    assert first.status_code == 200
    read_at = first.json()["read_at"]
    assert read_at
    again = await client.post(f"{INBOX}/{notices[0].id}/read", headers=citizen)
    assert again.json()["read_at"] == read_at  # marking again changes nothing

    unread = await _inbox(client, citizen, unread="true")
    assert unread["unread"] == 2
    assert [item["id"] for item in unread["items"]] == [str(notices[2].id), str(notices[1].id)]
    assert [item["id"] for item in (await _inbox(client, citizen, unread="false"))["items"]] == [str(notices[0].id)]
    assert unread["items"][0]["body"] == "我们已收到您的付款 ¥2.00（人才房租金）。"


async def test_the_inbox_pages_newest_first(app, client, db) -> None:
    citizen = await _signed_in(app, CITIZEN)
    account_id = await _account_id(db, CITIZEN, app)
    async with db.transaction() as session:
        for n in range(5):
            await service.notify(
                session=session,
                identity=app.state.identity,
                account_id=account_id,
                template="payment_received",
                params={"amount": str(n), "description": "费用"},
                dedupe_key=f"test:{n}",
            )
    seen, cursor = [], None
    while True:
        page = await _inbox(client, citizen, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [item["body"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [body.split("¥")[1][0] for body in seen] == ["4", "3", "2", "1", "0"]
    assert_problem(await client.get(INBOX, headers=citizen, params={"cursor": "not-a-cursor"}), 422)


async def test_nobody_reads_or_marks_another_persons_notifications(app, client, db) -> None:
    account_id = await _account_id(db, CITIZEN, app)
    async with db.transaction() as session:
        notice = await service.notify(
            session=session,
            identity=app.state.identity,
            account_id=account_id,
            template="payment_received",
            params={"amount": "1", "description": "费用"},
            dedupe_key="test:private",
        )
    other = await _signed_in(app, OTHER_CITIZEN)
    assert (await _inbox(client, other))["items"] == []
    assert_problem(await client.post(f"{INBOX}/{notice.id}/read", headers=other), 404)
    async with db.transaction(write=False) as session:
        assert (await session.get(Notification, notice.id)).read_at is None
    assert_problem(await client.get(INBOX), 401)
    assert_problem(await client.post(f"{INBOX}/{notice.id}/read"), 401)
    assert_problem(await client.post(f"{INBOX}/not-a-uuid/read", headers=other), 422)
    async with db.transaction(write=False) as session:
        count = (await session.execute(select(func.count()).select_from(Notification))).scalar_one()
    assert count == 1


async def test_the_inbox_takes_the_account_scope(app, client, db) -> None:
    """The inbox tells of every matter (a payment here): an app the person allowed one matter, or their name and
    phone, gets 403 insufficient_scope, reads nothing and marks nothing read; the city's portal reads it."""
    async with db.transaction() as session:
        notice = await service.notify(
            session=session,
            identity=app.state.identity,
            account_id=await _account_id(db, CITIZEN, app),
            template="payment_received",
            params={"amount": "1", "description": "费用"},
            dedupe_key="test:scope",
        )
    other_app = bearer(await token_for(app, CITIZEN, "openid profile phone permits:apply talent:apply"))
    for refused in (
        await client.get(INBOX, headers=other_app),
        await client.post(f"{INBOX}/{notice.id}/read", headers=other_app),
    ):
        body = assert_problem(refused, 403, "insufficient-scope")
        assert body["detail"] == "This needs the scope(s): account."
        assert 'error="insufficient_scope", scope="account"' in refused.headers["www-authenticate"]
        assert "费用" not in refused.text
    async with db.transaction(write=False) as session:
        assert (await session.get(Notification, notice.id)).read_at is None
    inbox = await _inbox(client, await _signed_in(app, CITIZEN))
    assert ([item["id"] for item in inbox["items"]], inbox["unread"]) == ([str(notice.id)], 1)


async def test_the_inbox_is_for_people(app, client, db) -> None:
    from tests.oauth import client_token

    partner = bearer(await client_token(app, "demo-partner", "partner:read"))
    assert_problem(await client.get(INBOX, headers=partner), 403)
    assert_problem(await client.post(f"{INBOX}/{uuid.uuid4()}/read", headers=partner), 403)
