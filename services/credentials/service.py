"""Credentials: the permits and talent domains issue them; anyone can verify one; supervisors suspend and revoke.

A credential is a compact JWS (ES256, `typ: ti-credential+jwt`) signed with the credential key of the key ring, whose
keys stay in the JWKS for as long as anything they signed may be checked. The token carries what is printed on the
document and nothing else: no ID number, no phone number, no account id. Its status is not in the token: verification
checks the signature, then reads the status from the register, so a revoked credential verifies as revoked.
Every issue and every status change is audited and announced in the outbox in the caller's transaction.
"""

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from auth import service as auth_service
from auth.guards import Principal
from auth.identity import Identity
from core import audit
from core.context import Actor
from core.errors import Forbidden, ValidationFailed, field_error
from core.events import Event, emit
from core.http import check_if_match
from core.http.language import Bilingual
from core.models import aware, new_id, utcnow
from core.settings import Settings
from core.sla import china_date
from core.workflow import Transition
from services.credentials import repository, signing
from services.credentials.exceptions import (
    AlreadyIssued,
    CredentialNotFound,
    CredentialNumberTaken,
    InvalidCredential,
)
from services.credentials.models import Credential
from services.credentials.schemas import CredentialRead, CredentialText, VerificationResult
from services.credentials.workflow import HOLDER_ALL_KINDS, HOLDER_SCOPE, ISSUED, KINDS, LIFECYCLES, STAFF_SCOPE
from services.notifications import service as notifications_service

# A permit's renewal is applied for 30 days before it expires (行政许可法 art. 50; one sent later is not granted by law
# when the department is late), so holders are told 60 days before: a month to apply in time.
RENEWAL_LEAD = timedelta(days=30)
EXPIRY_NOTICE = timedelta(days=60)
_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,63}$")
_SUBJECT_TYPE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_DEPARTMENT = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


# -- status and representation ---------------------------------------------------------------------------------------


def is_standing(row: Credential) -> bool:
    """Neither suspended nor revoked (it may have expired)."""
    return row.status == "active"


def public_status(row: Credential, now: datetime) -> str:
    """active | suspended | revoked | expired: revocation outranks expiry, expiry outranks a suspension."""
    return _public_status(row.status, row.valid_until, now)


def _public_status(status: str, valid_until: datetime, now: datetime) -> str:
    if status == "revoked":
        return "revoked"
    if aware(valid_until) <= now:
        return "expired"
    return status


def may(principal: Principal | None, transition: Transition, row: Credential) -> bool:
    """Whether `principal` may take `transition` on `row`: the table's scope and role, in the issuing department."""
    return (
        principal is not None
        and principal.department == row.department
        and transition.scopes <= principal.scopes
        and (not transition.roles or bool(principal.roles & transition.roles))
    )


def allowed_actions(principal: Principal | None, row: Credential, *, state: str | None = None) -> list[str]:
    """What the caller may do to `row` now (or once it is in `state`)."""
    return LIFECYCLES[row.kind].allowed(state or row.status, lambda t: may(principal, t, row))


def represent(
    row: Credential, *, principal: Principal | None, settings: Settings, state: str | None = None
) -> CredentialRead:
    """The holder's and staff's view; `state` stands in for the stored status (a dry run shows the outcome)."""
    state = state or row.status
    return CredentialRead(
        id=row.id,
        number=row.number,
        kind=row.kind,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        holder_name=row.holder_name,
        department=row.department,
        title=row.title,
        conditions=row.conditions,
        valid_from=aware(row.valid_from),
        valid_until=aware(row.valid_until),
        status=_public_status(state, row.valid_until, utcnow()),
        status_reason=row.status_reason,
        status_changed_at=row.status_changed_at,
        replaced_by=row.replaced_by,
        token=row.token,
        verify_url=signing.verify_url(settings, row.token),
        qr_url=f"/api/v1/credentials/{row.id}/qr.png",
        allowed_actions=allowed_actions(principal, row, state=state),
        version=row.version,
        created_at=row.created_at,
    )


def qr_png(*, settings: Settings, row: Credential) -> bytes:
    """The credential's QR code (PNG): its verification link."""
    return signing.qr_png(signing.verify_url(settings, row.token))


# -- issuing --------------------------------------------------------------------------------------------------------


async def issue(
    *,
    session: AsyncSession,
    identity: Identity,
    kind: str,
    number: str,
    holder_account_id: uuid.UUID,
    holder_name: str,
    department: str,
    title: dict[str, str],
    conditions: list[dict[str, str]],
    valid_from: datetime,
    valid_until: datetime,
    subject_type: str,
    subject_id: uuid.UUID,
    filed_by_client: str | None = None,
) -> Credential:
    """Sign and register a credential for its holder (the permits and talent domains call this when they issue);
    `filed_by_client`, the partner system that filed the application for the holder, if one did."""
    title_text, condition_texts = _check_issue(
        kind=kind,
        number=number,
        holder_name=holder_name,
        department=department,
        title=title,
        conditions=conditions,
        valid_from=valid_from,
        valid_until=valid_until,
        subject_type=subject_type,
    )
    if await repository.by_number(session, number) is not None:
        raise CredentialNumberTaken(f"The number {number} is already used.")
    now = utcnow()
    for existing in await repository.by_subject(session, subject_type, subject_id):
        if public_status(existing, now) not in ("revoked", "expired"):
            raise AlreadyIssued(f"{subject_type} {subject_id} already has credential {existing.number}.")
    # Whole seconds: the token's nbf / exp and the register then say exactly the same.
    valid_from, valid_until = aware(valid_from).replace(microsecond=0), aware(valid_until).replace(microsecond=0)
    key = await signing.signing_key(session, identity)
    credential_id = new_id()
    claims: dict[str, Any] = {
        "iss": identity.settings.issuer,
        "jti": str(credential_id),
        "sub": number,
        "iat": int(time.time()),
        "nbf": int(valid_from.timestamp()),
        "exp": int(valid_until.timestamp()),
        "kind": kind,
        "title": title_text,
        "department": department,
        "holder_name": holder_name,
        "conditions": condition_texts,
    }
    token = signing.sign(key, claims)
    if not signing.fits_a_qr_code(signing.verify_url(identity.settings, token)):
        raise InvalidCredential(
            "The credential is too long to fit in a QR code; shorten its conditions.",
            errors=[field_error("conditions", "too long for a QR code", code="too_long")],
        )
    row = Credential(
        id=credential_id,
        number=number,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        holder_account_id=holder_account_id,
        holder_name=holder_name,
        department=department,
        title=title_text,
        conditions=condition_texts,
        valid_from=valid_from,
        valid_until=valid_until,
        status="active",
        status_changed_at=now,
        kid=key.kid,
        token=token,
        filed_by_client=filed_by_client,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        action=ISSUED.name,
        object_type="credential",
        object_id=row.id,
        detail={"number": number, "kind": kind, "subject": f"{subject_type}:{subject_id}", "kid": key.kid},
    )
    emit(session, Event(ISSUED.name, subject=f"credential:{row.id}", payload=_event_payload(row)))
    return row


def _check_issue(
    *,
    kind: str,
    number: str,
    holder_name: str,
    department: str,
    title: dict[str, str],
    conditions: list[dict[str, str]],
    valid_from: datetime,
    valid_until: datetime,
    subject_type: str,
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The caller's values, checked; the bilingual texts normalized to {"zh-CN", "en"}."""
    errors = []
    if kind not in KINDS:
        errors.append(field_error("kind", f"one of {', '.join(KINDS)}"))
    if not _NUMBER.match(number):
        errors.append(field_error("number", "upper-case letters, digits and hyphens, e.g. TI-PERMIT-2026-000123"))
    if not 1 <= len(holder_name.strip()) <= 200:
        errors.append(field_error("holder_name", "1-200 characters"))
    if not _DEPARTMENT.match(department):
        errors.append(field_error("department", "a department code"))
    if not _SUBJECT_TYPE.match(subject_type):
        errors.append(field_error("subject_type", "lower-case snake_case, e.g. permit_application"))
    if valid_from.tzinfo is None or valid_until.tzinfo is None:
        errors.append(field_error("valid_from", "give timezone-aware datetimes"))
    elif valid_until <= valid_from:
        errors.append(field_error("valid_until", "must be after valid_from"))
    if len(conditions) > 20:
        errors.append(field_error("conditions", "at most 20"))
    texts: list[dict[str, str]] = []
    for name, value in [("title", title), *((f"conditions.{n}", c) for n, c in enumerate(conditions))]:
        try:
            texts.append(CredentialText.model_validate(value).model_dump(by_alias=True))
        except ValidationError:
            errors.append(field_error(name, 'both "zh-CN" and "en", 1-500 characters each'))
    if errors:
        raise InvalidCredential("The credential cannot be issued as given.", errors=errors)
    return texts[0], texts[1:]


def _event_payload(row: Credential) -> dict[str, Any]:
    """What partners may see: no holder, no reason (free text may name people). Only the partner that filed the
    application receives it, while the holder's mandate stands (as the application's own events); nobody else."""
    return {
        "number": row.number,
        "kind": row.kind,
        "department": row.department,
        "status": row.status,
        "valid_until": aware(row.valid_until),
        "replaced_by": row.replaced_by,
        "partner_client_id": row.filed_by_client,
        "on_behalf_of": row.holder_account_id if row.filed_by_client else None,
    }


# -- reading --------------------------------------------------------------------------------------------------------


async def get_by_subject(*, session: AsyncSession, subject_type: str, subject_id: uuid.UUID) -> Credential | None:
    """The newest credential issued for a subject (a permit application, a talent registration), if any."""
    rows = await repository.by_subject(session, subject_type, subject_id)
    return rows[0] if rows else None


async def get_by_number(*, session: AsyncSession, number: str) -> Credential | None:
    """The credential with this number (a permit's number, a talent card's), if any."""
    return await repository.by_number(session, number)


async def by_numbers(*, session: AsyncSession, numbers: list[str]) -> dict[str, Credential]:
    """The credentials with these numbers, by number, in one query."""
    return {row.number: row for row in await repository.by_numbers(session, numbers)}


def held_kinds(principal: Principal) -> list[str]:
    """The kinds of their own credentials the caller's token shows them (HOLDER_SCOPE)."""
    if HOLDER_ALL_KINDS in principal.scopes:
        return list(KINDS)
    return [kind for kind, scope in HOLDER_SCOPE.items() if scope in principal.scopes]


async def get(*, session: AsyncSession, principal: Principal, credential_id: uuid.UUID) -> Credential:
    """A credential the caller holds (of a kind their token shows them), or one of their department's as staff;
    anything else is a 404."""
    row = await repository.visible(
        session,
        credential_id,
        account_id=principal.account_id,
        held_kinds=held_kinds(principal),
        department=principal.department,
        kinds=[kind for kind, scope in STAFF_SCOPE.items() if scope in principal.scopes],
    )
    if row is None:
        raise CredentialNotFound()
    return row


async def read(*, session: AsyncSession, principal: Principal, credential_id: uuid.UUID) -> Credential:
    """`get`, and a staff member's read lands in the holder's access log (who holds what, its conditions, why it was
    suspended); the holder's own does not."""
    row = await get(session=session, principal=principal, credential_id=credential_id)
    await auth_service.log_citizen_read(
        session=session,
        reader=principal,
        citizen_id=row.holder_account_id,
        purpose=f"credential {row.number}",
        object_type="credential",
        object_id=row.id,
    )
    return row


async def list_mine(
    *, session: AsyncSession, principal: Principal, limit: int, before: uuid.UUID | None
) -> tuple[list[Credential], uuid.UUID | None]:
    """A page of the holder's own credentials of the kinds their token shows them, newest first, and the id to
    continue before."""
    rows = await repository.of_holder(
        session, principal.account_id, kinds=held_kinds(principal), limit=limit, before=before
    )
    items = rows[:limit]
    return items, items[-1].id if len(rows) > limit else None


# -- the lifecycle --------------------------------------------------------------------------------------------------


async def _prepare(
    *,
    session: AsyncSession,
    principal: Principal,
    credential_id: uuid.UUID,
    action: str,
    reason: str | None,
    if_match: str | None,
) -> tuple[Credential, Transition, str | None]:
    row = await get(session=session, principal=principal, credential_id=credential_id)
    step = LIFECYCLES[row.kind].find(row.status, action)
    if not may(principal, step, row):
        raise Forbidden(f"Only a supervisor of the issuing department may {action} a credential.")
    check_if_match(if_match, row.version)
    reason = reason.strip() if reason else None
    if step.needs_reason and not reason:
        raise ValidationFailed("Say why.", errors=[field_error("reason", "required for this action", code="missing")])
    return row, step, reason


async def preview(
    *,
    session: AsyncSession,
    principal: Principal,
    credential_id: uuid.UUID,
    action: str,
    reason: str | None,
    if_match: str | None,
) -> tuple[Credential, str]:
    """Every check of `transition`, nothing written: the credential and the status it would get."""
    row, step, _reason = await _prepare(
        session=session,
        principal=principal,
        credential_id=credential_id,
        action=action,
        reason=reason,
        if_match=if_match,
    )
    return row, step.target


async def transition(
    *,
    session: AsyncSession,
    principal: Principal,
    credential_id: uuid.UUID,
    action: str,
    reason: str | None,
    if_match: str | None,
) -> Credential:
    """Suspend, reinstate or revoke, as the lifecycle table allows (send If-Match)."""
    row, step, reason = await _prepare(
        session=session,
        principal=principal,
        credential_id=credential_id,
        action=action,
        reason=reason,
        if_match=if_match,
    )
    return await _change_status(session, row, step, reason)


SYSTEM_ACTOR = Actor(subject=None, client_id="worker")  # the audit trail's name for a renewal's replacement


async def renew(*, session: AsyncSession, row: Credential, by: Credential) -> None:
    """`by` renews `row` and replaces it: `row` is revoked, saying by which one, and a suspension or a revocation
    `row` is under passes to `by` (renewing lifts no sanction; one imposed while the renewal was being decided would
    otherwise be lost with the old credential)."""
    if row.replaced_by == by.number:
        return  # done already
    # A sanction passes on once (not again on a redelivery after a revocation for cause); a replacement is none.
    if row.status != "active" and row.replaced_by is None and by.status == "active":
        action = "suspend" if row.status == "suspended" else "revoke"
        reason = f"{row.status_reason or row.status} ({row.number}, which it renews, was {row.status})"
        await _change_status(session, by, LIFECYCLES[by.kind].find(by.status, action), reason, actor=SYSTEM_ACTOR)
    if row.status != "revoked":
        await _replace(session, row, by.number)


async def _replace(session: AsyncSession, row: Credential, by_number: str) -> Credential:
    row.replaced_by = by_number
    step = LIFECYCLES[row.kind].find(row.status, "revoke")
    return await _change_status(session, row, step, f"replaced by {by_number}", actor=SYSTEM_ACTOR)


async def _change_status(
    session: AsyncSession, row: Credential, step: Transition, reason: str | None, actor: Actor | None = None
) -> Credential:
    row.status = step.target
    row.status_reason = reason
    row.status_changed_at = utcnow()
    session.add(row)
    await session.flush()
    audit.record(
        session,
        action=LIFECYCLES[row.kind].event_name(step.action),
        object_type="credential",
        object_id=row.id,
        detail={"number": row.number, "to": step.target, "reason": reason},
        actor=actor,
    )
    emit(
        session,
        Event(
            LIFECYCLES[row.kind].event_name(step.action), subject=f"credential:{row.id}", payload=_event_payload(row)
        ),
    )
    return row


# -- verifying ------------------------------------------------------------------------------------------------------


# Signed by us, yet not in the register (a register restored from before its issue, say): its status cannot be told.
NOT_REGISTERED = Bilingual(zh="登记簿中没有这份证照", en="not in the register")


async def prepare_verification(*, identity: Identity, value: str, field: str, location: str) -> str:
    """The token in `value` (a JWS or a QR code's link; 422 otherwise, naming `field` in the request's `location`),
    with the key ring current for it. Opens a transaction of its own: call it before the one `verify` reads in."""
    token = signing.extract_token(value, issuer=identity.settings.issuer, field=field, location=location)
    await identity.keys_current_for(token, signing.KEY_PURPOSE)
    return token


async def verify(*, session: AsyncSession, identity: Identity, token: str) -> VerificationResult:
    """Check a credential (the JWS, or the QR content holding it): its signature, then its status in the register."""
    now = utcnow()
    jws = signing.extract_token(token, issuer=identity.settings.issuer)
    try:
        claims, kid = signing.verified_claims(identity, jws)
    except signing.InvalidSignature as exc:
        return VerificationResult(integrity="invalid", status="unknown", detail=exc.reason, checked_at=now)
    row = await repository.get(session, uuid.UUID(str(claims["jti"])))
    registered = row is not None and row.number == claims["sub"] and row.kid == kid
    return VerificationResult(
        integrity="valid",
        status=public_status(row, now) if registered else "unknown",
        detail=None if registered else NOT_REGISTERED,
        replaced_by=row.replaced_by if registered else None,
        kind=claims["kind"],
        number=claims["sub"],
        title=claims["title"],
        holder_name=claims.get("holder_name"),
        department=claims.get("department"),
        conditions=claims.get("conditions") or [],
        issuer=claims["iss"],
        valid_from=datetime.fromtimestamp(claims["nbf"], UTC),
        valid_until=datetime.fromtimestamp(claims["exp"], UTC),
        checked_at=now,
    )


# -- expiry reminders -----------------------------------------------------------------------------------------------


async def remind_expiring(
    *, session: AsyncSession, identity: Identity, now: datetime, after: uuid.UUID | None, limit: int = 200
) -> uuid.UUID | None:
    """Tell holders of active credentials ending within 60 days, once each, by when to apply to renew them (or, past
    that date, only that they expire); the id to continue after, or None."""
    rows = await repository.expiring(session, now=now, until=now + EXPIRY_NOTICE, after=after, limit=limit)
    for row in rows:
        renew_by = aware(row.valid_until) - RENEWAL_LEAD
        params = {
            "number": row.number,
            "title_zh": row.title.get("zh-CN", ""),
            "title_en": row.title.get("en", ""),
            "valid_until": china_date(row.valid_until),
        }
        in_time = row.kind == "permit" and renew_by > now  # the law's date is a permit's; a card is only reminded
        await notifications_service.notify(
            session=session,
            identity=identity,
            account_id=row.holder_account_id,
            template="credential_renewal_due" if in_time else "credential_expiring",
            params={**params, "renew_by": china_date(renew_by)} if in_time else params,
            dedupe_key=f"credential-expiring:{row.id}",
        )
    return rows[-1].id if len(rows) == limit else None


class RegisterStatus(NamedTuple):
    status: str
    valid_until: datetime
    replaced_by: str | None


async def public_statuses(*, session: AsyncSession, numbers: list[str]) -> dict[str, RegisterStatus]:
    """Public status, expiry and replacement by credential number: what a register shows, nothing personal."""
    now = utcnow()
    return {
        number: RegisterStatus(_public_status(status, valid_until, now), valid_until, replaced_by)
        for number, status, valid_until, replaced_by in await repository.statuses(session, numbers)
    }
