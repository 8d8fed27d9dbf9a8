"""The worker's side of talent registration: registry checks of the claims, scoring, the talent card, notifications,
the lapse of unanswered requests and the escalation of applications near their deadline.

Each handler runs in the event's transaction and has one effect however often it runs: a system step is taken only
from the state it starts from, a claim is checked only while pending, the card is issued once per application.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from auth import service as auth_service
from core.crypto import mask_name
from core.events import OutboxEvent
from core.models import aware, utcnow
from core.worker import REGISTRY, one_by_one
from core.workflow import escalate_near_breach
from services.calendar import service as calendar_service
from services.calendar.service import CALENDAR_CHANGED
from services.credentials import service as credentials_service
from services.notifications import service as notifications
from services.talent import repository
from services.talent import service as talent_service
from services.talent.applications import SYSTEM_ACTOR, Context, apply, scored_claim, unseal
from services.talent.dependencies import cache_in
from services.talent.models import TalentApplication, TalentClaim, TalentHistory
from services.talent.schemas import ActionRequest
from services.talent.workflow import (
    ACTIVE,
    COMMENT_ADDED,
    DEPARTMENT,
    EVIDENCE_RELEASED,
    TALENT_APPLICATION_ESCALATED,
    TALENT_LIFECYCLE,
)

EVENT = TALENT_LIFECYCLE.event_name
CARD_VALIDITY = timedelta(days=5 * 365)  # a talent card is valid five years, then renewed
# A salary claim is confirmed by the tax records when twelve months of them add up to this share of it.
TAX_RECORD_SHARE = 0.9
# Fields of an education claim the degree registry does not hold (they score points, so an officer checks them).
UNREGISTERED_FIELDS = ("institution_rank", "discipline")


def _context(state: Any) -> Context:
    return Context(identity=state.identity, rules=cache_in(state))


async def _application(session: AsyncSession, event: OutboxEvent) -> TalentApplication | None:
    return await repository.application(session, uuid.UUID(str(event.payload["application_id"])))


async def _system_step(session: AsyncSession, state: Any, row: TalentApplication, action: str, **data: Any) -> bool:
    """Take a system step if the application is still where the step starts (a redelivered event does nothing)."""
    step = TALENT_LIFECYCLE.still_possible(row.status, action)
    if step is None:
        return False
    await apply(
        session=session, context=_context(state), row=row, step=step, data=ActionRequest(**data), actor=SYSTEM_ACTOR
    )
    return True


@REGISTRY.on(EVENT("submit"), EVENT("answer"), name="talent.verify")
async def verify(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """Ask the registries about every pending claim they can answer; a claim they cannot verify goes back to the
    applicant; when nothing is left pending, the application is scored."""
    row = await _application(session, event)
    if row is None or row.status not in ("submitted", "verifying"):
        return
    now = utcnow()
    refused = []
    for item in await repository.claims(session, row.id):
        if item.status == "pending" and await _check(session, state, row, item, now) == "unverifiable":
            refused.append(item)
    await _system_step(session, state, row, "verify")
    if refused:
        # The registries' answers stay on the claims (shown to the applicant and the handling officer only).
        kinds = ", ".join(sorted({item.kind.replace("_", " ") for item in refused}))
        question = f"The registries could not verify your {kinds} claim(s): correct or drop them, then answer."
        await _system_step(session, state, row, "hold", reason=question)
    elif all(item.status != "pending" for item in await repository.claims(session, row.id)):
        await _system_step(session, state, row, "score")


async def _check(
    session: AsyncSession, state: Any, row: TalentApplication, item: TalentClaim, now: datetime
) -> str | None:
    """Verify one claim through the registry that holds it; None when no registry does (an officer decides)."""
    data = unseal(state.identity, row.id, item.sealed)
    person = await auth_service.real_name_of(session=session, identity=state.identity, account_id=row.applicant_id)
    identity_port = state.cloud.cloud.identity
    outcome: tuple[str, str] | None = None
    if item.kind == "birth_date" and person is not None:
        born = await auth_service.birth_date(session=session, identity=state.identity, account_id=row.applicant_id)
        outcome = (
            ("verified", "matches the verified ID number")
            if born is not None and born.isoformat() == data["date"]
            else ("unverifiable", "differs from the birth date in the verified ID number")
        )
    elif item.kind == "education" and data.get("certificate_no") and person is not None:
        record = await identity_port.verify_degree(
            name=person[0], id_number=person[1], certificate_no=data["certificate_no"]
        )
        if record is None:
            outcome = ("unverifiable", "the degree registry has no record of this certificate")
        elif (record.degree, record.year, record.institution.casefold()) != (
            data["level"],
            data["year"],
            data["institution"].strip().casefold(),
        ):
            outcome = ("unverifiable", f"the registry records a {record.degree} of {record.year}, {record.institution}")
        elif any(data.get(field) for field in UNREGISTERED_FIELDS) or data.get("country") not in (None, "CN"):
            # The registry knows the degree, not a ranking or a discipline: an officer confirms those.
            item.reason = "the degree registry confirms the degree; its rank and discipline need an officer"
            session.add(item)
        else:
            outcome = ("verified", f"degree registry: {record.institution}")
    elif item.kind == "salary" and person is not None:
        outcome = await _tax_check(identity_port, person[1], scored_claim(data, verified=False))
    if outcome is None:
        return None
    item.status, item.reason = outcome
    item.method, item.verified_by, item.verified_at = "registry", None, now
    session.add(item)
    await session.flush()
    return item.status


async def _tax_check(identity_port: Any, id_number: str, claim: Any) -> tuple[str, str]:
    """Twelve months of tax records must exist and add up to (most of) the claimed annual salary."""
    records = await identity_port.tax_records(id_number=id_number, months=12)
    if len(records) < 12:
        return "unverifiable", "the tax records do not cover the last 12 months"
    recorded = sum(record.income for record in records) // 100  # fen -> yuan
    claimed = claim.annual_amount if claim.annual_amount is not None else (claim.monthly_amount or 0) * 12
    if recorded < claimed * TAX_RECORD_SHARE:
        return "unverifiable", "the 12-month tax record is well below the claimed salary"
    return "verified", "12-month tax record"


@REGISTRY.on(EVENT("approve"), name="talent.issue_card")
async def issue_card(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """Sign the talent card as a verifiable credential and mark the application card_issued."""
    row = await _application(session, event)
    if row is None or row.status != "approved" or row.approved_tier is None:
        return
    if not talent_service.has_card_tier(row):
        # No "Talent Island card, tier X" for a tier no benefit or waiver can name: approval refuses such schemes,
        # so only an application approved before that could be here; it is left for an officer, card-less.
        return
    existing = await credentials_service.get_by_subject(
        session=session, subject_type="talent_application", subject_id=row.id
    )
    if existing is None:
        name = (await auth_service.contact_of(session=session, identity=state.identity, account_id=row.applicant_id))[0]
        now = utcnow()
        existing = await credentials_service.issue(
            session=session,
            identity=state.identity,
            kind="talent_card",
            number=row.reference.replace("TI-T-", "TI-TALENT-"),
            holder_account_id=row.applicant_id,
            holder_name=mask_name(name),  # anyone may verify a card: it carries no full name
            department=DEPARTMENT,
            title={
                "zh-CN": f"人才岛{row.approved_tier}类人才卡",
                "en": f"Talent Island talent card, tier {row.approved_tier}",
            },
            conditions=[],
            valid_from=now,
            valid_until=now + CARD_VALIDITY,
            subject_type="talent_application",
            subject_id=row.id,
            filed_by_client=row.sponsored_by_client,
        )
    row.card_number = existing.number
    # One card in force per person: the new card replaces the ones before it and takes over a suspension, or a
    # revocation imposed while this application was under way (a new card lifts no sanction). A card revoked before
    # the person applied was out of force already; this application was decided on its own.
    for earlier in await repository.earlier_cards(session, row):
        credential = await credentials_service.get_by_subject(
            session=session, subject_type="talent_application", subject_id=earlier.id
        )
        if credential is None or (
            credential.status == "revoked" and aware(credential.status_changed_at) <= aware(row.created_at)
        ):
            continue
        await credentials_service.renew(session=session, row=credential, by=existing)
    await _system_step(session, state, row, "issue_card")


STATUS_EVENTS = [EVENT(t.action) for t in TALENT_LIFECYCLE.transitions if t.target]


@REGISTRY.on(*STATUS_EVENTS, name="talent.notify_applicant")
async def notify_applicant(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """Every change of status reaches the applicant, in the inbox and by SMS, in their language."""
    await notifications.tell_applicant_of_status(
        session=session, identity=state.identity, event=event, template="talent_status_changed", find=_application
    )


@REGISTRY.on(COMMENT_ADDED.name, name="talent.notify_comment")
async def notify_comment(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """A comment reaches the other side: the applicant, or the officer handling the registration."""
    await notifications.tell_of_comment(session=session, identity=state.identity, event=event, find=_application)


@REGISTRY.on(EVIDENCE_RELEASED.name, name="talent.delete_released_evidence")
async def delete_released_evidence(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """Delete the files of a dropped claim or a deleted document from storage, but those a claim still names (a
    renewal copies the claims it renews with their files). Deleting a file already gone is no error, so a rerun is
    harmless."""
    keys = [str(key) for key in event.payload["object_keys"]]
    in_use = await repository.object_keys_in_use(session, keys)
    for key in keys:
        if key not in in_use:
            await state.cloud.cloud.storage.delete(key)


@REGISTRY.every(300, name="talent.rfi_timeouts")
async def rfi_timeouts(state: Any) -> None:
    """Requests for information not answered by their due date: the application lapses. One transaction each, so an
    applicant answering at that very moment fails only their own lapse (and wins)."""
    async with state.db.transaction(write=False) as session:
        overdue = [row.id for row in await repository.overdue_answers(session, utcnow())]

    async def lapse(session: AsyncSession, application_id: uuid.UUID) -> None:
        row = await repository.application(session, application_id)
        # Still owed? (Answered since, and maybe asked again, it is not this request's lapse.)
        if row is not None and row.answer_due_at is not None and aware(row.answer_due_at) < utcnow():
            await _system_step(session, state, row, "rfi_timeout", reason="The request was not answered in time.")

    await one_by_one(state.db, overdue, lapse)


@REGISTRY.every(300, name="talent.escalate")
async def escalate(state: Any) -> None:
    """Applications past 80% of their time go to the talent office's supervisors, once."""

    async def tell(session: AsyncSession, row: TalentApplication) -> None:
        await notifications.tell_supervisors_of_deadline(
            session=session, identity=state.identity, row=row, department=DEPARTMENT, template="talent_escalated"
        )

    await escalate_near_breach(
        state.db,
        model=TalentApplication,
        running=ACTIVE,
        history=TalentHistory,
        object_type="talent_application",
        event=TALENT_APPLICATION_ESCALATED.name,
        tell=tell,
    )


@REGISTRY.on(CALENDAR_CHANGED.name, name="talent.recount_deadlines")
async def recount_deadlines(session: AsyncSession, event: OutboxEvent, state: Any) -> None:
    """A year of the calendar changed: the running deadlines counted over it are counted again (a talent
    registration promises the statutory 20 working days), a page per transaction of its own, as for permits."""
    await calendar_service.recount_deadlines(
        database=state.db, model=TalentApplication, year=int(event.payload["year"])
    )
