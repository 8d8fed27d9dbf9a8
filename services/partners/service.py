"""Partner webhooks: subscriptions, fan-out of partner-visible events, and signed at-least-once delivery.

Delivery rides on the outbox: fanning an event out writes a `webhook_delivery` row per matching subscription and an
internal `partner.webhook.due` event; the worker's handler for that event POSTs the signed body. A failed attempt is
recorded on the delivery and `RetryLater` is raised with the time of the next one, on the webhook retry schedule
(`RetrySchedule`: by default eight attempts over ~27.5 hours, where the worker's own backoff gives up within minutes),
so the record commits and the outbox tries again then; after its last attempt the delivery is dead. A delivery the
receiver's breaker refuses was not sent: it is not an attempt (`NotAttempted`), and it waits for the breaker to let a
call through again, so a receiver down for hours loses nothing; one still refused once the schedule's span has passed
since it was queued is given up (`GiveUp`), so deliveries to a receiver gone for good do not pile up for ever. Replay
emits a new due event for the same delivery, or brings its dead one back.
"""

import asyncio
import json
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.identity import Identity
from auth.repository import active_clients_holding, represents
from core import audit
from core.breaker import CircuitBreaker
from core.db import Database
from core.events import CATALOGUE, Event, OutboxEvent, define_event, emit
from core.http import check_if_match
from core.models import aware, utcnow
from core.outbound import BlockedDestination, GuardedTransport
from core.worker import GiveUp, NotAttempted, RetryLater, bring_forward, retry_dead
from services.partners import repository, signing
from services.partners.exceptions import (
    DeliveryNotFound,
    DeliveryQueued,
    SubscriptionNotFound,
    TooManySubscriptions,
    UnknownEvent,
    UnsafeWebhookUrl,
)
from services.partners.models import WebhookDelivery, WebhookSubscription
from services.partners.schemas import WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate

DELIVERY_DUE = define_event("partner.webhook.due", description="A webhook delivery is due (internal).")


ALL = object()  # an event every subscriber may receive (a catalogue change)
# A partner's subscriptions: each event is sent once per subscription, so their number multiplies its sends.
MAX_SUBSCRIPTIONS = 20
# What a partner needs, besides being an active client, to be sent anything.
LISTENING_SCOPE = "webhooks:manage"
# A receiver that failed this many deliveries in a row is not called for a while (then one probe).
RECEIVER_FAILURES, RECEIVER_RESET = 5, 60.0
_spread = random.Random()  # noqa: S311 (jitter, not secrecy)


class RetrySchedule(NamedTuple):
    """When a failed delivery is tried again: `delays[n - 1]` seconds after its n-th attempt (the last delay repeats),
    for `attempts` attempts in all (the worker's max_attempts, after which it dead-letters the send)."""

    delays: tuple[float, ...]
    attempts: int

    def delay(self, attempt: int) -> float:
        return self.delays[min(attempt, len(self.delays)) - 1]

    def span(self) -> timedelta:
        """From the first attempt to the last, when each is made on time."""
        return timedelta(seconds=sum(self.delay(attempt) for attempt in range(1, self.attempts)))


def _later(seconds: float) -> datetime:
    """`seconds` from now, and up to a tenth more: the retries of a burst of deliveries do not all come at once."""
    return utcnow() + timedelta(seconds=seconds * _spread.uniform(1.0, 1.1))


class Receivers:
    """A breaker per receiver (by URL), per process. A receiver that is down no longer holds the worker for a
    timeout (10 s) at each of its deliveries while every citizen's notification waits behind them: once it has
    failed RECEIVER_FAILURES times in a row, its deliveries fail at once, without a connection, until a probe
    after RECEIVER_RESET seconds gets through."""

    LIMIT = 1024  # receivers remembered; the least recently called is forgotten first

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()

    def breaker(self, url: str) -> CircuitBreaker:
        found = self._breakers.pop(url, None) or CircuitBreaker(
            _origin(url), failures=RECEIVER_FAILURES, reset=RECEIVER_RESET, clock=self.clock
        )
        self._breakers[url] = found
        if len(self._breakers) > self.LIMIT:
            self._breakers.popitem(last=False)
        return found


def _origin(url: str) -> str:
    """How a receiver is named in the logs: its scheme, host and port. The rest of a partner's URL may carry its
    credential (a token in the path or the query), and no secret goes into a log."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"  # netloc holds no userinfo


def partner_events() -> list[str]:
    return sorted(name for name, event in CATALOGUE.items() if event.partner_visible)


def _check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(partner_events()))
    if unknown:
        raise UnknownEvent(f"Not partner-visible events: {', '.join(unknown)}.")
    return sorted(set(events))


async def _check_url(transport: GuardedTransport, url: str) -> str:
    try:
        parsed = httpx.URL(url)
        if parsed.scheme not in transport.schemes:
            raise BlockedDestination(f"scheme {parsed.scheme!r} is not allowed")
        if not parsed.host:
            raise BlockedDestination("the URL has no host")
        await transport.check(parsed)
    except (BlockedDestination, httpx.InvalidURL) as exc:
        raise UnsafeWebhookUrl(f"{exc}.") from None
    return url


def _read(row: WebhookSubscription) -> WebhookRead:
    return WebhookRead.model_validate(row, from_attributes=True)


async def create_subscription(
    *, session: AsyncSession, identity: Identity, guard: GuardedTransport, client_id: str, data: WebhookCreate
) -> WebhookCreated:
    """Subscribe an https URL of the partner's to events; the signing secret is returned once."""
    if await repository.subscription_count(session, client_id) >= MAX_SUBSCRIPTIONS:
        raise TooManySubscriptions(
            f"A partner has at most {MAX_SUBSCRIPTIONS} subscriptions; subscribe one URL to several events instead."
        )
    secret = signing.new_secret()
    row = WebhookSubscription(
        client_id=client_id,
        url=await _check_url(guard, data.url),
        events=_check_events(data.events),
        secret_encrypted=identity.cipher.encrypt(secret, context="webhook_secret"),
        description=data.description,
    )
    session.add(row)
    await session.flush()
    audit.record(session, action="partner.webhook.created", object_type="webhook", object_id=row.id)
    return WebhookCreated(**_read(row).model_dump(), secret=secret)


async def get_subscription(*, session: AsyncSession, client_id: str, subscription_id: uuid.UUID) -> WebhookSubscription:
    row = await repository.subscription(session, client_id, subscription_id)
    if row is None:
        raise SubscriptionNotFound()
    return row


async def update_subscription(
    *,
    session: AsyncSession,
    guard: GuardedTransport,
    client_id: str,
    subscription_id: uuid.UUID,
    data: WebhookUpdate,
    if_match: str | None,
) -> WebhookRead:
    row = await get_subscription(session=session, client_id=client_id, subscription_id=subscription_id)
    check_if_match(if_match, row.version)
    if data.url is not None:
        row.url = await _check_url(guard, data.url)
    if data.events is not None:
        row.events = _check_events(data.events)
    for name in ("active", "description"):
        if name in data.model_fields_set:
            setattr(row, name, getattr(data, name))
    session.add(row)
    await session.flush()
    audit.record(
        session,
        action="partner.webhook.updated",
        object_type="webhook",
        object_id=row.id,
        detail={"fields": sorted(data.model_fields_set)},
    )
    return _read(row)


async def delete_subscription(*, session: AsyncSession, client_id: str, subscription_id: uuid.UUID) -> None:
    row = await get_subscription(session=session, client_id=client_id, subscription_id=subscription_id)
    await session.delete(row)
    await session.flush()
    audit.record(session, action="partner.webhook.deleted", object_type="webhook", object_id=subscription_id)


async def replay(
    *, session: AsyncSession, client_id: str, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery again; the receiver sees the same Webhook-Id. One still waiting for its next retry is sent now
    (a partner whose receiver is back need not wait hours for the schedule), with the attempts it has made."""
    row = await repository.delivery(session, delivery_id, client_id=client_id, for_update=True)
    if row is None or row.subscription_id != subscription_id:
        raise DeliveryNotFound()
    now = utcnow()
    send = await repository.open_send(session, row.id)
    if send is not None and send[1] == "pending":
        # Never a second send: queued twice, one delivery would be sent over and over.
        if not await bring_forward(session, send[0]):
            raise DeliveryQueued("This delivery is being sent now; replay it once it has succeeded or failed.")
        if row.status == "pending":
            row.next_attempt_at = now  # the receiver's breaker, if open, may hold it up to a minute more
            session.add(row)
            await session.flush()
            return row
        # Dead, its send already brought back by an administrator's retry of the dead letter: that send is this
        # replay's, a round of its own (below).
    elif send is not None:
        # A send of it that died (its attempts used up, or a send that kept dying, leaving the delivery pending) is
        # brought back rather than joined by another: an operator retrying the dead one as well would otherwise
        # have two sends queued. Held (open_send), it is still dead here.
        await retry_dead(session, send[0])
    else:
        emit(session, Event(DELIVERY_DUE.name, subject=f"webhook_delivery:{row.id}", payload={"delivery_id": row.id}))
    row.status = "pending"
    row.queued_at = row.next_attempt_at = now  # a round of its own: the whole schedule again
    session.add(row)
    await session.flush()
    return row


# -- the worker's side ---------------------------------------------------------------------------------------------


async def fan_out(*, session: AsyncSession, event: OutboxEvent) -> int:
    """One delivery per active subscription to this event (none twice, however often this runs)."""
    if not CATALOGUE.get(event.name) or not CATALOGUE[event.name].partner_visible:
        return 0
    # An event about one partner's own case (an application it filed) names that partner; nobody else receives it,
    # and that partner only while the citizen it acts for keeps its mandate.
    audience = event.payload.get("partner_client_id", ALL)
    if audience is not ALL and not await _may_hear(session, audience, event.payload):
        return 0
    created = 0
    subscriptions = await repository.active_subscriptions(session)
    listening = await active_clients_holding(session, [s.client_id for s in subscriptions], LISTENING_SCOPE)
    for subscription in subscriptions:
        if subscription.client_id not in listening or (audience is not ALL and subscription.client_id != audience):
            continue
        if event.name not in subscription.events or await repository.delivery_exists(
            session, subscription.id, event.id
        ):
            continue
        body = {
            "type": event.name,
            "timestamp": event.occurred_at.isoformat(),
            "data": {"event_id": str(event.id), "subject": event.subject, "version": event.version, **event.payload},
        }
        row = WebhookDelivery(
            subscription_id=subscription.id,
            client_id=subscription.client_id,
            event_id=event.id,
            event_name=event.name,
            body=body,
        )
        session.add(row)
        await session.flush()
        emit(session, Event(DELIVERY_DUE.name, subject=f"webhook_delivery:{row.id}", payload={"delivery_id": row.id}))
        created += 1
    return created


async def _may_hear(session: AsyncSession, client_id: str, payload: dict[str, Any]) -> bool:
    """An event about a citizen a partner acts for (`on_behalf_of`) is that partner's to hear of only while the
    citizen's mandate stands: when it is sent as well as when it is fanned out (a retry, or a replay, comes later)."""
    citizen = payload.get("on_behalf_of")
    return not citizen or await represents(session, uuid.UUID(str(citizen)), client_id)


class _Send(NamedTuple):
    url: str
    headers: dict[str, str]
    body: bytes
    queued_at: datetime
    revived: bool  # the delivery was dead: an administrator retried its dead send


async def deliver(
    *,
    database: Database,
    session: AsyncSession,
    identity: Identity,
    http: httpx.AsyncClient,
    receivers: Receivers,
    delivery_id: uuid.UUID,
    attempt: int,
    schedule: RetrySchedule,
) -> None:
    """POST one signed delivery (`attempt`: its send's attempt, counted by the worker). A non-2xx (a redirect too: they
    are not followed) is recorded and raised with the time of the next attempt; one the receiver's breaker refuses is
    not an attempt, and waits for the breaker.

    What to send is read, and sent, before the event's own transaction (`session`) runs a statement: on SQLite that
    transaction holds the database's one write lock from its first statement, and a partner's slow receiver must not
    hold up every citizen's write for as long as it takes to answer."""
    async with database.transaction(write=False) as reading:
        send = await _prepared(reading, identity, delivery_id)
    if isinstance(send, str):  # not to be sent any more: why (nothing was sent, so no attempt is counted)
        await repository.record(session, delivery_id, status="dead", last_error=send, next_attempt_at=None)
        return
    if send is None:
        return
    # A dead delivery whose send runs again was brought back by an administrator (the dead-letter retry gives the
    # send a fresh set of attempts): a round of its own, as a replay is.
    queued_at = utcnow() if send.revived else send.queued_at
    fresh = {"queued_at": queued_at} if send.revived else {}
    breaker = receivers.breaker(send.url)
    if not breaker.admits():
        await _refused(session, delivery_id, breaker, deadline=queued_at + schedule.span(), fresh=fresh)
    status_code, error = await _post(http, breaker, send)
    if error is None:
        await repository.record_attempt(
            session,
            delivery_id,
            status="succeeded",
            last_status_code=status_code,
            last_error=None,
            delivered_at=utcnow(),
            next_attempt_at=None,
            **fresh,
        )
        return
    if attempt >= schedule.attempts:  # its last: the worker dead-letters the send
        await repository.record_attempt(
            session,
            delivery_id,
            status="dead",
            last_status_code=status_code,
            last_error=error,
            next_attempt_at=None,
            **fresh,
        )
        raise RetryLater(error)
    at = _later(schedule.delay(attempt))
    await repository.record_attempt(
        session,
        delivery_id,
        status="pending",
        last_status_code=status_code,
        last_error=error,
        next_attempt_at=at,
        **fresh,
    )
    raise RetryLater(error, at=at)


async def _refused(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    breaker: CircuitBreaker,
    *,
    deadline: datetime,
    fresh: dict[str, datetime],
) -> None:
    """A delivery the receiver's breaker did not let through: nothing was sent, so it is no attempt (its count, its
    last status and error stay those of its last real attempt); it waits for the breaker to let a call through again,
    or is given up once the deadline (the retry schedule's span after it was queued) has passed."""
    if utcnow() >= deadline:
        error = (
            f"given up: its retries ended at {deadline.isoformat(timespec='seconds')} with the receiver still failing "
            f"({breaker.consecutive} deliveries in a row)"
        )
        await repository.record(session, delivery_id, status="dead", last_error=error, next_attempt_at=None)
        raise GiveUp(error)
    wait = breaker.retry_after()
    at = _later(wait)
    await repository.record(session, delivery_id, status="pending", next_attempt_at=at, **fresh)
    raise NotAttempted(
        f"not sent: the receiver failed {breaker.consecutive} deliveries in a row; it is tried again in {wait} s", at=at
    )


async def _post(http: httpx.AsyncClient, breaker: CircuitBreaker, send: _Send) -> tuple[int | None, str | None]:
    """The status code, and what went wrong (None when it was delivered); the breaker learns of the outcome."""
    status_code, error = None, None
    try:
        response = await http.post(send.url, content=send.body, headers=send.headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}" + (" (redirects are not followed)" if 300 <= status_code < 400 else "")
    except BlockedDestination as exc:
        error = f"refused before connecting: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}"
    except asyncio.CancelledError:
        breaker.abandoned()  # the worker stopping: nothing learnt of the receiver, but a probe must not hang on
        raise
    except BaseException:
        breaker.failed()  # a probe that never reported would keep the receiver shut out for good
        raise
    if error:
        breaker.failed()
    else:
        breaker.succeeded()
    return status_code, error


async def _prepared(session: AsyncSession, identity: Identity, delivery_id: uuid.UUID) -> _Send | str | None:
    """The signed request of a delivery that is due; or why it is not to be sent any more; or None (sent already)."""
    row = await repository.delivery(session, delivery_id)
    if row is None or row.status == "succeeded":
        return None
    subscription = await session.get(WebhookSubscription, row.subscription_id)
    if subscription is None or not subscription.active:
        return "the subscription was paused or deleted (replay it once it is active)"
    if not await active_clients_holding(session, [row.client_id], LISTENING_SCOPE):
        return f"the partner's client is disabled or no longer holds {LISTENING_SCOPE}"
    if not await _may_hear(session, row.client_id, row.body.get("data", {})):
        return "the citizen withdrew the mandate"
    secret = identity.cipher.decrypt(subscription.secret_encrypted, context="webhook_secret")
    body = json.dumps(row.body, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": str(row.id),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.sign(secret, webhook_id=str(row.id), timestamp=timestamp, body=body),
    }
    return _Send(subscription.url, headers, body, aware(row.queued_at), revived=row.status == "dead")
