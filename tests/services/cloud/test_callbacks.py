"""The backend side of the cloud: signed callbacks (payments, SMS receipts) and the citizen's real-name check."""

import asyncio
import json
import time
import uuid

import pytest
from sqlalchemy import func, select

from auth.models import Account
from core.audit.models import AuditEvent
from core.events import OutboxEvent
from services.cloud import service, signing
from services.cloud.mock_server import PERSONAS, MockCloud
from services.cloud.models import CallbackReceipt, Payment, SmsMessage
from tests.helpers import assert_problem
from tests.oauth import bearer, token_for

MATCHING_ID = "440703199203150034"


@pytest.fixture
def mock(app) -> MockCloud:
    return app.state.cloud.mock


@pytest.fixture(autouse=True)
def healthy_cloud(app, mock: MockCloud):
    """Each test starts with no faults and closed breakers."""
    mock.set_faults({})
    app.state.cloud.client.breakers.clear()
    yield
    mock.set_faults({})
    app.state.cloud.client.breakers.clear()


@pytest.fixture
async def citizen(app) -> dict[str, str]:
    """Through the city's portal: the identity check takes `account`."""
    return bearer(await token_for(app, "13800000002", "openid profile account", client_id="demo-web"))


async def _count(db, statement) -> int:
    async with db.transaction(write=False) as session:
        return (await session.execute(statement)).scalar_one()


# -- the real-name check ------------------------------------------------------------------------------------------


async def test_a_match_verifies_and_activates_and_the_number_stays_masked(client, db, citizen) -> None:
    response = await client.post(
        "/api/v1/me/identity-verification", headers=citizen, json={"name": "李华", "id_number": MATCHING_ID}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id_number_masked"] == "4407**********0034"
    assert body["identity_verified_at"]
    assert body["status"] == "active"
    assert body["name"] == "李华"
    assert MATCHING_ID not in response.text
    assert response.headers["etag"]

    me = (await client.get("/api/v1/me", headers=citizen)).json()
    assert me["id_number_masked"] == "4407**********0034"
    async with db.transaction(write=False) as session:
        account = (await session.execute(select(Account).where(Account.id == uuid.UUID(me["id"])))).scalar_one()
    assert account.id_number_encrypted
    assert MATCHING_ID not in account.id_number_encrypted
    assert len(account.id_number_hash) == 64
    assert await _count(db, select(func.count()).where(AuditEvent.action == "identity.account.verified")) == 1

    again = await client.post(
        "/api/v1/me/identity-verification", headers=citizen, json={"name": "李华", "id_number": MATCHING_ID}
    )
    assert_problem(again, 409, "identity-already-verified")


async def test_one_id_number_verifies_one_account(client, app, citizen) -> None:
    data = {"name": "李华", "id_number": MATCHING_ID}
    assert (await client.post("/api/v1/me/identity-verification", headers=citizen, json=data)).status_code == 200
    other = bearer(await token_for(app, "13800000003", "openid account", client_id="demo-web"))
    response = await client.post("/api/v1/me/identity-verification", headers=other, json=data)
    assert_problem(response, 409, "id-number-taken")


@pytest.mark.parametrize(("persona", "result"), [("id_mismatch", "mismatch"), ("id_not_found", "not_found")])
async def test_a_mismatch_or_unknown_number_is_refused_and_changes_nothing(
    client, citizen, persona: str, result: str
) -> None:
    response = await client.post(
        "/api/v1/me/identity-verification", headers=citizen, json={"name": "李华", "id_number": PERSONAS[persona]}
    )
    body = assert_problem(response, 422, "identity-check-failed")
    assert body["result"] == result
    me = (await client.get("/api/v1/me", headers=citizen)).json()
    assert me["identity_verified_at"] is None
    assert me["id_number_masked"] is None


@pytest.mark.parametrize(
    "id_number",
    [
        "440703199203150035",  # a wrong check character
        # Full-width digits and an ASCII X: its check character holds, but it is another spelling of 44070319900101005X
        # (hashed apart, one ID number could verify two accounts).
        "44070319900101005X".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ],
)
async def test_a_malformed_number_never_reaches_the_cloud(client, citizen, mock: MockCloud, id_number: str) -> None:
    before = mock.received["faceid.IdCardVerification"]
    response = await client.post(
        "/api/v1/me/identity-verification", headers=citizen, json={"name": "李华", "id_number": id_number}
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"].endswith("id_number")
    assert mock.received["faceid.IdCardVerification"] == before


async def test_only_the_citys_own_apps_bind_an_id_number_to_the_account(
    client, app, db, citizen, mock: MockCloud
) -> None:
    """The real-name check binds an ID number to the account and activates it: managing the account, `account`. An app
    the person allowed to apply for things (or to see their name and phone) gets 403 insufficient_scope, and neither
    the national register is asked nor the account changed."""
    before = mock.received["faceid.IdCardVerification"]
    other_app = bearer(await token_for(app, "13800000002", "openid profile phone permits:apply talent:apply"))
    response = await client.post(
        "/api/v1/me/identity-verification", headers=other_app, json={"name": "李华", "id_number": MATCHING_ID}
    )
    body = assert_problem(response, 403, "insufficient-scope")
    assert body["detail"] == "This needs the scope(s): account."
    assert 'error="insufficient_scope", scope="account"' in response.headers["www-authenticate"]
    assert mock.received["faceid.IdCardVerification"] == before
    me = (await client.get("/api/v1/me", headers=citizen)).json()
    assert (me["identity_verified_at"], me["id_number_masked"]) == (None, None)
    assert await _count(db, select(func.count()).where(Account.id_number_hash.is_not(None))) == 0
    verified = await client.post(
        "/api/v1/me/identity-verification", headers=citizen, json={"name": "李华", "id_number": MATCHING_ID}
    )
    assert (verified.status_code, verified.json()["id_number_masked"]) == (200, "4407**********0034")


async def test_identity_check_needs_a_signed_in_person(client) -> None:
    response = await client.post("/api/v1/me/identity-verification", json={"name": "李华", "id_number": MATCHING_ID})
    assert_problem(response, 401)


async def test_a_cloud_outage_is_a_503_with_retry_after(client, citizen, mock: MockCloud) -> None:
    mock.set_faults({"IdCardVerification": {"fail_next": 100}})
    response = await client.post(
        "/api/v1/me/identity-verification", headers=citizen, json={"name": "李华", "id_number": MATCHING_ID}
    )
    assert_problem(response, 503, "cloud-unavailable")
    assert int(response.headers["retry-after"]) >= 1


# -- payments -----------------------------------------------------------------------------------------------------


async def _payment(app, db, *, amount: int = 5000, purpose: str = "test:fee") -> Payment:
    async with db.transaction() as session:
        return await service.create_payment(
            session=session, payments=app.state.cloud.cloud.payments, purpose=purpose, amount=amount, description="费用"
        )


async def _status(db, payment: Payment) -> str:
    return await _count(db, select(Payment.status).where(Payment.id == payment.id))


async def _events(db, name: str, subject: str) -> int:
    statement = select(func.count()).where(OutboxEvent.name == name, OutboxEvent.subject == subject)
    return await _count(db, statement)


async def test_a_paid_order_is_notified_and_applied(app, client, db, mock: MockCloud) -> None:
    payment = await _payment(app, db, purpose="test:paid")
    assert payment.pay_url.startswith("http://127.0.0.1:8000/mock-cloud/pay/")
    page = await client.get(payment.pay_url)
    assert page.status_code == 200
    assert "¥50.00" in page.text
    paid = await client.post(payment.pay_url, data={"card": "4111111111111111"})
    assert paid.json()["Status"] == "SUCCESS"
    await mock.idle()
    assert await _status(db, payment) == "paid"
    assert await _events(db, "cloud.payment.paid", "test:paid") == 1


async def test_a_declined_card_marks_the_payment_failed(app, client, db, mock: MockCloud) -> None:
    payment = await _payment(app, db, purpose="test:declined")
    await client.post(payment.pay_url, data={"card": PERSONAS["card_declined"]})
    await mock.idle()
    assert await _status(db, payment) == "failed"
    assert await _events(db, "cloud.payment.failed", "test:declined") == 1


async def test_a_notification_delivered_twice_is_applied_once(app, client, db, mock: MockCloud) -> None:
    payment = await _payment(app, db, purpose="test:twice")
    delivered = mock.callbacks["delivered"]
    await client.post(payment.pay_url, data={"card": PERSONAS["card_notified_twice"]})
    await mock.idle()
    assert mock.callbacks["delivered"] == delivered + 2  # both deliveries were answered 2xx
    assert await _status(db, payment) == "paid"
    assert await _events(db, "cloud.payment.paid", "test:twice") == 1
    assert await _count(db, select(func.count()).select_from(CallbackReceipt)) >= 1


async def test_a_refund_is_notified_and_applied(app, client, db, mock: MockCloud) -> None:
    payment = await _payment(app, db, purpose="test:refund")
    await client.post(payment.pay_url, data={"card": "4111111111111111"})
    await mock.idle()
    async with db.transaction() as session:
        refund_id = await service.refund_payment(
            session=session, payments=app.state.cloud.cloud.payments, payment=payment, reason="withdrawn"
        )
        again = await service.refund_payment(
            session=session, payments=app.state.cloud.cloud.payments, payment=payment, reason="withdrawn"
        )
    assert refund_id == again  # the same refund number is one refund
    await mock.idle()
    assert await _status(db, payment) == "refunded"
    assert await _events(db, "cloud.payment.refunded", "test:refund") == 1


# -- SMS ----------------------------------------------------------------------------------------------------------


async def _send(app, db, phone: str, purpose: str, *, hold: float = 0.0) -> SmsMessage:
    async with db.transaction() as session:
        message = await service.send_sms(
            session=session,
            sms=app.state.cloud.cloud.sms,
            identity=app.state.identity,
            phone=phone,
            template="100001",
            params=["TI-P-2026-000123"],
            purpose=purpose,
            client_token=uuid.uuid4().hex,
        )
        await asyncio.sleep(hold)  # the receipt may arrive before this transaction commits
    return message


async def _sms(db, message: SmsMessage) -> SmsMessage:
    async with db.transaction(write=False) as session:
        return (await session.execute(select(SmsMessage).where(SmsMessage.id == message.id))).scalar_one()


async def test_a_delivery_receipt_marks_the_sms_delivered(app, db, mock: MockCloud) -> None:
    message = await _send(app, db, "13800000001", "test:sms-ok")
    await mock.idle()
    stored = await _sms(db, message)
    assert stored.status == "delivered"
    assert stored.reported_at is not None
    assert await _events(db, "cloud.sms.delivered", "test:sms-ok") == 1


async def test_a_number_out_of_service_marks_the_sms_failed(app, db, mock: MockCloud) -> None:
    message = await _send(app, db, PERSONAS["sms_fails"], "test:sms-fail")
    await mock.idle()
    stored = await _sms(db, message)
    assert stored.status == "failed"
    assert "MK:0005" in stored.error
    assert await _events(db, "cloud.sms.failed", "test:sms-fail") == 1


async def test_a_receipt_before_our_commit_is_refused_and_redelivered(app, db, mock: MockCloud, backend) -> None:
    mock.receipt_delay = 0
    retried = mock.callbacks["retried"]
    try:
        message = await _send(app, db, "13800000001", "test:sms-early", hold=0.3)
        await mock.idle()
    finally:
        mock.receipt_delay = 0.2
    if backend == "postgresql":  # (SQLite's single writer makes the callback wait for our commit instead)
        assert mock.callbacks["retried"] > retried
    assert mock.callbacks["given_up"] == 0
    assert (await _sms(db, message)).status == "delivered"


# -- callback signatures ------------------------------------------------------------------------------------------


def _signed(settings, path: str, payload, *, nonce: str | None = None, timestamp: int | None = None, key=None):
    body = json.dumps(payload).encode()
    headers = signing.signed_headers(
        secret_id=settings.cloud_callback_secret_id,
        secret_key=key or settings.cloud_callback_secret_key.get_secret_value(),
        service="callback",
        host="testserver",
        timestamp=timestamp or int(time.time()),
        body=body,
        extra={"x-tc-nonce": nonce or uuid.uuid4().hex},
        uri=path,
    )
    return body, headers


def _notification(payment: Payment, **overrides) -> dict:
    return {
        "NotificationId": uuid.uuid4().hex,
        "EventType": "TRANSACTION.SUCCESS",
        "OutTradeNo": payment.out_trade_no,
        "OrderId": payment.order_id,
        "Amount": payment.amount,
        "Currency": "CNY",
        "Status": "SUCCESS",
        "OccurredAt": int(time.time()),
    } | overrides


async def test_unsigned_and_wrongly_signed_callbacks_are_refused(app, client, db, settings) -> None:
    payment = await _payment(app, db)
    payload = _notification(payment)
    unsigned = await client.post("/callbacks/cloud/payments", json=payload)
    assert_problem(unsigned, 401, "callback-signature-invalid")
    body, headers = _signed(settings, "/callbacks/cloud/payments", payload, key="not-the-key")
    assert_problem(await client.post("/callbacks/cloud/payments", content=body, headers=headers), 401)
    body, headers = _signed(settings, "/callbacks/cloud/payments", payload, timestamp=int(time.time()) - 600)
    stale = await client.post("/callbacks/cloud/payments", content=body, headers=headers)
    assert assert_problem(stale, 401)["cloud_code"] == "AuthFailure.SignatureExpire"
    body, headers = _signed(settings, "/callbacks/cloud/sms", payload)  # signed for another path
    assert_problem(await client.post("/callbacks/cloud/payments", content=body, headers=headers), 401)
    assert await _status(db, payment) == "created"


async def test_a_replayed_callback_is_refused_and_a_repeated_notification_changes_nothing(
    app, client, db, settings
) -> None:
    payment = await _payment(app, db, purpose="test:replay")
    payload = _notification(payment)
    body, headers = _signed(settings, "/callbacks/cloud/payments", payload)
    first = await client.post("/callbacks/cloud/payments", content=body, headers=headers)
    assert first.json() == {"result": "applied", "count": 1}
    replay = await client.post("/callbacks/cloud/payments", content=body, headers=headers)
    assert_problem(replay, 409, "callback-replayed")

    body, headers = _signed(settings, "/callbacks/cloud/payments", payload)  # the same notification, freshly signed
    repeated = await client.post("/callbacks/cloud/payments", content=body, headers=headers)
    assert repeated.json() == {"result": "duplicate", "count": 0}
    assert await _events(db, "cloud.payment.paid", "test:replay") == 1


async def test_one_notification_delivered_several_times_at_once_is_applied_once_and_answered_2xx(
    app, client, db, settings
) -> None:
    """The cloud retries a delivery it got no 2xx for: the same notification arriving side by side (on PostgreSQL one
    failed on the receipt's key with 409, so it came again) is applied by one and answered "duplicate" to the rest."""
    payment = await _payment(app, db, purpose="test:side-by-side")
    payload = _notification(payment)
    deliveries = [_signed(settings, "/callbacks/cloud/payments", payload) for _ in range(4)]  # each its own nonce
    answers = await asyncio.gather(
        *(client.post("/callbacks/cloud/payments", content=body, headers=headers) for body, headers in deliveries)
    )
    assert sorted(answer.json()["result"] for answer in answers) == ["applied", "duplicate", "duplicate", "duplicate"]
    assert await _events(db, "cloud.payment.paid", "test:side-by-side") == 1


async def test_a_notification_with_another_amount_is_refused(app, client, db, settings) -> None:
    payment = await _payment(app, db)
    body, headers = _signed(settings, "/callbacks/cloud/payments", _notification(payment, Amount=1))
    assert_problem(await client.post("/callbacks/cloud/payments", content=body, headers=headers), 422)
    assert await _status(db, payment) == "created"


async def test_a_notification_naming_another_cloud_order_is_refused(app, client, db, settings) -> None:
    """Only the trade number and the amount were matched: a notification of another order at the cloud under our
    trade number marked this payment paid."""
    payment = await _payment(app, db, purpose="test:other-order")
    body, headers = _signed(settings, "/callbacks/cloud/payments", _notification(payment, OrderId="PAYSOMEONEELSE"))
    refused = assert_problem(await client.post("/callbacks/cloud/payments", content=body, headers=headers), 422)
    assert [(error["field"], error["code"]) for error in refused["errors"]] == [("OrderId", "order_mismatch")]
    assert await _status(db, payment) == "created"
    assert await _events(db, "cloud.payment.paid", "test:other-order") == 0
    # The right order, notified afterwards, is applied (the refused one claimed nothing).
    body, headers = _signed(settings, "/callbacks/cloud/payments", _notification(payment))
    applied = await client.post("/callbacks/cloud/payments", content=body, headers=headers)
    assert applied.json() == {"result": "applied", "count": 1}
    assert await _status(db, payment) == "paid"


async def test_a_notification_for_an_unknown_order_is_refused(client, settings) -> None:
    body, headers = _signed(
        settings,
        "/callbacks/cloud/payments",
        {
            "NotificationId": "n-unknown",
            "EventType": "TRANSACTION.SUCCESS",
            "OutTradeNo": "TINOSUCHORDER",
            "OrderId": "PAYX",
            "Amount": 1,
            "Currency": "CNY",
            "Status": "SUCCESS",
            "OccurredAt": 1,
        },
    )
    assert_problem(await client.post("/callbacks/cloud/payments", content=body, headers=headers), 409)
