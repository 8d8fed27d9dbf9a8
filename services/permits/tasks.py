"""The worker's side of permits: screening, issuing, payments and refunds, notifications, and the SLA jobs.

Each handler runs in the event's transaction and is written to have one effect however often it runs: a system step
is taken only from the state it starts from, a credential is issued once per application, notifications carry the
event id as their dedupe key.
"""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, sla
from core.events import Event, OutboxEvent, emit
from core.models import aware, utcnow
from core.worker import REGISTRY, one_by_one
from core.workflow import escalate_near_breach
from services.calendar import service as calendar_service
from services.calendar.service import CALENDAR_CHANGED
from services.catalogue import service as catalogue_service
from services.cloud import service as cloud_service
from services.credentials import service as credentials_service
from services.notifications import service as notifications
from services.permits import repository
from services.permits.exceptions import ActionRefused
from services.permits.models import PermitApplication, PermitHistory
from services.permits.schemas import ActionRequest
from services.permits.service import (
    DEEMED_GRANTED,
    PAYMENT_PURPOSE,
    SYSTEM_ACTOR,
    WORKER,
    apply,
    full_form,
    open_benefit_drafts,
    promised_time,
    public_holder,
    purpose_of,
    renewals_deemed_granted,
)
from services.permits.workflow import (
    ACTIVE,
    APPLICATION_ESCALATED,
    APPLICATION_LIFECYCLE,
    APPLICATION_PAID,
    COMMENT_ADDED,
)
from services.talent import service as talent_service

logger = logging.getLogger("ti.permits")
EVENT = APPLICATION_LIFECYCLE.event_name
# Permit validity when the form does not say (months); the form fields that do, in order of preference.
DEFAULT_VALIDITY_MONTHS = 60
VALIDITY_FIELDS = ("requested_months", "duration_months", "contract_months")


async def _application(session: AsyncSession, event: OutboxEvent) -> PermitApplication | None:
    return await repository.application(session, uuid.UUID(str(event.payload["application_id"])))


async def _system_step(session: AsyncSession, state: Any, row: PermitApplication, action: str, **data: Any) -> bool:
    """Take a system step if the application is still where the step starts (a redelivered event does nothing)."""
    step = APPLICATION_LIFECYCLE.still_possible(row.status, action)
    if step is None:
        return False
    await apply(
        session=session, identity=state.identity, row=row, step=step, data=ActionRequest(**data), actor=SYSTEM_ACTOR
    )
    return True


@REGISTRY.on(EVENT("submit"), name="permits.screen")
async def screen(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """The completeness check: the submit guard has checked the form and the documents; the application moves on."""
    row = await _application(session, event)
    if row is not None:
        await _system_step(session, state, row, "screen")


@REGISTRY.on(EVENT("approve"), EVENT("deem_granted"), name="permits.issue")
async def issue(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """Sign the permit as a verifiable credential and mark the application issued. A renewal's permit continues the
    one it renews (`_validity`) and replaces it, taking over any sanction on it."""
    row = await _application(session, event)
    if row is None or row.status != "approved":
        return
    existing = await credentials_service.get_by_subject(
        session=session, subject_type="permit_application", subject_id=row.id
    )
    replaced = await credentials_service.get_by_number(session=session, number=row.renews) if row.renews else None
    if existing is None:
        service = await catalogue_service.pinned_version(session=session, service_id=row.service_id)
        form = full_form(state.identity.cipher, row)  # a validity field may be marked personal
        valid_from, valid_until = _validity(form, replaced, utcnow())
        existing = await credentials_service.issue(
            session=session,
            identity=state.identity,
            kind="permit",
            number=row.reference.replace("TI-P-", "TI-PERMIT-"),
            holder_account_id=row.applicant_id,
            holder_name=public_holder(row.holder_name, row.holder_public),  # anyone may verify it
            department=row.department,
            title={"zh-CN": service.title_zh, "en": service.title_en},
            conditions=[{"zh-CN": text, "en": text} for text in row.conditions],
            valid_from=valid_from,
            valid_until=valid_until,
            subject_type="permit_application",
            subject_id=row.id,
            filed_by_client=row.submitted_by_client,
        )
    row.permit_number = existing.number
    if replaced is not None:  # the renewed permit is replaced (revoked, naming this one); a sanction on it passes on
        await credentials_service.renew(session=session, row=replaced, by=existing)
    await _system_step(session, state, row, "issue")


def _validity(form: dict[str, Any], replaced: Any, now: datetime) -> tuple[datetime, datetime]:
    """From when and until when a new permit is valid: from its issue, for the months its form asks (or the default).
    A renewal continues the permit it replaces: its months count from that one's end, so renewing early loses no
    time, but from no later than the 60 days in which holders are reminded to renew (renewals one after another
    cannot pile validity up); decided after that end, it is valid from the end (no gap) and its months count from
    the decision (the department's delay costs the holder nothing)."""
    asked = (int(form[name]) for name in VALIDITY_FIELDS if isinstance(form.get(name), int | float))
    months = timedelta(days=round(30.4375 * (next(asked, None) or DEFAULT_VALIDITY_MONTHS)))
    if replaced is None:
        return now, now + months
    ends = aware(replaced.valid_until)
    return min(now, ends), min(max(ends, now), now + credentials_service.EXPIRY_NOTICE) + months


@REGISTRY.on(EVENT("reject"), EVENT("withdraw"), EVENT("rfi_timeout"), name="permits.refund")
async def refund(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """Fees paid for an application that ends without a permit go back (one refund number per order)."""
    row = await _application(session, event)
    if row is not None and row.paid_at is not None:
        await _refund(session, state, row)


async def _refund(session: AsyncSession, state: Any, row: PermitApplication, *, payment_id: str | None = None) -> None:
    """Refund the application's paid orders (or the one given); a refund number per order makes a repeat harmless."""
    for order in await cloud_service.payments_for(session=session, purpose=purpose_of(row.id)):
        if order.status == "paid" and payment_id in (None, str(order.id)):
            await cloud_service.refund_payment(
                session=session, payments=state.cloud.cloud.payments, payment=order, reason=f"{row.reference} 退费"
            )


@REGISTRY.on("cloud.payment.paid", "cloud.payment.refunded", name="permits.payment")
async def payment(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """The cloud's signed notification reached us: record the payment (or the refund) on the application."""
    if not event.subject.startswith(PAYMENT_PURPOSE):
        return
    row = await repository.application(session, uuid.UUID(event.subject.removeprefix(PAYMENT_PURPOSE)))
    if row is None:
        return
    now = utcnow()
    if event.name == "cloud.payment.refunded":
        # The application's fees went back once none of its orders stays paid: a second order refunded while the
        # first pays for the permit leaves it paid.
        orders = await cloud_service.payments_for(session=session, purpose=purpose_of(row.id))
        if row.refunded_at is None and not any(order.status == "paid" for order in orders):
            row.refunded_at = now
            session.add(row)
            await session.flush()
        return
    if row.paid_at is not None or row.status != "pending_payment":
        # A second order paid, or a payment that arrived after the application ended: that money goes back.
        await _refund(session, state, row, payment_id=str(event.payload.get("payment_id")))
        return
    row.paid_at = now
    session.add(row)
    session.add(
        PermitHistory(
            application_id=row.id,
            action="pay",
            from_status=row.status,
            to_status=row.status,
            actor_role="applicant",
            reason=f"CNY {event.payload.get('amount', 0) / 100:.2f}",
            occurred_at=now,
        )
    )
    await session.flush()
    audit.record(
        session,
        action=APPLICATION_PAID.name,
        object_type="permit_application",
        object_id=row.id,
        detail={"amount": event.payload.get("amount")},
        actor=WORKER,
    )
    emit(
        session,
        Event(APPLICATION_PAID.name, subject=f"permit_application:{row.id}", payload={"application_id": row.id}),
    )
    await notifications.notify(
        session=session,
        identity=state.identity,
        account_id=row.applicant_id,
        template="payment_received",
        params={"amount": f"{event.payload.get('amount', 0) / 100:.2f}", "description": row.reference},
        dedupe_key=f"event:{event.id}",
    )


@REGISTRY.on("talent.application.card_issued", name="permits.benefit_drafts")
async def benefit_drafts(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """A new talent card opens a pre-filled draft for each benefit its tier unlocks (once: drafts already opened for
    a benefit are not opened again)."""
    card = await talent_service.card_by_number(session=session, number=str(event.payload.get("card_number")))
    if card is None:  # suspended or revoked before the worker got here
        return
    await open_benefit_drafts(
        session=session, identity=state.identity, applicant_id=card.holder_id, tier=card.tier, card_number=card.number
    )


STATUS_EVENTS = [EVENT(t.action) for t in APPLICATION_LIFECYCLE.transitions if t.target]


@REGISTRY.on(*STATUS_EVENTS, name="permits.notify_applicant")
async def notify_applicant(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """Every change of status reaches the applicant, in the inbox and by SMS, in their language."""
    await notifications.tell_applicant_of_status(
        session=session, identity=state.identity, event=event, template="permit_status_changed", find=_application
    )


@REGISTRY.on(COMMENT_ADDED.name, name="permits.notify_comment")
async def notify_comment(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """A comment reaches the other side: the applicant, or the officer handling the application."""
    await notifications.tell_of_comment(session=session, identity=state.identity, event=event, find=_application)


# -- scheduled ----------------------------------------------------------------------------------------------------


@REGISTRY.every(300, name="permits.escalate")
async def escalate(state: Any) -> None:
    """Applications past 80% of their time go to the department's supervisors, once."""

    async def tell(session: AsyncSession, row: PermitApplication) -> None:
        await notifications.tell_supervisors_of_deadline(
            session=session, identity=state.identity, row=row, department=row.department, template="permit_escalated"
        )

    await escalate_near_breach(
        state.db,
        model=PermitApplication,
        running=ACTIVE,
        history=PermitHistory,
        object_type="permit_application",
        event=APPLICATION_ESCALATED.name,
        tell=tell,
    )


@REGISTRY.every(300, name="permits.rfi_timeouts")
async def rfi_timeouts(state: Any) -> None:
    """Requests for information not answered by their due date: the application lapses. One transaction each, so an
    applicant answering at that very moment fails only their own lapse (and wins)."""
    async with state.db.transaction(write=False) as session:
        overdue = [request.application_id for request in await repository.overdue_requests(session, utcnow())]

    async def lapse(session: AsyncSession, application_id: uuid.UUID) -> None:
        row = await repository.application(session, application_id)
        request = await repository.open_request(session, application_id)
        # Still owed? (Answered since, and maybe asked again, it is not this request's lapse.)
        if row is not None and request is not None and aware(request.due_at) < utcnow():
            reason = "The request for information was not answered in time."
            await _system_step(session, state, row, "rfi_timeout", reason=reason)

    await one_by_one(state.db, overdue, lapse)


@REGISTRY.every(300, name="permits.deemed_renewals")
async def deemed_renewals(state: Any) -> None:
    """Renewals the law grants (art. 50; see service._granted_by_law), then issued like any approval. One
    transaction each, the rule checked again inside it."""
    async with state.db.transaction(write=False) as session:
        due = await renewals_deemed_granted(session=session, identity=state.identity, now=utcnow())
    await one_by_one(state.db, due, lambda session, application_id: grant_by_law(session, state, application_id))


async def grant_by_law(session: AsyncSession, state: Any, application_id: uuid.UUID) -> None:
    """The deem_granted step on one renewal the job listed; nothing if the law no longer grants it (its permit
    suspended since, say): the next run looks again, and the rest of this one goes on."""
    row = await repository.application(session, application_id)
    if row is None:
        return
    try:
        await _system_step(session, state, row, "deem_granted", reason=DEEMED_GRANTED.format(number=row.renews))
    except ActionRefused:
        logger.info("renewal no longer granted by law", extra={"application_id": str(application_id)})


@REGISTRY.every(3600, name="permits.processing_times")
async def processing_times(state: Any) -> None:
    """Each permit service's real median and 90th-percentile processing time over the last year, for the catalogue,
    each application counted as its promise was (in working days where the service's processing time says so)."""
    since = utcnow() - timedelta(days=365)
    async with state.db.transaction() as session:
        calendar = await calendar_service.working_calendar(session=session, since=since.astimezone(sla.CHINA).date())
        by_service: dict[str, list[int]] = {}
        for row in await repository.decided_durations(session, since):
            pinned = await catalogue_service.pinned_version(session=session, service_id=row.service_id)
            promised = pinned.content.get("processing_time") or sla.DEFAULT_PROCESSING_TIME
            seconds = sla.processing_seconds(row, working_days=promised.get("working_days", True), calendar=calendar)
            if seconds is not None:
                by_service.setdefault(row.service_code, []).append(seconds)
        await catalogue_service.record_processing_times(session=session, durations=by_service)


@REGISTRY.on(CALENDAR_CHANGED.name, name="permits.recount_deadlines")
async def recount_deadlines(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """A year of the calendar changed: the running deadlines counted over it are counted again, a page per
    transaction of its own (not the event's: counting again is idempotent, so a retried event repeats no harm). It
    leaves the event's session alone: on SQLite its first statement, a read included, would take the write lock the
    pages wait for (a name's handlers run before the catch-all "*" ones, which write there)."""

    async def processing_time(page: AsyncSession, row: PermitApplication) -> dict[str, Any] | None:
        pinned = await catalogue_service.pinned_version(session=page, service_id=row.service_id)
        return await promised_time(page, row, pinned.content)

    await calendar_service.recount_deadlines(
        database=state.db, model=PermitApplication, year=int(event.payload["year"]), processing_time_of=processing_time
    )
