"""Permit applications: drafts pinned to a service version, the lifecycle with its guards and effects, and reads.

Documents, comments and payment are in `attachments.py`; the worker's side (screening, issuing, refunds, the SLA
jobs, notifications) in `tasks.py`. Every transition writes the application's history, an audit entry and an outbox
event in the caller's transaction; `dry_run` runs the very same code and rolls the transaction back.
"""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel.ext.asyncio.session import AsyncSession

from auth import service as auth_service
from auth.guards import Principal
from auth.identity import Identity
from core import audit, sla
from core.crypto import FieldCipher, mask_name
from core.errors import Forbidden, ValidationFailed, field_error
from core.events import Event, outbox_row
from core.http import check_if_match
from core.models import aware, new_id, utcnow
from core.pagination import encode_cursor
from core.references import next_reference
from core.workflow import WORKER, Transition, take_step
from core.workflow import StepActor as Actor
from services.calendar import service as calendar_service
from services.catalogue import service as catalogue_service
from services.catalogue.service import PinnedService
from services.credentials import service as credentials_service
from services.permits import fees, forms, repository
from services.permits.exceptions import (
    ActionRefused,
    ApplicationNotFound,
    InvalidForm,
    NotEditable,
    RenewalUnderWay,
    ServiceNotApplicable,
)
from services.permits.models import InformationRequest, PermitApplication, PermitHistory
from services.permits.schemas import (
    ActionRequest,
    ApplicationCreate,
    ApplicationRead,
    ApplicationSummary,
    ApplicationUpdate,
    InformationRequestRead,
    RegisterEntry,
)
from services.permits.workflow import (
    APPLICANT,
    APPLICATION_CREATED,
    APPLICATION_LIFECYCLE,
    OFFICER,
    SUPERVISOR,
    SYSTEM,
    UNDECIDED,
)
from services.talent import service as talent_service

REFERENCE_PREFIX = "TI-P"
# The field of a talent benefit's form naming the card it is claimed under (filled in on the drafts a card opens).
CARD_NUMBER_FIELD = "talent_card_no"
# Steps of the review that belong to the officer holding the application (or their supervisor).
ASSIGNEE_STEPS = frozenset({"request_info", "pass", "propose_rejection"})


SYSTEM_ACTOR = Actor(subject=None, role=SYSTEM)


PAYMENT_PURPOSE = "permit.application:"


def purpose_of(application_id: uuid.UUID) -> str:
    """The cloud payment purpose of an application's fees."""
    return f"{PAYMENT_PURPOSE}{application_id}"


# -- who may do what --------------------------------------------------------------------------------------------------


def is_owner(principal: Principal, row: PermitApplication) -> bool:
    if principal.is_person:
        return "permits:apply" in principal.scopes and principal.account_id == row.applicant_id
    return "partner:submit" in principal.scopes and principal.client_id == row.submitted_by_client


def is_department_staff(principal: Principal, row: PermitApplication) -> bool:
    """Staff of the application's department who may handle it: never their own (separation of duties: an officer
    would otherwise review, and a supervisor approve, the permit they applied for)."""
    return (
        repository.is_staff(principal)
        and principal.department == row.department
        and principal.account_id != row.applicant_id
    )


def sees_personal(principal: Principal, row: PermitApplication) -> bool:
    """The applicant and the officer the application is assigned to see the personal answers whole; other officers,
    the supervisor and a partner acting for the applicant see them masked (the partner sent them: it needs them no
    more, and a partner is not the person)."""
    own = principal.is_person and is_owner(principal, row)
    return own or (is_department_staff(principal, row) and row.assignee_id == principal.account_id)


def may(principal: Principal, step: Transition, row: PermitApplication) -> bool:
    """The table's actor kind, roles and scopes, plus the department and, for review steps, the assignee."""
    if step.actor == APPLICANT:
        return is_owner(principal, row)
    if step.actor not in (OFFICER, SUPERVISOR) or not is_department_staff(principal, row):
        return False
    if not (step.scopes <= principal.scopes and principal.roles & step.roles):
        return False
    if step.action in ASSIGNEE_STEPS:
        return row.assignee_id == principal.account_id or principal.has_role("supervisor")
    return True


def allowed_actions(principal: Principal, row: PermitApplication) -> list[str]:
    actions = APPLICATION_LIFECYCLE.allowed(row.status, lambda step: may(principal, step, row))
    if is_owner(principal, row):
        if row.status == "draft":
            actions.append("edit")
        if row.status == "pending_payment" and row.fee_total and row.paid_at is None:
            actions.append("pay")
    return sorted(actions)


def actor_of(principal: Principal, row: PermitApplication) -> Actor:
    if is_owner(principal, row):
        return Actor(principal.subject, APPLICANT if principal.is_person else "partner")
    return Actor(principal.subject, SUPERVISOR if principal.has_role("supervisor") else OFFICER)


# -- drafts -----------------------------------------------------------------------------------------------------------


async def _applicant_profile(
    session: AsyncSession, identity: Identity, account_id: uuid.UUID, today: date, needs: frozenset[str]
) -> fees.ApplicantProfile:
    """What the fee waivers need to know of the applicant (only that is looked up)."""
    age = tier = None
    if "age" in needs:
        born = await auth_service.birth_date(session=session, identity=identity, account_id=account_id)
        if born:
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if "talent_tier" in needs:
        card = await talent_service.card_of(session=session, account_id=account_id)
        tier = card.tier if card else None
    return fees.ApplicantProfile(age=age, talent_tier=tier)


async def _fee_lines(
    session: AsyncSession, identity: Identity, applicant_id: uuid.UUID, form: dict[str, Any], content: dict[str, Any]
) -> list[dict[str, Any]]:
    costs = content.get("costs", [])
    profile = await _applicant_profile(session, identity, applicant_id, utcnow().date(), fees.asks_about(costs))
    return fees.fee_lines(costs, form, profile)


async def _price(session: AsyncSession, identity: Identity, row: PermitApplication, content: dict[str, Any]) -> None:
    row.fees = await _fee_lines(session, identity, row.applicant_id, full_form(identity.cipher, row), content)
    row.fee_total = fees.total(row.fees)


def _check_form(form: dict[str, Any], content: dict[str, Any], *, complete: bool) -> None:
    errors = forms.check(form, content.get("form", []), complete=complete)
    if errors:
        raise InvalidForm(
            "The form has errors: " + ", ".join(error.field for error in errors[:10]) + ".", errors=errors
        )


async def create_application(
    *, session: AsyncSession, identity: Identity, principal: Principal, data: ApplicationCreate
) -> PermitApplication:
    """A draft against the service's current published version, for the caller or (a partner) the citizen it serves."""
    applicant_id, client = await auth_service.applicant_for(
        session=session, principal=principal, on_behalf_of=data.on_behalf_of
    )
    service = await _applicable(session, data.service_code, applicant_id)
    renewed = await _renewable(session, data.renews, applicant_id, client, service.code) if data.renews else None
    # (a partner was shown the permit's personal answers masked: what it sends back masked keeps them)
    form = (
        _renewal_form(identity.cipher, renewed, service, data.form, masked=client is not None) if renewed else data.form
    )
    _check_form(form, service.content, complete=False)
    if renewed is not None and data.holder_name is None and _holder_in(data.form, service.content)[0] is None:
        # The renewed permit's holder, unless the request names another (or changes the business's name).
        holder, holder_public = renewed.holder_name, renewed.holder_public
    elif data.holder_name is not None:
        holder, holder_public = data.holder_name, False  # named outright, the holder may be a person
    else:
        holder, holder_public = _holder_in(form, service.content)
    if holder is None:
        if client is not None:  # a partner never learns the citizen's name from us
            raise ValidationFailed(
                "Say whom the permit is for.", errors=[field_error("holder_name", "required", code="missing")]
            )
        holder = (await auth_service.contact_of(session=session, identity=identity, account_id=applicant_id))[0]
    async with _only_renewal(session, data.renews):
        return await _draft(
            session,
            identity,
            service,
            applicant_id=applicant_id,
            client=client,
            holder=holder,
            holder_public=holder_public,
            form=form,
            actor=Actor(principal.subject, APPLICANT if principal.is_person else "partner"),
            renews=data.renews,
        )


# -- renewal: a draft that starts from a permit in force and replaces it when issued ---------------------------------

RENEWAL_UNDER_WAY = "{number} is being renewed by another application already; go on with that one."


async def _renewable(
    session: AsyncSession, number: str, applicant_id: uuid.UUID, client: str | None, code: str
) -> PermitApplication:
    """The application that issued the permit `number`, if a new draft of `applicant_id` (filed by partner `client`)
    for service `code` may renew it: it is theirs (and, for a partner, one it filed: a partner sees no other, and the
    draft would show it the holder and the form), of that service, in force (not suspended, revoked or expired), and
    no other application under way or issued renews it. A permit out of reach is refused in the very words of one
    that does not exist."""
    previous = await repository.issuing(session, number)
    reachable = (
        previous is not None
        and previous.applicant_id == applicant_id
        and (client is None or previous.submitted_by_client == client)
        and previous.service_code == code
    )
    credential = await credentials_service.get_by_number(session=session, number=number) if reachable else None
    if not _in_force(credential, utcnow()):
        raise ValidationFailed(
            f"{number} is not a permit in force of yours for {code}.",
            errors=[field_error("renews", "not a permit in force of the applicant's for this service")],
        )
    if await repository.renewing(session, number):
        raise RenewalUnderWay(RENEWAL_UNDER_WAY.format(number=number))
    return previous


def _in_force(credential: credentials_service.Credential | None, now: datetime) -> bool:
    """Whether a permit's credential is active (not suspended, revoked or expired)."""
    return credential is not None and credentials_service.public_status(credential, now) == "active"


async def _check_renewal(session: AsyncSession, row: PermitApplication, now: datetime, *, sending: bool) -> None:
    """A renewal is sent only while the permit it renews is in force, and approved only while that permit is neither
    suspended nor revoked (a suspension or a revocation is not got round by renewing) and has not expired, unless the
    renewal was sent in time (art. 50): then the department owed its decision before the expiry, and a late one
    still renews it. A permit that expired with no renewal sent in time is done with (art. 70)."""
    if row.renews is None:
        return
    renewed = await credentials_service.get_by_number(session=session, number=row.renews)
    if sending or renewed is None:
        in_force = _in_force(renewed, now)
    else:
        in_force = credentials_service.is_standing(renewed) and (
            aware(renewed.valid_until) > now or _sent_in_time(row, renewed)
        )
    if not in_force:
        raise ActionRefused(
            f"{row.renews}, which this application renews, is no longer in force: withdraw it and apply anew.",
            errors=[field_error("renews", "no longer in force", code="not_in_force")],
        )


# 行政许可法 art. 50: a holder applies to renew a permit 30 days before it expires (credentials_service.RENEWAL_LEAD),
# and the department decides before it expires; a renewal it has not decided by then is granted ("视为准予延续").
DEEMED_GRANTED = (
    "Granted by law: {number} expired before a decision on its renewal, which was sent at least 30 days before "
    "(Administrative Licensing Law art. 50)."
)


def _sent_in_time(row: PermitApplication, renewed: credentials_service.Credential) -> bool:
    return row.submitted_at is not None and aware(row.submitted_at) <= (
        aware(renewed.valid_until) - credentials_service.RENEWAL_LEAD
    )


async def _granted_by_law(
    session: AsyncSession,
    cipher: FieldCipher,
    row: PermitApplication,
    renewed: credentials_service.Credential | None,
    now: datetime,
) -> PermitApplication | None:
    """The application that issued the permit this renewal extends (`renewed`, its credential), if the law grants the
    renewal now; else None.

    The law grants an extension the department did not decide in its time: the renewal was sent in time; the permit
    expired neither suspended nor revoked; the department's time is up, the expiry plus the time the applicant held
    the file answering requests for information (so an answer sent after the expiry is still reviewed); the renewal
    is not waiting for the applicant (an open request, fees unpaid, or paid only after the department's time was up:
    it then decides); and it asks for the permit on its terms (the same holder, the same answers): a change is an
    application under art. 49, which the law grants by no default."""
    if row.renews is None or row.status not in UNDECIDED or row.paused_at is not None:
        return None
    if renewed is None or not credentials_service.is_standing(renewed) or not _sent_in_time(row, renewed):
        return None
    deadline = aware(renewed.valid_until) + timedelta(seconds=row.paused_seconds)
    if now < deadline:
        return None
    if row.status == "pending_payment" and row.fee_total and (row.paid_at is None or aware(row.paid_at) > deadline):
        return None
    issuing = await repository.issuing(session, row.renews)
    if issuing is None or row.holder_name != issuing.holder_name:
        return None
    service = await catalogue_service.pinned_version(session=session, service_id=row.service_id)
    # The permit's answers as the renewal's form version asks them (what a renewal starts from), blanks as absent.
    permit_terms = forms.answered(forms.carried(full_form(cipher, issuing), service.content.get("form", [])))
    return issuing if forms.answered(full_form(cipher, row)) == permit_terms else None


async def renewals_deemed_granted(*, session: AsyncSession, identity: Identity, now: datetime) -> list[uuid.UUID]:
    """The renewals the law grants now (see `_granted_by_law`), for the worker to take the step on."""
    rows = await repository.renewals_in(session, UNDECIDED)
    permits = await credentials_service.by_numbers(session=session, numbers=[row.renews for row in rows])
    expired = [row for row in rows if row.renews in permits and aware(permits[row.renews].valid_until) <= now]
    return [
        row.id
        for row in expired
        if await _granted_by_law(session, identity.cipher, row, permits[row.renews], now) is not None
    ]


async def promised_time(
    session: AsyncSession, row: PermitApplication, content: dict[str, Any]
) -> dict[str, Any] | None:
    """The processing time the application's clock counts: its service's, and for a renewal no later than the
    permit's expiry (art. 50: the department decides before it; the queue and the escalation to the supervisor see
    that deadline, not one the law would pass by granting the renewal)."""
    promised = content.get("processing_time")
    renewed = await credentials_service.get_by_number(session=session, number=row.renews) if row.renews else None
    if renewed is None:
        return promised
    return {**(promised or sla.DEFAULT_PROCESSING_TIME), "not_after": aware(renewed.valid_until)}


def _renewal_form(
    cipher: FieldCipher,
    renewed: PermitApplication,
    service: PinnedService,
    changes: dict[str, Any],
    *,
    masked: bool,
) -> dict[str, Any]:
    """The permit's answers that the service's form (its current version) still asks for and accepts, changed by
    `changes`: an old answer the form no longer takes is left to be given again, not reported as the applicant's
    error in a field they did not send. For a caller shown the personal answers `masked` (a partner), a personal
    answer sent back masked keeps the old one, as on an edit."""
    attributes = service.content.get("form", [])
    carried = forms.carried(full_form(cipher, renewed), attributes)
    if masked:
        personal = forms.personal(attributes)
        changes = forms.unmasked(changes, {code: value for code, value in carried.items() if code in personal})
    return {**carried, **changes}


# -- the form at rest: personal answers sealed ------------------------------------------------------------------------


def _form_context(row: PermitApplication) -> str:
    # Bound to the application: sealed answers copied onto another application do not decrypt.
    return f"permit_form:{row.id}"


def store_form(cipher: FieldCipher, row: PermitApplication, form: dict[str, Any], content: dict[str, Any]) -> None:
    """Put `form` (checked already, on its plain values) on the row: the answers its pinned form marks personal
    sealed, the rest plain."""
    plain, personal = forms.split(form, forms.personal(content.get("form", [])))
    row.form = plain
    row.form_sealed = cipher.encrypt(json.dumps(personal), context=_form_context(row)) if personal else None


def personal_answers(cipher: FieldCipher, row: PermitApplication) -> dict[str, Any]:
    """The personal answers unsealed (none when the form marks no field personal or none was given)."""
    if row.form_sealed is None:
        return {}
    return json.loads(cipher.decrypt(row.form_sealed, context=_form_context(row)))


def full_form(cipher: FieldCipher, row: PermitApplication) -> dict[str, Any]:
    """The whole form: the plain answers and the personal ones unsealed."""
    return {**row.form, **personal_answers(cipher, row)}


@asynccontextmanager
async def _only_renewal(session: AsyncSession, renews: str | None) -> AsyncIterator[None]:
    """Around a renewal's insert, a savepoint: when a renewal racing this one got in first, the database's
    one-renewal index refuses the row, and the transaction is still usable to say so (a plain draft needs none)."""
    if renews is None:
        yield
        return
    try:
        async with session.begin_nested():
            yield
    except IntegrityError:
        if await repository.renewing(session, renews):
            raise RenewalUnderWay(RENEWAL_UNDER_WAY.format(number=renews)) from None
        raise


async def open_benefit_drafts(
    *, session: AsyncSession, identity: Identity, applicant_id: uuid.UUID, tier: str, card_number: str
) -> list[PermitApplication]:
    """The drafts a new talent card opens: one per benefit its tier unlocks, the card number filled in (a benefit
    the person has ever applied for, a draft they withdrew included, is left alone). They then follow the permit
    lifecycle."""
    holder = (await auth_service.contact_of(session=session, identity=identity, account_id=applicant_id))[0]
    held = await repository.service_codes_of(session, applicant_id)
    drafts = []
    for service in await catalogue_service.benefits_for_tier(session=session, tier=tier):
        if service.code in held:
            continue
        drafts.append(
            await _draft(
                session,
                identity,
                service,
                applicant_id=applicant_id,
                client=None,
                holder=holder,
                holder_public=False,
                form={CARD_NUMBER_FIELD: card_number},
                actor=SYSTEM_ACTOR,
            )
        )
    return drafts


async def _draft(
    session: AsyncSession,
    identity: Identity,
    service: PinnedService,
    *,
    applicant_id: uuid.UUID,
    client: str | None,
    holder: str,
    holder_public: bool,
    form: dict[str, Any],
    actor: Actor,
    renews: str | None = None,
) -> PermitApplication:
    """A new draft, priced, with its first history row, audit entry and outbox event."""
    reference = await next_reference(session, REFERENCE_PREFIX)
    lines = await _fee_lines(session, identity, applicant_id, form, service.content)
    now = utcnow()
    # Every column given, so the object is the row exactly as written (no default filled in on either side).
    row = PermitApplication(
        id=new_id(),
        version=1,
        created_at=now,
        updated_at=now,
        reference=reference,
        service_id=service.id,
        service_code=service.code,
        service_version=service.version,
        department=service.department,
        applicant_id=applicant_id,
        submitted_by_client=client,
        holder_name=holder,
        holder_public=holder_public,
        status="draft",
        form={},
        form_sealed=None,
        fees=lines,
        fee_total=fees.total(lines),
        paid_at=None,
        refunded_at=None,
        assignee_id=None,
        rejection_proposed=False,
        conditions=[],
        submitted_at=None,
        decided_at=None,
        due_at=None,
        risk_at=None,
        paused_at=None,
        paused_seconds=0,
        paused_clock_seconds=0,
        escalated_at=None,
        permit_number=None,
        renews=renews,
    )
    store_form(identity.cipher, row, form, service.content)
    # Written with Core inserts, in one statement where the database allows, rather than through the unit of work
    # (which builds, tracks and flushes an ORM object per row, one statement each); the object then joins the session
    # as if loaded, so later changes to it are ordinary versioned updates.
    await repository.insert_draft(
        session,
        application={column.name: getattr(row, column.key) for column in _APPLICATION_COLUMNS},
        history={
            "id": new_id(),
            "application_id": row.id,
            "action": "create",
            "from_status": "new",
            "to_status": "draft",
            "actor_subject": actor.subject,
            "actor_role": actor.role,
            "reason": f"renews {renews}" if renews else None,
            "occurred_at": now,
        },
        event=outbox_row(
            Event(APPLICATION_CREATED.name, subject=f"permit_application:{row.id}", payload=_payload(row))
        ),
        audit_entry=audit.entry(
            action=APPLICATION_CREATED.name,
            object_type="permit_application",
            object_id=row.id,
            detail={
                "reference": row.reference,
                "service": row.service_code,
                "on_behalf_by": client,
                **({"renews": renews} if renews else {}),
            },
            actor=WORKER if actor.role == SYSTEM else None,
        ),
    )
    make_transient_to_detached(row)
    session.add(row)
    return row


_APPLICATION_COLUMNS = tuple(PermitApplication.__table__.columns)


# Form fields that name whom a permit is for, in order of preference.
HOLDER_FIELDS = ("proposed_name", "operator_name", "applicant_name")
# Those that always name an organisation (a business being registered, a licensed operator). An applicant is one only
# where only businesses apply: a road-occupation permit's applicant may be a citizen, and a person's name is personal
# data that never reaches the public register unmasked.
ORGANISATION_FIELDS = ("proposed_name", "operator_name")


def public_holder(name: str, public: bool) -> str:
    """A holder's name as anyone may see it (the register, the signed permit anyone may verify) and as a list of
    many shows it (the officers' queue: opening one, logged in the citizen's access log, shows it whole): an
    organisation's whole, a person's masked."""
    return name if public else mask_name(name)


def _holder_in(form: dict[str, Any], content: dict[str, Any]) -> tuple[str | None, bool]:
    """The holder the form names, and whether that name is an organisation's (public), or (None, False)."""
    for name in HOLDER_FIELDS:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            public = name in ORGANISATION_FIELDS or "citizen" not in content.get("audience", ("citizen",))
            return value.strip()[:200], public
    return None, False


async def _applicable(session: AsyncSession, code: str, applicant_id: uuid.UUID) -> PinnedService:
    """The service's current published version, if it takes applications from this applicant: a permit from anyone,
    a talent benefit from a holder of a talent card of a tier it is for."""
    service = await catalogue_service.open_for_applications(
        session=session, code=code, kinds=("permit", "talent_benefit")
    )
    if service is None:
        raise ServiceNotApplicable(f"{code} is not a published service open for applications.")
    await _check_talent_tier(session, service, applicant_id)
    return service


async def _check_talent_tier(
    session: AsyncSession, service: PinnedService, applicant_id: uuid.UUID
) -> talent_service.TalentCard | None:
    """A talent benefit is for holders of a talent card in force, of a tier it is for (checked when the draft is
    made and again when it is sent: a card can be suspended or revoked in between); that card (None for a permit)."""
    if service.kind != "talent_benefit":
        return None
    tiers = catalogue_service.talent_tiers(service)
    card = await talent_service.card_of(session=session, account_id=applicant_id)
    if card is None or card.tier not in tiers:
        raise ServiceNotApplicable(
            f"{service.code} is a benefit for holders of a talent card of tier {', '.join(tiers)}.",
            errors=[field_error("service_code", "needs a talent card of tier " + "/".join(tiers), code="tier")],
        )
    return card


def _check_card_number(form: dict[str, Any], card: talent_service.TalentCard | None) -> None:
    """A benefit's form names the card it is claimed under: it must be the applicant's own card in force (any number
    of the right shape passes the form's pattern; a benefit is not claimed under someone else's or a replaced card)."""
    if card is None or CARD_NUMBER_FIELD not in form or form[CARD_NUMBER_FIELD] == card.number:
        return
    raise InvalidForm(
        f"{form[CARD_NUMBER_FIELD]} is not your talent card in force ({card.number}).",
        errors=[field_error(f"form.{CARD_NUMBER_FIELD}", "not the applicant's talent card in force", code="not_yours")],
    )


async def update_draft(
    *,
    session: AsyncSession,
    identity: Identity,
    principal: Principal,
    application_id: uuid.UUID,
    data: ApplicationUpdate,
    if_match: str | None,
) -> PermitApplication:
    """The applicant changes the form or holder name of a draft (the fees follow the form)."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    if not is_owner(principal, row):
        raise Forbidden("Only the applicant edits an application.")
    if row.status != "draft":
        raise NotEditable(f"The application is {row.status}; only drafts change.")
    check_if_match(if_match, row.version)
    content = (await catalogue_service.pinned_version(session=session, service_id=row.service_id)).content
    stored = full_form(identity.cipher, row)
    from_form = _holder_in(stored, content)[0] == row.holder_name
    form = stored
    if data.form is not None:
        # A partner is shown the personal answers masked: one it sends back as shown keeps the answer it stands for.
        form = (
            data.form
            if sees_personal(principal, row)
            else forms.unmasked(data.form, personal_answers(identity.cipher, row))
        )
        _check_form(form, content, complete=False)
        store_form(identity.cipher, row, form, content)
    if data.holder_name is not None:
        # Named outright, the holder may be a person: masked on the public register, as when a draft is created.
        row.holder_name, row.holder_public = data.holder_name, False
    elif data.form is not None and from_form:
        named, public = _holder_in(form, content)
        if named is not None:
            row.holder_name, row.holder_public = named, public  # the holder the form names follows it
    await _price(session, identity, row, content)
    session.add(row)
    await session.flush()
    audit.record(
        session,
        action="permits.application.edited",
        object_type="permit_application",
        object_id=row.id,
        detail={"fields": sorted(data.model_fields_set)},
    )
    return row


# -- reads ------------------------------------------------------------------------------------------------------------


async def visible(*, session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> PermitApplication:
    """The application if the caller may see it; 404 otherwise, whether or not it exists."""
    row = await repository.application(session, application_id, within=repository.reach(principal))
    if row is None:
        raise ApplicationNotFound()
    return row


async def read(
    *,
    session: AsyncSession,
    identity: Identity,
    principal: Principal,
    row: PermitApplication,
    log_access: bool = True,
    full: bool | None = None,
) -> ApplicationRead:
    """The full representation for this caller, the personal answers masked unless they are the applicant or the
    officer the application is assigned to; anyone's read but the applicant's (staff, a partner) lands in the
    applicant's access log."""
    full = sees_personal(principal, row) if full is None else full
    personal = personal_answers(identity.cipher, row)
    service = await catalogue_service.pinned_version(session=session, service_id=row.service_id)
    request = await repository.open_request(session, row.id) if row.status == "awaiting_applicant" else None
    if log_access:
        await log_read(session=session, principal=principal, row=row)
    return ApplicationRead(
        **{name: getattr(row, name) for name in _READ_FIELDS},
        form={**row.form, **(personal if full else forms.masked(personal))},
        form_masked=bool(personal) and not full,
        service={"code": row.service_code, "version": row.service_version, "title": _title(service)},
        sla=sla.view(row, utcnow()),
        information_request=InformationRequestRead.model_validate(request, from_attributes=True) if request else None,
        allowed_actions=[
            action
            for action in allowed_actions(principal, row)
            if not (action == "answer" and request is not None and _lapsed(request, utcnow()))
        ],
    )


_READ_FIELDS = (
    "id",
    "reference",
    "department",
    "status",
    "version",
    "holder_name",
    "fees",
    "fee_total",
    "paid_at",
    "refunded_at",
    "assignee_id",
    "rejection_proposed",
    "submitted_by_client",
    "submitted_at",
    "decided_at",
    "permit_number",
    "renews",
    "created_at",
    "updated_at",
)


def _title(service: PinnedService) -> dict[str, str]:
    return {"zh-CN": service.title_zh, "en": service.title_en}


async def listing(
    *, session: AsyncSession, principal: Principal, limit: int, cursor: str | None, **filters: Any
) -> tuple[list[ApplicationSummary], str | None]:
    """The caller's own applications (newest first) or, for staff, their department's queue (oldest deadline first)."""
    staff = repository.is_staff(principal)
    now = utcnow()
    rows = await repository.listing(
        session,
        within=repository.queue(principal) if staff else repository.reach(principal),
        staff=staff,
        now=now,
        limit=limit,
        cursor=cursor,
        **filters,
    )
    items = [_summary(row, staff=staff, now=now) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last["due_at"], last["id"]] if staff else [last["id"]])
    return items, next_cursor


def _summary(row: Any, *, staff: bool, now: datetime) -> ApplicationSummary:
    values = {key: row[key] for key in ApplicationSummary.model_fields if key in row}
    if staff:  # a list of many shows staff a person's name masked; opening one (logged) shows it whole
        values["holder_name"] = public_holder(row["holder_name"], row["holder_public"])
    return ApplicationSummary(**values, risk=_risk(row, now))


def _risk(row: Any, now: datetime) -> str:
    return sla.risk(_Clock(**{key: row[key] for key in _Clock.__dataclass_fields__}), now)


@dataclass
class _Clock:
    status: str
    due_at: datetime | None
    risk_at: datetime | None
    paused_at: datetime | None


class Shown(NamedTuple):
    """What an access-log entry names of an application (kept past a dry run's rollback, which expires the row)."""

    applicant_id: uuid.UUID
    reference: str
    id: uuid.UUID


async def log_read(
    *, session: AsyncSession, principal: Principal, row: PermitApplication | Shown, part: str = ""
) -> None:
    """A read of the application or of what hangs off it (its history, comments, documents, payment: they carry the
    applicant's answers and words) lands in the applicant's access log; the applicant's own reads are not logged
    (log_citizen_read skips them), a partner's are."""
    await auth_service.log_citizen_read(
        session=session,
        reader=principal,
        citizen_id=row.applicant_id,
        purpose=f"application {row.reference}" + (f": {part}" if part else ""),
        object_type="permit_application",
        object_id=row.id,
    )


async def history(*, session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> list[PermitHistory]:
    """Every step taken on the application; anyone but the applicant reading it lands in the access log."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    await log_read(session=session, principal=principal, row=row, part="history")
    return await repository.history(session, row.id)


async def register(
    *, session: AsyncSession, number: str | None, holder: str | None, limit: int, cursor: str | None
) -> tuple[list[RegisterEntry], str | None]:
    """The public register of issued permits: minimal fields, the credential's live status; a person's name masked."""
    if not (number or holder):
        raise ValidationFailed(
            "Look a permit up by its number or its holder's name.",
            errors=[field_error("number", "number or holder is required", code="missing", location="query")],
        )
    rows = await repository.issued(session, number=number, holder=holder, limit=limit, cursor=cursor)
    statuses = await credentials_service.public_statuses(
        session=session, numbers=[row.permit_number for row in rows[:limit]]
    )
    titles = {}
    items = []
    for row in rows[:limit]:
        if row.service_id not in titles:
            titles[row.service_id] = _title(
                await catalogue_service.pinned_version(session=session, service_id=row.service_id)
            )
        credential = statuses.get(row.permit_number)
        items.append(
            RegisterEntry(
                permit_number=row.permit_number,
                holder_name=public_holder(row.holder_name, row.holder_public),
                service_code=row.service_code,
                service_title=titles[row.service_id],
                department=row.department,
                status=credential.status if credential else "unknown",
                replaced_by=credential.replaced_by if credential else None,
                issued_at=row.decided_at,
                valid_until=credential.valid_until if credential else None,
            )
        )
    return items, encode_cursor([rows[limit - 1].permit_number]) if len(rows) > limit else None


# -- the lifecycle ----------------------------------------------------------------------------------------------------


async def transition(
    *,
    session: AsyncSession,
    identity: Identity,
    principal: Principal,
    application_id: uuid.UUID,
    action: str,
    data: ActionRequest,
    if_match: str | None,
) -> PermitApplication:
    """Take `action` as the table allows: who, from which state, with which guard; then its effects."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    step = APPLICATION_LIFECYCLE.find(row.status, action)
    if step.actor == SYSTEM or not may(principal, step, row):
        raise Forbidden(_who_may(step))
    check_if_match(if_match, row.version)
    return await apply(
        session=session, identity=identity, row=row, step=step, data=data, actor=actor_of(principal, row)
    )


async def act(
    *,
    session: AsyncSession,
    identity: Identity,
    principal: Principal,
    application_id: uuid.UUID,
    action: str,
    data: ActionRequest,
    if_match: str | None,
    dry_run: bool,
) -> ApplicationRead:
    """A transition and the application as it then is; a dry run is the same transition, rolled back."""
    before = await visible(session=session, principal=principal, application_id=application_id)
    saw = sees_personal(principal, before)  # read now: the row object is the one the step changes
    row = await transition(
        session=session,
        identity=identity,
        principal=principal,
        application_id=application_id,
        action=action,
        data=data,
        if_match=if_match,
    )
    # A preview shows no more than the caller saw before the step (a dry-run claim must not unmask the answers).
    full = sees_personal(principal, row) and (saw or not dry_run)
    view = await read(session=session, identity=identity, principal=principal, row=row, log_access=False, full=full)
    shown = Shown(row.applicant_id, row.reference, row.id)
    if dry_run:
        await session.rollback()  # every rule and effect ran; none of it is kept
    await log_read(session=session, principal=principal, row=shown)  # the answer showed it: logged, a preview too
    return view


def _who_may(step: Transition) -> str:
    return {
        APPLICANT: f"Only the applicant may {step.action} an application.",
        OFFICER: f"Only the officer handling the application (or the supervisor) may {step.action} it.",
        SUPERVISOR: f"Only a supervisor of the department may {step.action} an application.",
        SYSTEM: f"{step.action} is done by the system, not through the API.",
    }[step.actor]


async def apply(
    *,
    session: AsyncSession,
    identity: Identity,
    row: PermitApplication,
    step: Transition,
    data: ActionRequest,
    actor: Actor,
    now: datetime | None = None,
) -> PermitApplication:
    """Guards, effects, then the new state, its history row, audit entry and outbox event, all in this transaction."""
    effect = _EFFECTS.get(step.action)
    now = now or utcnow()
    await take_step(
        session,
        workflow=APPLICATION_LIFECYCLE,
        step=step,
        row=row,
        history=PermitHistory,
        object_type="permit_application",
        actor=actor,
        reason=data.reason,
        now=now,
        effect=(lambda: effect(session, identity, row, data, actor, now)) if effect else None,
        payload=_payload,
    )
    return row


def _payload(row: PermitApplication) -> dict[str, Any]:
    """What every event of an application carries; partner webhooks reach only the partner that filed it, while the
    citizen it acts for (`on_behalf_of`, whom it named) keeps its mandate."""
    return {
        "application_id": row.id,
        "reference": row.reference,
        "service": row.service_code,
        "department": row.department,
        "status": row.status,
        "partner_client_id": row.submitted_by_client,
        "on_behalf_of": row.applicant_id if row.submitted_by_client else None,
    }


# -- guards and effects, one function per action ------------------------------------------------------------------


async def _submit(session, identity, row, data, actor, now) -> None:
    service = await catalogue_service.pinned_version(session=session, service_id=row.service_id)
    card = await _check_talent_tier(session, service, row.applicant_id)
    await _check_renewal(session, row, now, sending=True)
    form = full_form(identity.cipher, row)
    _check_form(form, service.content, complete=True)
    _check_card_number(form, card)
    missing = await _missing_documents(session, row, service.content, accepted=False)
    if missing:
        raise ActionRefused(
            "Upload every required document first: " + ", ".join(missing) + ".",
            errors=[
                field_error(f"documents.{code}", "required document not uploaded", code="missing") for code in missing
            ],
        )
    await _price(session, identity, row, service.content)  # the fees are fixed from here on
    row.submitted_at = now
    await calendar_service.start_clock(
        session=session, row=row, now=now, processing_time=await promised_time(session, row, service.content)
    )


async def _claim(session, identity, row, data, actor, now) -> None:
    row.assignee_id = uuid.UUID(actor.subject)


async def _reassign(session, identity, row, data, actor, now) -> None:
    if data.assignee_id is None:
        raise ValidationFailed("Say who takes over.", errors=[field_error("assignee_id", "required", code="missing")])
    staff = await auth_service.staff_of(session=session, department=row.department, roles=("officer", "supervisor"))
    # Not the applicant: staff never handle their own application (it would sit with someone barred from acting).
    if data.assignee_id not in staff or data.assignee_id == row.applicant_id:
        raise ValidationFailed(
            "The assignee must be an officer of the department who is not the applicant.",
            errors=[field_error("assignee_id", "not an officer of this department who may handle this application")],
        )
    row.assignee_id = data.assignee_id


async def _request_info(session, identity, row, data, actor, now) -> None:
    service = await catalogue_service.pinned_version(session=session, service_id=row.service_id)
    checklist = {item["code"] for item in service.content.get("required_documents", [])}
    unknown = sorted(set(data.documents) - checklist)
    if unknown:
        raise ValidationFailed(
            "Not documents of this service: " + ", ".join(unknown) + ".",
            errors=[field_error("documents", "unknown checklist codes: " + ", ".join(unknown))],
        )
    session.add(
        InformationRequest(
            application_id=row.id,
            question=data.reason or "",
            documents=sorted(set(data.documents)),
            requested_by=actor.subject or "",
            requested_at=now,
            due_at=await calendar_service.answer_by(session=session, now=now, days=data.due_in_days),
        )
    )
    sla.pause(row, now)


async def _answer(session, identity, row, data, actor, now) -> None:
    request = await repository.open_request(session, row.id)
    if request is not None and _lapsed(request, now):
        raise ActionRefused(
            f"The request for information was due by {aware(request.due_at):%Y-%m-%d %H:%M} UTC and has lapsed.",
            errors=[field_error("information_request.due_at", "passed", code="lapsed")],
        )
    if request is not None:
        latest = {doc.code: doc for doc in await repository.documents(session, row.id)}
        owed = [
            code
            for code in request.documents
            if code not in latest
            or latest[code].uploaded_at is None
            or latest[code].status != "uploaded"
            or aware(latest[code].uploaded_at) < aware(request.requested_at)
        ]
        if owed:
            raise ActionRefused(
                "Upload the documents asked for first: " + ", ".join(owed) + ".",
                errors=[
                    field_error(f"documents.{code}", "asked for and not uploaded since", code="missing")
                    for code in owed
                ],
            )
        request.status, request.answer, request.answered_at = "answered", data.reason, now
        session.add(request)
    await _resume(session, row, now)


def _lapsed(request: InformationRequest, now: datetime) -> bool:
    """Past its due date a request takes no answer, whether or not the lapse job has closed the application yet."""
    return aware(request.due_at) <= now


async def _rfi_timeout(session, identity, row, data, actor, now) -> None:
    await _close_request(session, row, "timed_out")
    await _resume(session, row, now)  # the clock ends with the application; its paused time is counted as paused


async def _close_request(session: AsyncSession, row: PermitApplication, status: str) -> None:
    """An application that ends while information is owed closes the request (the lapse job must not see it)."""
    request = await repository.open_request(session, row.id)
    if request is not None:
        request.status = status
        session.add(request)


async def _pass(session, identity, row, data, actor, now) -> None:
    service = await catalogue_service.pinned_version(session=session, service_id=row.service_id)
    missing = await _missing_documents(session, row, service.content, accepted=True)
    if missing:
        raise ActionRefused(
            "Every required document must be accepted first: " + ", ".join(missing) + ".",
            errors=[field_error(f"documents.{code}", "not accepted", code="not_accepted") for code in missing],
        )
    row.rejection_proposed = False


async def _propose_rejection(session, identity, row, data, actor, now) -> None:
    row.rejection_proposed = True


async def _approve(session, identity, row, data, actor, now) -> None:
    if row.fee_total and row.paid_at is None:
        raise ActionRefused("The fees are not paid yet.")
    await _check_renewal(session, row, now, sending=False)
    row.conditions = list(data.conditions)
    await _decided(session, row, now)


async def _deem_granted(session, identity, row, data, actor, now) -> None:
    renewed = await credentials_service.get_by_number(session=session, number=row.renews) if row.renews else None
    issuing = await _granted_by_law(session, identity.cipher, row, renewed, now)
    if issuing is None:
        raise ActionRefused("The law grants only a renewal sent in time, on the permit's terms, left undecided.")
    row.conditions = list(issuing.conditions)  # the permit extended as it was, conditions and all
    await _decided(session, row, now)


async def _reject(session, identity, row, data, actor, now) -> None:
    await _close_request(session, row, "cancelled")
    await _decided(session, row, now)


async def _withdraw(session, identity, row, data, actor, now) -> None:
    await _close_request(session, row, "cancelled")
    await _resume(session, row, now)


async def _decided(session: AsyncSession, row: PermitApplication, now: datetime) -> None:
    await _resume(session, row, now)
    row.decided_at = now


async def _resume(session: AsyncSession, row: PermitApplication, now: datetime) -> None:
    """The clock runs again (or ends) after a pause, counted as it was started: the service's promised time."""
    if row.paused_at is None:
        return
    service = await catalogue_service.pinned_version(session=session, service_id=row.service_id)
    processing_time = await promised_time(session, row, service.content)
    await calendar_service.resume_clock(session=session, row=row, now=now, processing_time=processing_time)


async def _missing_documents(
    session: AsyncSession, row: PermitApplication, content: dict[str, Any], *, accepted: bool
) -> list[str]:
    """Required checklist lines whose latest document is not uploaded (or, with `accepted`, not accepted)."""
    latest = {doc.code: doc for doc in await repository.documents(session, row.id)}
    good = {"accepted"} if accepted else {"uploaded", "accepted"}
    return [
        item["code"]
        for item in content.get("required_documents", [])
        if item.get("required", True) and (item["code"] not in latest or latest[item["code"]].status not in good)
    ]


_EFFECTS = {
    "submit": _submit,
    "claim": _claim,
    "reassign": _reassign,
    "request_info": _request_info,
    "answer": _answer,
    "rfi_timeout": _rfi_timeout,
    "pass": _pass,
    "propose_rejection": _propose_rejection,
    "approve": _approve,
    "deem_granted": _deem_granted,
    "reject": _reject,
    "withdraw": _withdraw,
}
