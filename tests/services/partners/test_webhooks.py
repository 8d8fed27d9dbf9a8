"""Partner webhooks end to end: a real receiver on 127.0.0.1, retries, dead letters, replay, ownership, SSRF."""

import asyncio
import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import select, update

from core.events import Event, OutboxEvent, emit
from core.logging import JsonFormatter
from core.models import aware, utcnow
from core.outbound import BlockedDestination, GuardedTransport
from core.settings import Settings
from core.worker import Worker
from main import worker_settings
from services.partners import service, signing, tasks
from services.partners.models import WebhookDelivery, WebhookSubscription
from tests.helpers import Clock, assert_problem, id_made_at
from tests.oauth import bearer, client_token, token_for

PUBLISHED = "catalogue.service.published"


class Receiver:
    """A webhook receiver on 127.0.0.1 that verifies signatures; it can fail the first N requests or redirect."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.requests: list[dict] = []
        self.fail_next = 0
        self.redirect_to: str | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {key.lower(): value for key, value in self.headers.items()}
                valid = bool(receiver.secret) and signing.verify(
                    receiver.secret, headers=headers, body=body, now=int(time.time())
                )
                receiver.requests.append({"headers": headers, "body": json.loads(body), "valid": valid})
                if receiver.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", receiver.redirect_to)
                elif receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    self.send_response(204 if valid else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/talent-island"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.fixture
async def partner(app) -> dict[str, str]:
    return bearer(await client_token(app, "demo-partner", "webhooks:manage"))


@pytest.fixture
def worker(app, db) -> Worker:
    return Worker(db, context=app.state, settings=worker_settings(app.state.settings))


async def _subscribe(client, partner, receiver: Receiver) -> dict:
    response = await client.post(
        "/api/v1/partners/webhooks", headers=partner, json={"url": receiver.url, "events": [PUBLISHED]}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    receiver.secret = created["secret"]
    return created


async def _publish(db, code: str = "talent-housing-subsidy") -> None:
    async with db.transaction() as session:
        emit(session, Event(PUBLISHED, subject=f"service:{code}", payload={"version": 2}))


async def _run(worker: Worker, rounds: int = 6) -> None:
    for _ in range(rounds):
        await worker.drain()


async def test_a_real_receiver_gets_a_verifiable_signed_delivery(
    client, db, partner, receiver, worker, quiet_outbox
) -> None:
    subscription = await _subscribe(client, partner, receiver)
    await _publish(db)
    await _run(worker)
    assert len(receiver.requests) == 1
    delivered = receiver.requests[0]
    assert delivered["valid"] is True
    assert delivered["body"]["type"] == PUBLISHED
    assert delivered["body"]["data"]["subject"] == "service:talent-housing-subsidy"
    assert delivered["headers"]["webhook-signature"].startswith("v1,")
    deliveries = (
        await client.get(f"/api/v1/partners/webhooks/{subscription['id']}/deliveries", headers=partner)
    ).json()
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in deliveries["items"]] == [("succeeded", 1, 204)]
    assert deliveries["items"][0]["id"] == delivered["headers"]["webhook-id"]
    # a forged copy does not verify
    forged = json.dumps({**delivered["body"], "type": "x"}).encode()
    assert not signing.verify(receiver.secret, headers=delivered["headers"], body=forged, now=int(time.time()))


async def test_a_receiver_that_fails_three_times_gets_the_event_once_it_recovers(
    app, client, db, partner, receiver, quiet_outbox
) -> None:
    settings = app.state.settings.model_copy(update={"worker_max_attempts": 5})
    worker = Worker(db, context=app.state, settings=worker_settings(settings))
    app.state.settings, original = settings, app.state.settings
    try:
        subscription = await _subscribe(client, partner, receiver)
        receiver.fail_next = 3
        await _publish(db)
        await _run(worker, rounds=8)
    finally:
        app.state.settings = original
    assert [r["valid"] for r in receiver.requests] == [True] * 4
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1  # one delivery, retried
    items = (await client.get(f"/api/v1/partners/webhooks/{subscription['id']}/deliveries", headers=partner)).json()
    assert [(d["status"], d["attempts"]) for d in items["items"]] == [("succeeded", 4)]


async def test_a_delivery_dead_after_its_attempts_can_be_replayed(
    client, db, partner, receiver, worker, quiet_outbox
) -> None:
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 100
    await _publish(db)
    await _run(worker)
    url = f"/api/v1/partners/webhooks/{subscription['id']}/deliveries"
    dead = (await client.get(url, headers=partner)).json()["items"][0]
    assert (dead["status"], dead["attempts"], dead["last_error"]) == ("dead", 3, "HTTP 503")
    receiver.fail_next = 0
    sent_before = len(receiver.requests)
    replayed = await client.post(f"{url}/{dead['id']}/replay", headers=partner)
    assert replayed.status_code == 202
    # Queued once: a second replay while it waits asks for no second send (it would be sent over and over).
    again = await client.post(f"{url}/{dead['id']}/replay", headers=partner)
    assert (again.status_code, again.json()["status"]) == (202, "pending")
    await _run(worker)
    assert (await client.get(url, headers=partner)).json()["items"][0]["status"] == "succeeded"
    assert len(receiver.requests) == sent_before + 1
    assert receiver.requests[-1]["headers"]["webhook-id"] == dead["id"]


async def test_a_redirect_is_not_followed(client, db, partner, receiver, worker, quiet_outbox) -> None:
    subscription = await _subscribe(client, partner, receiver)
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data/"
    await _publish(db)
    await _run(worker, rounds=2)
    items = (await client.get(f"/api/v1/partners/webhooks/{subscription['id']}/deliveries", headers=partner)).json()
    assert items["items"][0]["last_status_code"] == 302
    assert "redirects are not followed" in items["items"][0]["last_error"]


async def test_the_destination_is_checked_again_at_every_delivery(
    client, db, partner, receiver, worker, quiet_outbox
) -> None:
    """A URL that was safe when registered (say, its name now resolves to the metadata address) is refused later."""
    subscription = await _subscribe(client, partner, receiver)
    async with db.transaction() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == uuid.UUID(subscription["id"]))
            .values(url="https://169.254.169.254/latest/meta-data/")
        )
    await _publish(db)
    await _run(worker, rounds=2)
    items = (await client.get(f"/api/v1/partners/webhooks/{subscription['id']}/deliveries", headers=partner)).json()
    assert items["items"][0]["last_status_code"] is None
    assert items["items"][0]["last_error"].startswith("refused before connecting")
    assert receiver.requests == []


async def test_a_partner_sees_only_its_own_subscriptions(client, db, partner) -> None:
    async with db.transaction() as session:
        other = WebhookSubscription(
            client_id="another-partner", url="https://other.example.gov.cn/h", events=[PUBLISHED], secret_encrypted="x"
        )
        session.add(other)
    assert_problem(await client.get(f"/api/v1/partners/webhooks/{other.id}", headers=partner), 404)
    assert_problem(await client.get(f"/api/v1/partners/webhooks/{other.id}/deliveries", headers=partner), 404)
    assert (await client.get("/api/v1/partners/webhooks", headers=partner)).json()["items"] == []
    assert_problem(await client.delete(f"/api/v1/partners/webhooks/{other.id}", headers=partner), 404)


async def test_managing_webhooks_needs_the_scope(app, client) -> None:
    reader = bearer(await client_token(app, "demo-partner", "partner:read"))
    assert_problem(await client.get("/api/v1/partners/webhooks", headers=reader), 403)
    assert_problem(await client.get("/api/v1/partners/webhooks"), 401)


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("file:///etc/passwd", [PUBLISHED]),
        ("http://169.254.169.254/latest/meta-data/", [PUBLISHED]),
        ("https://10.0.0.8/hook", [PUBLISHED]),
        ("https://" + "a" * 64 + ".example/hook", [PUBLISHED]),  # a label IDNA cannot encode (it answered 500)
        ("https://partner.example.gov.cn/hook", ["identity.account.created"]),  # not partner-visible
        ("https://partner.example.gov.cn/hook", ["no.such.event"]),
    ],
)
async def test_unsafe_urls_and_private_events_are_refused(client, partner, url: str, events: list[str]) -> None:
    response = await client.post("/api/v1/partners/webhooks", headers=partner, json={"url": url, "events": events})
    body = assert_problem(response, 422)
    assert body["detail"]
    assert (await client.get("/api/v1/partners/webhooks", headers=partner)).json()["items"] == []


class CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.opened = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.opened += 1
        return httpx.Response(204)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0x7f000001/hook",
        "http://[::1]/hook",
        "http://localhost/hook",  # a name resolving to a private address
        "http://10.1.2.3/hook",
        "http://[::ffff:127.0.0.1]/hook",
        # IPv6 forms that carry an IPv4 address (loopback, the metadata service) or a deprecated local scope
        "http://[::7f00:1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://[64:ff9b:1::a9fe:a9fe]/hook",
        "http://[2002:a9fe:a9fe::1]/hook",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
        "http://[::ffff:0:a9fe:a9fe]/hook",
        "http://[fec0::1]/hook",
        "file:///etc/passwd",
    ],
)
async def test_every_ssrf_case_is_refused_before_a_connection_is_opened(url: str) -> None:
    inner = CountingTransport()
    guard = GuardedTransport(schemes=("https", "http"), inner=inner)  # production rules: no loopback allowance
    async with httpx.AsyncClient(transport=guard) as http:
        with pytest.raises((BlockedDestination, httpx.UnsupportedProtocol)):
            await http.post(url, content=b"{}")
    assert inner.opened == 0


async def test_a_name_that_does_not_resolve_reads_like_one_that_resolves_inside() -> None:
    """A partner registering URLs must not learn which internal names exist from how each is refused."""
    guard = GuardedTransport(schemes=("https",), inner=CountingTransport())
    refusals = []
    for host in ("no-such-host.invalid", "127.0.0.1", "localhost", "a" * 64 + ".example"):  # (a label over 63)
        with pytest.raises(BlockedDestination) as refused:
            await guard.check(httpx.URL(f"https://{host}/hook"))
        refusals.append(str(refused.value).replace(host, "<host>"))
    assert refusals == ["<host> does not resolve to public addresses only"] * 4


async def test_a_disabled_partner_hears_nothing_more(app, client, db, partner, receiver, worker, quiet_outbox) -> None:
    """Disabled (or stripped of webhooks:manage), a partner gets no new delivery, and none already queued is sent."""
    subscription = await _subscribe(client, partner, receiver)
    await _publish(db, "talent-housing-subsidy")
    assert await worker.run_once() == 1  # fanned out: the delivery is queued, not yet sent
    admin = {**bearer(await token_for(app, "admin", "admin")), "If-Match": "*"}
    disabled = await client.patch("/api/v1/admin/clients/demo-partner", headers=admin, json={"status": "disabled"})
    assert disabled.status_code == 200, disabled.text
    await _run(worker)
    await _publish(db, "business-licence")
    await _run(worker)
    assert receiver.requests == []
    async with db.transaction(write=False) as session:
        rows = (
            await session.execute(select(WebhookDelivery.status, WebhookDelivery.attempts, WebhookDelivery.last_error))
        ).all()
    # Nothing was sent: no attempt counted
    assert rows == [("dead", 0, "the partner's client is disabled or no longer holds webhooks:manage")]
    assert subscription["id"] not in {r["headers"].get("webhook-id") for r in receiver.requests}


async def test_a_partner_has_at_most_twenty_subscriptions(client, partner, receiver) -> None:
    for _ in range(service.MAX_SUBSCRIPTIONS):
        await _subscribe(client, partner, receiver)
    refused = await client.post(
        "/api/v1/partners/webhooks", headers=partner, json={"url": receiver.url, "events": [PUBLISHED]}
    )
    assert assert_problem(refused, 409, "webhook-limit-reached")["detail"].startswith("A partner has at most 20")
    listed = (await client.get("/api/v1/partners/webhooks", headers=partner, params={"limit": 100})).json()
    assert len(listed["items"]) == 20


async def test_a_slow_receiver_holds_no_write_lock_while_it_answers(
    app, client, db, partner, receiver, worker, quiet_outbox
) -> None:
    """The POST runs before the event's transaction writes: a citizen's write goes through while a partner's receiver
    takes its time (on SQLite the event's transaction would hold the one write lock; on PostgreSQL this holds too)."""
    await _subscribe(client, partner, receiver)
    written_during_the_post: list[str] = []

    class WritesWhileSending(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            async with asyncio.timeout(3):
                async with db.transaction() as session:
                    await session.execute(update(WebhookSubscription).values(description="written meanwhile"))
            written_during_the_post.append(request.headers["webhook-id"])
            return httpx.Response(204)

    original = app.state.webhook_http
    app.state.webhook_http = httpx.AsyncClient(transport=WritesWhileSending())
    try:
        await _publish(db)
        await _run(worker)
    finally:
        await app.state.webhook_http.aclose()
        app.state.webhook_http = original
    async with db.transaction(write=False) as session:
        [(delivery_id, status)] = (await session.execute(select(WebhookDelivery.id, WebhookDelivery.status))).all()
    assert (written_during_the_post, status) == ([str(delivery_id)], "succeeded")


async def test_a_delivery_whose_send_died_can_be_replayed(app, client, db, partner, receiver, worker, quiet_outbox):
    """Its due event dead-lettered (the workers sending it kept dying), the delivery stays pending with nothing
    queued to send it: a replay queues one, where it was refused as "queued already" for ever."""
    subscription = await _subscribe(client, partner, receiver)
    await _publish(db)
    assert await worker.run_once() == 1  # fanned out; the send is queued
    async with db.transaction() as session:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.name == service.DELIVERY_DUE.name)
            .values(attempts=app.state.settings.worker_max_attempts, locked_until=None)
        )
    await worker.run_once()  # dead-lettered at claim: its attempts are used up
    url = f"/api/v1/partners/webhooks/{subscription['id']}/deliveries"
    [stuck] = (await client.get(url, headers=partner)).json()["items"]
    assert (stuck["status"], receiver.requests) == ("pending", [])
    replayed = await client.post(f"{url}/{stuck['id']}/replay", headers=partner)
    assert replayed.status_code == 202, replayed.text
    async with db.transaction(write=False) as session:  # the dead send is brought back, not joined by another
        sends = select(OutboxEvent.status).where(OutboxEvent.name == service.DELIVERY_DUE.name)
        assert list((await session.execute(sends)).scalars()) == ["pending"]
    await _run(worker)
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [stuck["id"]]


async def test_subscriptions_created_at_once_stop_at_the_cap(client, partner, receiver) -> None:
    for _ in range(service.MAX_SUBSCRIPTIONS - 1):
        await _subscribe(client, partner, receiver)
    body = {"url": receiver.url, "events": [PUBLISHED]}
    answers = await asyncio.gather(
        *(client.post("/api/v1/partners/webhooks", headers=partner, json=body) for _ in range(4))
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409, 409]


async def test_deliveries_past_retention_are_removed_but_not_those_in_flight_or_replayed(app, client, db, partner):
    async with db.transaction() as session:
        subscription = WebhookSubscription(
            client_id="demo-partner", url="https://hooks.example.gov.cn/h", events=[PUBLISHED], secret_encrypted="x"
        )
        session.add(subscription)
    now = utcnow()
    long_ago = now - tasks.DELIVERY_RETENTION - timedelta(days=1)
    cases = {  # status, made, last moved
        "succeeded-long-ago": ("succeeded", long_ago, long_ago),
        "dead-long-ago": ("dead", long_ago, long_ago),
        "still-being-sent": ("pending", long_ago, long_ago),
        "replayed-lately": ("succeeded", long_ago, now - timedelta(days=2)),
        "succeeded-lately": ("succeeded", now - timedelta(days=2), now - timedelta(days=2)),
    }
    async with db.transaction() as session:
        for name, (status, made, moved) in cases.items():
            session.add(
                WebhookDelivery(
                    id=id_made_at(made),
                    created_at=made,
                    updated_at=moved,
                    subscription_id=subscription.id,
                    client_id="demo-partner",
                    event_id=uuid.uuid4(),
                    event_name=name,
                    status=status,
                )
            )

    await tasks.expire_deliveries(app.state)

    listed = await client.get(f"/api/v1/partners/webhooks/{subscription.id}/deliveries", headers=partner)
    assert sorted(item["event_name"] for item in listed.json()["items"]) == [
        "replayed-lately",
        "still-being-sent",
        "succeeded-lately",
    ]


@pytest.fixture
def production_retries(app, db):
    """The production retry policy: eight attempts on the webhook schedule (~27.5 hours) while the worker's other events
    keep its 2 s backoff; the receivers' breakers run on a clock the test moves (with `_time_passes`)."""
    defaults = Settings.model_fields
    settings = app.state.settings.model_copy(
        update={
            name: defaults[name].default
            for name in ("worker_max_attempts", "worker_backoff_seconds", "webhook_retry_seconds")
        }
    )
    app.state.settings, original = settings, app.state.settings
    clock = Clock()
    app.state.webhook_receivers = service.Receivers(clock=clock)
    yield Worker(db, context=app.state, settings=worker_settings(settings)), clock
    app.state.settings = original


async def _time_passes(db, clock: Clock | None, seconds: float) -> None:
    """`seconds` go by: the breakers' clock moves on (unless None), and every time stored ahead (when a send is due,
    when a delivery was queued and is tried next) comes that much nearer."""
    if clock is not None:
        clock.now += seconds
    back = timedelta(seconds=seconds)
    async with db.transaction() as session:
        for event in (await session.execute(select(OutboxEvent).where(OutboxEvent.status == "pending"))).scalars():
            event.available_at = aware(event.available_at) - back
        for delivery in (await session.execute(select(WebhookDelivery))).scalars():
            delivery.queued_at = aware(delivery.queued_at) - back
            if delivery.next_attempt_at is not None:
                delivery.next_attempt_at = aware(delivery.next_attempt_at) - back


async def _deliveries(client, partner, subscription) -> list[dict]:
    url = f"/api/v1/partners/webhooks/{subscription['id']}/deliveries"
    return (await client.get(url, headers=partner, params={"limit": 100})).json()["items"]


async def _sends(db) -> dict[str, tuple[str, int, object]]:
    """Each delivery's send in the outbox: its status, attempts and due time, by delivery id."""
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(OutboxEvent.payload, OutboxEvent.status, OutboxEvent.attempts, OutboxEvent.available_at).where(
                OutboxEvent.name == service.DELIVERY_DUE.name
            )
        )
    return {payload["delivery_id"]: (status, attempts, aware(due)) for payload, status, attempts, due in rows}


def _at(value: str | None):
    return None if value is None else datetime.fromisoformat(value)


async def test_a_receiver_that_keeps_failing_is_left_alone_until_a_probe_gets_through(
    client, db, partner, receiver, production_retries, quiet_outbox
) -> None:
    """Five failures in a row open the receiver's breaker: its other deliveries wait, without a connection (a receiver
    that times out held the worker 10 s at each, while every citizen's notification waited) and without an attempt
    counted; once the breaker lets a probe through, its success closes the breaker and they all go out."""
    worker, clock = production_retries
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 100
    for _ in range(7):
        await _publish(db)
    started = utcnow()
    await _run(worker)
    assert len(receiver.requests) == service.RECEIVER_FAILURES
    deliveries = await _deliveries(client, partner, subscription)
    assert sorted((d["status"], d["attempts"], d["last_error"]) for d in deliveries) == [
        *[("pending", 0, None)] * 2,  # refused: not sent, so no attempt
        *[("pending", 1, "HTTP 503")] * 5,
    ]
    # The next try: the schedule's 5 s after a failure, the breaker's minute after a refusal.
    for delivery in deliveries:
        wait = (_at(delivery["next_attempt_at"]) - started).total_seconds()
        assert 5 <= wait < 7 if delivery["attempts"] else 61 <= wait < 69, delivery

    receiver.fail_next = 0
    await _time_passes(db, clock, 70)
    await _run(worker)
    assert len(receiver.requests) == service.RECEIVER_FAILURES + 7  # the probe, then the others: closed again
    deliveries = await _deliveries(client, partner, subscription)
    assert sorted((d["status"], d["attempts"], d["next_attempt_at"]) for d in deliveries) == [
        *[("succeeded", 1, None)] * 2,
        *[("succeeded", 2, None)] * 5,
    ]


async def test_a_receiver_down_for_half_an_hour_loses_no_delivery(
    client, db, partner, receiver, production_retries, quiet_outbox
) -> None:
    """The receiver fails everything for 30 minutes (the worker's own backoff, 2 s doubling over 8 attempts, gave a
    delivery up within about 4 minutes, and the refusals of the open breaker used its attempts up faster still). Every
    delivery is still pending when it comes back, its attempts the requests that really reached the receiver, its next
    try the time its send is due; then each is delivered, at the time it said."""
    worker, clock = production_retries
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 10**6
    for _ in range(6):
        await _publish(db)
    await _run(worker)
    for _ in range(26):  # 30 minutes, 70 s at a time: the breaker lets a probe through at each step
        await _time_passes(db, clock, 70)
        await _run(worker)

    deliveries = await _deliveries(client, partner, subscription)
    assert [d["status"] for d in deliveries] == ["pending"] * 6
    assert sum(d["attempts"] for d in deliveries) == len(receiver.requests) <= 5 + 26  # one probe a step at most
    assert all(d["attempts"] < 8 for d in deliveries)
    sends = await _sends(db)
    for delivery in deliveries:  # what the partner is shown is what the worker will do
        assert sends[delivery["id"]] == ("pending", delivery["attempts"], _at(delivery["next_attempt_at"]))

    receiver.fail_next = 0
    latest = max(_at(d["next_attempt_at"]) for d in deliveries)
    await _time_passes(db, clock, (latest - utcnow()).total_seconds() + 1)
    await _run(worker)
    delivered = await _deliveries(client, partner, subscription)
    assert [(d["status"], d["attempts"]) for d in delivered] == [("succeeded", d["attempts"] + 1) for d in deliveries]
    succeeded = [r for r in receiver.requests[-6:] if r["valid"]]
    assert sorted(r["headers"]["webhook-id"] for r in succeeded) == sorted(d["id"] for d in deliveries)


async def test_a_receiver_down_past_the_retry_schedule_has_its_deliveries_given_up_then_retried_by_an_admin(
    app, client, db, partner, receiver, production_retries, quiet_outbox
) -> None:
    """Deliveries the breaker keeps refusing (here it never lets a probe through: its clock stands still) wait for as
    long as the retry schedule runs (~27.6 h), and no longer: a receiver gone for good does not keep its deliveries,
    and the worker, busy for ever. Given up, a delivery's send is a dead letter an administrator can retry."""
    worker, clock = production_retries
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 10**6
    for _ in range(6):
        await _publish(db)
    await _run(worker)
    for _ in range(27):
        await _time_passes(db, None, 3600)
        await _run(worker)
    deliveries = await _deliveries(client, partner, subscription)
    assert sorted((d["status"], d["attempts"]) for d in deliveries) == [("pending", 0), *[("pending", 1)] * 5]
    await _time_passes(db, None, 3600)  # 28 hours
    await _run(worker)
    deliveries = await _deliveries(client, partner, subscription)
    assert sorted((d["status"], d["attempts"], d["next_attempt_at"]) for d in deliveries) == [
        ("dead", 0, None),
        *[("dead", 1, None)] * 5,
    ]
    for delivery in deliveries:
        assert delivery["last_error"].startswith("given up: its retries ended at "), delivery
        assert delivery["last_error"].endswith("with the receiver still failing (5 deliveries in a row)")
    assert len(receiver.requests) == 5
    given_up = deliveries

    admin = bearer(await token_for(app, "admin", "admin"))
    letters = (await client.get("/api/v1/admin/outbox/dead-letters", headers=admin)).json()["items"]
    sends = {letter["subject"]: letter for letter in letters}
    letter = sends[f"webhook_delivery:{given_up[0]['id']}"]
    assert letter["last_error"].startswith("GiveUp: given up: its retries ended at ")
    receiver.fail_next = 0
    await _time_passes(db, clock, service.RECEIVER_RESET)  # the breaker lets a probe through
    assert (
        await client.post(f"/api/v1/admin/outbox/dead-letters/{letter['id']}/retry", headers=admin)
    ).status_code == 202
    await _run(worker)
    retried = {d["id"]: d for d in await _deliveries(client, partner, subscription)}[given_up[0]["id"]]
    assert (retried["status"], retried["attempts"], retried["last_error"], retried["next_attempt_at"]) == (
        "succeeded",
        given_up[0]["attempts"] + 1,
        None,
        None,
    )
    assert receiver.requests[-1]["headers"]["webhook-id"] == given_up[0]["id"]


async def test_a_delivery_dead_after_its_attempts_is_sent_again_when_an_admin_retries_its_send(
    app, client, db, partner, receiver, worker, quiet_outbox
) -> None:
    """The administrator's retry of the dead send gave it a fresh set of attempts, but the send found its delivery
    dead and did nothing: answered 202, the event was never delivered."""
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 3
    await _publish(db)
    await _run(worker)
    [dead] = await _deliveries(client, partner, subscription)
    assert (dead["status"], dead["attempts"], dead["next_attempt_at"]) == ("dead", 3, None)
    admin = bearer(await token_for(app, "admin", "admin"))
    [letter] = (await client.get("/api/v1/admin/outbox/dead-letters", headers=admin)).json()["items"]
    assert letter["subject"] == f"webhook_delivery:{dead['id']}"
    assert (
        await client.post(f"/api/v1/admin/outbox/dead-letters/{letter['id']}/retry", headers=admin)
    ).status_code == 202
    await _run(worker)
    [delivered] = await _deliveries(client, partner, subscription)
    assert (delivered["status"], delivered["attempts"], delivered["last_status_code"]) == ("succeeded", 4, 204)
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [dead["id"]] * 4


async def test_a_failed_delivery_is_retried_on_the_webhook_schedule_and_says_when(
    client, db, partner, receiver, production_retries, quiet_outbox
) -> None:
    """5 s after the first failure, 5 minutes after the second, 30 after the third: where the worker's backoff gave
    2, 4 and 8 s. The partner sees the time of the next try; the worker's send is due then."""
    worker, clock = production_retries
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 3
    await _publish(db)
    waits = []
    for _ in range(3):
        await _run(worker)
        [delivery] = await _deliveries(client, partner, subscription)
        waits.append((_at(delivery["next_attempt_at"]) - utcnow()).total_seconds())
        assert (await _sends(db))[delivery["id"]] == ("pending", delivery["attempts"], _at(delivery["next_attempt_at"]))
        await _time_passes(db, clock, waits[-1] + 0.01)
    for wait, scheduled in zip(waits, (5, 300, 1800), strict=True):
        assert scheduled - 1 < wait <= scheduled * 1.1, waits  # up to a tenth later: a burst's retries spread
    await _run(worker)
    [delivery] = await _deliveries(client, partner, subscription)
    assert (delivery["status"], delivery["attempts"], delivery["next_attempt_at"]) == ("succeeded", 4, None)


async def test_a_receiver_whose_breaker_opens_is_logged_by_its_origin_not_its_url(
    app, client, db, partner, receiver, worker, quiet_outbox, caplog
) -> None:
    """A partner's URL may carry its own credential (a token in the path or the query, as many receivers expect);
    the log line that says a receiver's breaker opened names the receiver's origin only."""
    app.state.webhook_receivers = service.Receivers(clock=Clock())
    receiver.url += "?token=partner-url-credential-7f3a"
    await _subscribe(client, partner, receiver)
    receiver.fail_next = 100
    for _ in range(service.RECEIVER_FAILURES):
        await _publish(db)
    with caplog.at_level("WARNING", logger="ti.breaker"):
        await _run(worker)
    opened = [record for record in caplog.records if record.getMessage() == "breaker opened"]
    assert len(opened) == 1
    origin = receiver.url.split("/hooks/")[0]
    assert opened[0].breaker == origin
    assert "partner-url-credential-7f3a" not in JsonFormatter().format(opened[0])


async def test_a_probe_that_dies_unexpectedly_does_not_shut_the_receiver_out_for_good(
    app, client, db, partner, receiver, worker, quiet_outbox, monkeypatch
) -> None:
    clock = Clock()
    app.state.webhook_receivers = service.Receivers(clock=clock)
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = service.RECEIVER_FAILURES
    for _ in range(service.RECEIVER_FAILURES):
        await _publish(db)
    await _run(worker)  # five failures: the breaker opens
    clock.now += service.RECEIVER_RESET

    async def dies(*args, **kwargs):
        raise RuntimeError("not an HTTP error")

    with monkeypatch.context() as patched:
        patched.setattr(app.state.webhook_http, "post", dies)
        await _publish(db)
        await _run(worker, rounds=1)  # the probe dies before it can report
    clock.now += service.RECEIVER_RESET
    url = f"/api/v1/partners/webhooks/{subscription['id']}/deliveries"
    dead = (await client.get(url, headers=partner)).json()["items"][-1]
    assert (await client.post(f"{url}/{dead['id']}/replay", headers=partner)).status_code == 202
    await _run(worker)
    assert (await client.get(url, headers=partner)).json()["items"][-1]["status"] == "succeeded"


async def test_a_replay_sends_a_delivery_waiting_for_its_next_retry_now(
    client, db, partner, receiver, production_retries, quiet_outbox
) -> None:
    """A partner whose receiver is back need not wait for the schedule (5 minutes after a second failure, hours after
    later ones): replaying a delivery that waits sends it at once, the attempts it made kept."""
    worker, clock = production_retries
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 2
    await _publish(db)
    await _run(worker)
    await _time_passes(db, clock, 10)
    await _run(worker)
    [waiting] = await _deliveries(client, partner, subscription)
    assert (waiting["status"], waiting["attempts"]) == ("pending", 2)
    assert (_at(waiting["next_attempt_at"]) - utcnow()).total_seconds() > 250  # the schedule's 5 minutes

    url = f"/api/v1/partners/webhooks/{subscription['id']}/deliveries/{waiting['id']}/replay"
    replayed = await client.post(url, headers=partner)
    assert replayed.status_code == 202, replayed.text
    assert abs((_at(replayed.json()["next_attempt_at"]) - utcnow()).total_seconds()) < 5
    await _run(worker)  # no time has passed
    [delivered] = await _deliveries(client, partner, subscription)
    assert (delivered["status"], delivered["attempts"]) == ("succeeded", 3)
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [waiting["id"]] * 3


async def _sends_of(db, delivery_id: str) -> list[tuple[str, int]]:
    """The sends of one delivery in the outbox (its due events): status and attempts, oldest first."""
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(OutboxEvent.status, OutboxEvent.attempts)
            .where(OutboxEvent.subject == f"webhook_delivery:{delivery_id}")
            .order_by(OutboxEvent.id)
        )
    return [(status, attempts) for status, attempts in rows]


async def test_a_replay_after_an_admin_retried_the_dead_send_queues_no_second_send(
    app, client, db, partner, receiver, worker, quiet_outbox
) -> None:
    """The administrator retried a dead delivery's send, and the partner replayed it before the worker came round: the
    delivery still said dead, so the replay queued a send of its own beside the revived one, and one delivery went out
    twice per round, each send on a schedule of its own. The replay now joins the send already queued."""
    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 100
    await _publish(db)
    await _run(worker)
    [dead] = await _deliveries(client, partner, subscription)
    assert (dead["status"], dead["attempts"]) == ("dead", 3)
    admin = bearer(await token_for(app, "admin", "admin"))
    [letter] = (await client.get("/api/v1/admin/outbox/dead-letters", headers=admin)).json()["items"]
    assert (
        await client.post(f"/api/v1/admin/outbox/dead-letters/{letter['id']}/retry", headers=admin)
    ).status_code == 202

    url = f"/api/v1/partners/webhooks/{subscription['id']}/deliveries/{dead['id']}/replay"
    replayed = await client.post(url, headers=partner)
    assert replayed.status_code == 202, replayed.text
    assert (replayed.json()["status"], replayed.json()["attempts"]) == ("pending", 3)
    assert await _sends_of(db, dead["id"]) == [("pending", 0)]  # the revived one, alone

    receiver.fail_next = 1
    sent = len(receiver.requests)
    await worker.run_once()
    assert len(receiver.requests) == sent + 1  # one request a round: one send
    await _run(worker)
    [delivered] = await _deliveries(client, partner, subscription)
    assert (delivered["status"], delivered["attempts"]) == ("succeeded", 5)
    assert len(receiver.requests) == sent + 2
    assert await _sends_of(db, dead["id"]) == [("done", 2)]


async def test_a_replay_beside_an_admins_retry_of_the_dead_send_queues_one_send(
    app, client, db, partner, receiver, worker, quiet_outbox
) -> None:
    """The administrator's retry of the dead send and the partner's replay of its delivery, side by side: the replay
    waits for the retry and joins the send it revived, whichever commits first (on PostgreSQL the replay read the send
    as dead, then found it revived under it, and queued a second)."""
    from core.worker import retry_dead

    subscription = await _subscribe(client, partner, receiver)
    receiver.fail_next = 100
    await _publish(db)
    await _run(worker)
    [dead] = await _deliveries(client, partner, subscription)
    [(letter_id,)] = await _dead_sends(db, dead["id"])
    client_id = "demo-partner"

    async def replay() -> None:
        async with db.transaction() as session:
            await service.replay(
                session=session,
                client_id=client_id,
                subscription_id=uuid.UUID(subscription["id"]),
                delivery_id=uuid.UUID(dead["id"]),
            )

    async with db.transaction() as session:
        assert await retry_dead(session, letter_id) is not None
        replaying = asyncio.create_task(replay())
        await asyncio.sleep(0.3)  # the replay is under way, waiting on the retry's transaction
    await replaying
    assert await _sends_of(db, dead["id"]) == [("pending", 0)]


async def _dead_sends(db, delivery_id: str) -> list[tuple[uuid.UUID]]:
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(OutboxEvent.id).where(
                OutboxEvent.subject == f"webhook_delivery:{delivery_id}", OutboxEvent.status == "dead"
            )
        )
    return [tuple(row) for row in rows]
