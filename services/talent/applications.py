"""Talent applications: claims with their evidence, verification, the lifecycle with its guards and effects, reads.

Claims are kept encrypted whole (salary, tax and birth-date figures are personal data) and shown in full only to the
applicant and the officer reviewing the application; everyone else sees them masked, and every read by staff or a
sponsoring employer lands in the applicant's access log. Every transition writes the history, an audit entry and an
outbox event in the caller's transaction; `dry_run` runs the same code and rolls back. The registry checks, the
card and the benefit drafts are the worker's (tasks.py and the permits domain).
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from auth import service as auth_service
from auth.guards import Principal
from auth.identity import Identity
from core import audit, sla
from core import comments as conversation
from core.comments import CommentCreate, CommentRead
from core.crypto import FieldCipher
from core.db import touch
from core.errors import Forbidden, ValidationFailed, field_error
from core.events import Event, emit
from core.http import check_if_match
from core.models import aware, new_id, utcnow
from core.pagination import encode_cursor
from core.references import next_reference
from core.workflow import StepActor, Transition, add_history, take_step
from services.calendar import service as calendar_service
from services.catalogue import service as catalogue_service
from services.cloud import service as cloud_service
from services.cloud.exceptions import DocumentNotUploaded
from services.cloud.ports import ObjectStorage
from services.cloud.schemas import PresignedRead
from services.credentials import service as credentials_service
from services.talent import repository, service
from services.talent.claims import (
    AwardClaim,
    BirthDateClaim,
    ClaimBase,
    EducationClaim,
    EmploymentClaim,
    LanguageClaim,
    PatentClaim,
    PublicationClaim,
    SalaryClaim,
)
from services.talent.engine import Assessment
from services.talent.exceptions import (
    ApplicationNotFound,
    CardNotFound,
    ClaimNotFound,
    EvidenceNotFound,
    NotDeclarable,
    NotReady,
    OpenApplicationExists,
    RuleSetNotFound,
)
from services.talent.models import TalentApplication, TalentClaim, TalentComment, TalentEvidence, TalentHistory
from services.talent.schemas import (
    DEFAULT_RULE_SET,
    EVIDENCE_MAX_BYTES,
    EVIDENCE_MEDIA_TYPES,
    MAX_APPLICATION_CLAIMS,
    MAX_EVIDENCE_PER_CLAIM,
    ActionRequest,
    ApplicationCreate,
    AssessmentResult,
    Benefit,
    ClaimRead,
    ClaimVerification,
    EvidenceChange,
    EvidenceRead,
    EvidenceUpload,
    EvidenceUploadRequest,
    TalentApplicationRead,
    TalentApplicationSummary,
    TalentCardRead,
)
from services.talent.service import RuleSetCache
from services.talent.workflow import (
    APPLICANT,
    COMMENT_ADDED,
    DEPARTMENT,
    EVIDENCE_RELEASED,
    OFFICER,
    SUPERVISOR,
    SYSTEM,
    TALENT_APPLICATION_CREATED,
    TALENT_LIFECYCLE,
)

REFERENCE_PREFIX = "TI-T"
# Where the applicant may change claims and evidence: while drafting, and when asked to.
DECLARE_STATES = frozenset({"draft", "awaiting_applicant"})
# Steps of the review that belong to the officer holding the application (or a supervisor).
ASSIGNEE_STEPS = frozenset({"request_info", "score", "review"})
# The applicant's steps that send their personal data to the registries: the person's own, never a sponsor's.
CONSENT_STEPS = frozenset({"submit", "answer"})
HOLD_DAYS = 14  # what an applicant has to answer when a registry could not verify a claim
SYSTEM_ACTOR = StepActor(subject=None, role=SYSTEM)
# The personal figures of a claim, masked for all but the applicant and the reviewing officer.
SENSITIVE_FIELDS = {
    "salary": ("annual_amount", "monthly_amount", "months_recorded"),
    "birth_date": ("date",),
    "education": ("certificate_no",),
}
SCORED_MODELS: dict[str, type[ClaimBase]] = {
    model.model_fields["kind"].default: model
    for model in (
        EducationClaim,
        EmploymentClaim,
        SalaryClaim,
        AwardClaim,
        PatentClaim,
        PublicationClaim,
        LanguageClaim,
        BirthDateClaim,
    )
}
# The kinds whose masked figures a criterion can read (a salary band, an age): their breakdown lines are masked for
# the same readers as the claims. An education claim hides only its certificate number, which no criterion reads: its
# lines show what its claim shows every reader (level, institution, rank).
MASKED_LINE_KINDS = frozenset(
    kind for kind, fields in SENSITIVE_FIELDS.items() if set(fields) & SCORED_MODELS[kind].model_fields.keys()
)


@dataclass(frozen=True)
class Context:
    """What the steps need beyond the session: the identity machinery (ciphers) and the compiled rule sets."""

    identity: Identity
    rules: RuleSetCache


# -- who may do what --------------------------------------------------------------------------------------------------


def is_owner(principal: Principal, row: TalentApplication) -> bool:
    if principal.is_person:
        return "talent:apply" in principal.scopes and principal.account_id == row.applicant_id
    return "partner:submit" in principal.scopes and principal.client_id == row.sponsored_by_client


def sees_figures(principal: Principal, row: TalentApplication) -> bool:
    """The applicant and the officer reviewing the application see salaries, birth dates and certificate numbers."""
    own = principal.is_person and principal.account_id == row.applicant_id
    return own or (is_handler(principal, row) and row.assignee_id == principal.account_id)


def is_handler(principal: Principal, row: TalentApplication) -> bool:
    """Talent office staff who may handle this application: never their own (separation of duties)."""
    return repository.is_staff(principal) and principal.account_id != row.applicant_id


def may(principal: Principal, step: Transition, row: TalentApplication) -> bool:
    if step.actor == APPLICANT:
        # Only the person sends their claims to the registries (submit, answer): a sponsor drafts, the citizen
        # consents by submitting.
        return is_owner(principal, row) and (principal.is_person or step.action not in CONSENT_STEPS)
    if step.actor not in (OFFICER, SUPERVISOR) or not is_handler(principal, row):
        return False
    if not (step.scopes <= principal.scopes and principal.roles & step.roles):
        return False
    if step.action in ASSIGNEE_STEPS:
        return row.assignee_id == principal.account_id or principal.has_role("supervisor")
    return True


def allowed_actions(principal: Principal, row: TalentApplication) -> list[str]:
    actions = TALENT_LIFECYCLE.allowed(row.status, lambda step: may(principal, step, row))
    if row.assignee_id is not None and "claim" in actions:
        actions.remove("claim")  # the status stays when it is taken: its claim step refuses, a supervisor reassigns
    if _lapsed(row, utcnow()) and "answer" in actions:
        actions.remove("answer")  # the request lapsed: its answer step refuses
    if is_owner(principal, row) and row.status in DECLARE_STATES:
        actions.append("declare")  # add, change or drop claims and their evidence
    if row.status == "verifying" and may_verify(principal, row):
        actions.append("verify_claims")
    return sorted(actions)


def may_verify(principal: Principal, row: TalentApplication) -> bool:
    return is_handler(principal, row) and (row.assignee_id == principal.account_id or principal.has_role("supervisor"))


def actor_of(principal: Principal, row: TalentApplication) -> StepActor:
    if is_owner(principal, row):
        return StepActor(principal.subject, APPLICANT if principal.is_person else "partner")
    return StepActor(principal.subject, SUPERVISOR if principal.has_role("supervisor") else OFFICER)


# -- claims at rest ---------------------------------------------------------------------------------------------------


def seal(cipher: FieldCipher, row: TalentApplication, data: dict[str, Any]) -> str:
    # Bound to the application: a sealed claim copied onto another application does not decrypt.
    return cipher.encrypt(json.dumps(data, sort_keys=True), context=f"talent_claim:{row.id}")


def unseal(identity: Identity, application_id: uuid.UUID, sealed: str) -> dict[str, Any]:
    return json.loads(identity.cipher.decrypt(sealed, context=f"talent_claim:{application_id}"))


def scored_claim(data: dict[str, Any], *, verified: bool) -> ClaimBase:
    """A stored claim as the engine reads it (fields only the application has, like a certificate number, dropped)."""
    model = SCORED_MODELS[data["kind"]]
    return model.model_validate(
        {key: value for key, value in data.items() if key in model.model_fields} | {"verified": verified}
    )


def masked(data: dict[str, Any]) -> dict[str, Any]:
    hidden = SENSITIVE_FIELDS.get(data.get("kind", ""), ())
    return {key: ("***" if key in hidden and value is not None else value) for key, value in data.items()}


# -- drafts and claims ------------------------------------------------------------------------------------------------


ONE_OPEN = "There is already an open talent application for this person."


async def create_application(
    *, session: AsyncSession, identity: Identity, principal: Principal, data: ApplicationCreate
) -> TalentApplication:
    """A draft for the caller or, from an employer's partner system, for the citizen it sponsors; a renewal starts
    from the claims and evidence behind the card it renews."""
    applicant_id, client = await auth_service.applicant_for(
        session=session, principal=principal, on_behalf_of=data.on_behalf_of
    )
    if await repository.open_application_of(session, applicant_id) is not None:
        raise OpenApplicationExists(ONE_OPEN)
    if not service.issues_cards(data.rule_set):
        raise ValidationFailed(
            f"{data.rule_set} issues no talent card (it is there for the what-if): apply under {DEFAULT_RULE_SET}.",
            errors=[field_error("rule_set", "not a scheme that issues talent cards", code="no_card")],
        )
    try:
        await service.get_active(session=session, code=data.rule_set)
    except RuleSetNotFound:
        raise ValidationFailed(
            f"{data.rule_set} is not a scheme in force.", errors=[field_error("rule_set", "no active version")]
        ) from None
    row = TalentApplication(
        reference=await next_reference(session, REFERENCE_PREFIX),
        applicant_id=applicant_id,
        sponsored_by_client=client,
        rule_set=data.rule_set,
    )
    try:
        # In a savepoint: when a create racing this one got in first, the database's one-open-application index
        # refuses this row, and the transaction is still usable to say so as above (not as a bare conflict).
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        if await repository.open_application_of(session, applicant_id) is not None:
            raise OpenApplicationExists(ONE_OPEN) from None
        raise
    if data.renews is not None:
        await _copy_for_renewal(session, identity, row, data.renews)
    actor = StepActor(principal.subject, APPLICANT if principal.is_person else "partner")
    reason = f"renews {data.renews}" if data.renews else None
    add_history(
        session, TalentHistory, row, action="create", before="new", actor=actor, reason=reason, now=row.created_at
    )
    audit.record(
        session,
        action=TALENT_APPLICATION_CREATED.name,
        object_type="talent_application",
        object_id=row.id,
        detail={"reference": row.reference, "rule_set": row.rule_set, "sponsored_by": client, "renews": data.renews},
    )
    emit(session, Event(TALENT_APPLICATION_CREATED.name, subject=f"talent_application:{row.id}", payload=_payload(row)))
    return row


async def _copy_for_renewal(session: AsyncSession, identity: Identity, row: TalentApplication, number: str) -> None:
    """The renewed card's claims (pending again: verified anew) and their evidence (the same stored files). A card
    suspended or revoked is not renewed: renewing lifts no sanction (an expired one may be: its claims are checked
    again as any). A sponsor renews only a card it filed for: the copy would show it claims, evidence names and
    hashes the citizen filed without it. A card out of reach is refused in the very words of one that does not
    exist (card numbers run in sequence: anything else would tell which exist)."""
    previous = await repository.by_card_number(session, number)
    reachable = (
        previous is not None
        and previous.applicant_id == row.applicant_id
        and (row.sponsored_by_client is None or previous.sponsored_by_client == row.sponsored_by_client)
        and previous.status == "card_issued"
    )
    if not reachable:
        raise ValidationFailed(
            f"{number} is not a talent card of this person.", errors=[field_error("renews", "not this person's card")]
        )
    assert previous is not None  # noqa: S101 - reachable, checked above
    card = await credentials_service.get_by_number(session=session, number=number)
    if card is None or not credentials_service.is_standing(card):
        raise ValidationFailed(
            f"{number} is {card.status if card else 'not issued'}: a card under a sanction is not renewed.",
            errors=[field_error("renews", "suspended or revoked", code="not_in_force")],
        )
    copies: dict[uuid.UUID, uuid.UUID] = {}
    for item in await repository.claims(session, previous.id):
        copies[item.id] = new_id()
        data = unseal(identity, previous.id, item.sealed)
        session.add(
            TalentClaim(
                id=copies[item.id], application_id=row.id, kind=item.kind, sealed=seal(identity.cipher, row, data)
            )
        )
    await session.flush()
    for evidence in await repository.evidence(session, previous.id):
        if evidence.status == "uploaded":
            session.add(
                TalentEvidence(
                    application_id=row.id,
                    claim_id=copies[evidence.claim_id],
                    filename=evidence.filename,
                    object_key=evidence.object_key,
                    media_type=evidence.media_type,
                    size=evidence.size,
                    sha256=evidence.sha256,
                    status="uploaded",
                    uploaded_at=evidence.uploaded_at,
                )
            )
    await session.flush()


async def declare(
    *,
    session: AsyncSession,
    identity: Identity,
    principal: Principal,
    application_id: uuid.UUID,
    claim: BaseModel,
    claim_id: uuid.UUID | None = None,
    if_match: str | None = None,
) -> tuple[TalentApplication, TalentClaim]:
    """Add a claim (one of the DeclaredClaim models, validated by the request), or (with `claim_id`, and If-Match)
    replace one: a changed claim is verified again. The application and the claim as they now are."""
    row = await _declarable(session, principal, application_id)
    if claim_id is not None:
        check_if_match(if_match, row.version)
    data = claim.model_dump(mode="json", exclude={"verified"}, exclude_none=True)
    if claim_id is None:
        if len(await repository.claims(session, row.id)) >= MAX_APPLICATION_CLAIMS:
            raise ValidationFailed(f"At most {MAX_APPLICATION_CLAIMS} claims per application.")
        item = TalentClaim(id=new_id(), application_id=row.id, kind=data["kind"], sealed="")
    else:
        item = await _claim(session, row, claim_id)
        item.kind = data["kind"]
        item.status, item.method, item.reason, item.verified_by, item.verified_at = "pending", None, None, None, None
    item.sealed = seal(identity.cipher, row, data)
    session.add(item)
    await touch(session, row)
    audit.record(
        session,
        action="talent.claim.declared" if claim_id is None else "talent.claim.changed",
        object_type="talent_application",
        object_id=row.id,
        detail={"claim": str(item.id), "kind": item.kind},  # never the figures
    )
    return row, item


async def drop_claim(
    *,
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    claim_id: uuid.UUID,
    if_match: str | None,
) -> TalentApplication:
    row = await _declarable(session, principal, application_id)
    check_if_match(if_match, row.version)
    item = await _claim(session, row, claim_id)
    files = await repository.claim_object_keys(session, item.id)
    await session.delete(item)  # its evidence rows go with it (ON DELETE CASCADE)
    await touch(session, row)
    audit.record(
        session,
        action="talent.claim.dropped",
        object_type="talent_application",
        object_id=row.id,
        detail={"claim": str(claim_id), "kind": item.kind},
    )
    if files:
        # The files are personal data nobody needs any more: the worker deletes them (storage is not transactional,
        # so not here: a rollback would leave rows naming deleted files).
        emit(
            session,
            Event(EVIDENCE_RELEASED.name, subject=f"talent_application:{row.id}", payload={"object_keys": files}),
        )
    return row


async def _declarable(session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> TalentApplication:
    row = await visible(session=session, principal=principal, application_id=application_id)
    if not is_owner(principal, row):
        raise Forbidden("Only the applicant declares claims.")
    if row.status not in DECLARE_STATES:
        raise NotDeclarable(f"Claims change while drafting or when asked for; the application is {row.status}.")
    return row


async def _claim(session: AsyncSession, row: TalentApplication, claim_id: uuid.UUID) -> TalentClaim:
    item = await repository.claim(session, row.id, claim_id)
    if item is None:
        raise ClaimNotFound()
    return item


# -- evidence ---------------------------------------------------------------------------------------------------------


async def start_evidence_upload(
    *,
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStorage,
    application_id: uuid.UUID,
    claim_id: uuid.UUID,
    data: EvidenceUploadRequest,
    upload_window: timedelta,
) -> EvidenceUpload:
    """An evidence row and a presigned PUT capped at 10 MiB; the file then goes straight to storage."""
    row = await _declarable(session, principal, application_id)
    item = await _claim(session, row, claim_id)
    placed = _holding_a_place(await repository.evidence(session, row.id), item.id, utcnow() - upload_window)
    if len(placed) >= MAX_EVIDENCE_PER_CLAIM:
        raise ValidationFailed(f"At most {MAX_EVIDENCE_PER_CLAIM} documents per claim.")
    evidence_id = new_id()
    evidence = TalentEvidence(
        id=evidence_id,
        application_id=row.id,
        claim_id=item.id,
        filename=cloud_service.clean_filename(data.filename),
        object_key=f"talent/{row.id}/{evidence_id}",
        media_type=data.media_type,
    )
    session.add(evidence)
    await session.flush()
    upload = await storage.presign_upload(
        evidence.object_key, content_type=data.media_type, max_bytes=EVIDENCE_MAX_BYTES
    )
    return EvidenceUpload(
        evidence=EvidenceRead.model_validate(evidence, from_attributes=True),
        upload=cloud_service.presigned(upload),
    )


def _holding_a_place(
    evidence: list[TalentEvidence], claim_id: uuid.UUID, started_since: datetime
) -> list[TalentEvidence]:
    """A claim's documents that count toward its limit: the uploaded ones, and those whose upload URL (issued when
    the row was made) can still bring a file. One never uploaded, or refused at its confirmation (the file deleted,
    the row kept: a failed request writes nothing), stops counting when its URL expires; the applicant may also
    delete it at once."""
    return [
        e
        for e in evidence
        if e.claim_id == claim_id and (e.status == "uploaded" or aware(e.created_at) > started_since)
    ]


async def confirm_evidence(
    *,
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStorage,
    application_id: uuid.UUID,
    evidence_id: uuid.UUID,
    sha256: str,
) -> EvidenceChange:
    """Check what storage holds (size, the applicant's SHA-256, the sniffed type); a bad file is refused and deleted."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    if not is_owner(principal, row):
        raise Forbidden("Only the applicant adds evidence.")
    evidence = await _evidence(session, row, evidence_id)
    if evidence.status == "uploaded":
        return _evidence_change(evidence, row)  # confirming twice changes nothing
    if row.status not in DECLARE_STATES:
        raise NotDeclarable(f"Evidence is added while drafting or when asked for; it is {row.status}.")
    # A row whose URL expired stopped counting toward the limit, and others may have taken its place since.
    uploaded = [e for e in await repository.evidence(session, row.id) if e.status == "uploaded"]
    if sum(1 for e in uploaded if e.claim_id == evidence.claim_id) >= MAX_EVIDENCE_PER_CLAIM:
        raise ValidationFailed(f"At most {MAX_EVIDENCE_PER_CLAIM} documents per claim; delete one first.")
    head = await cloud_service.check_upload(
        storage,
        evidence.object_key,
        sha256=sha256,
        media_type=evidence.media_type,
        media_types=list(EVIDENCE_MEDIA_TYPES),
        max_bytes=EVIDENCE_MAX_BYTES,
    )
    evidence.size, evidence.sha256, evidence.status, evidence.uploaded_at = head.size, head.sha256, "uploaded", utcnow()
    session.add(evidence)
    await touch(session, row)
    audit.record(
        session,
        action="talent.evidence.uploaded",
        object_type="talent_application",
        object_id=row.id,
        detail={"evidence": str(evidence.id), "claim": str(evidence.claim_id), "sha256": evidence.sha256},
    )
    return _evidence_change(evidence, row)


def _evidence_change(evidence: TalentEvidence, row: TalentApplication) -> EvidenceChange:
    return EvidenceChange(
        **EvidenceRead.model_validate(evidence, from_attributes=True).model_dump(), application_version=row.version
    )


async def delete_evidence(
    *,
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    evidence_id: uuid.UUID,
    if_match: str | None,
) -> TalentApplication:
    """Take a document off a claim while claims may change (a refused or abandoned upload, a wrong file), unless the
    claim is verified: a decision's evidence stays (change the claim, and it is verified again)."""
    row = await _declarable(session, principal, application_id)
    check_if_match(if_match, row.version)
    evidence = await _evidence(session, row, evidence_id)
    item = await _claim(session, row, evidence.claim_id)
    if item.status == "verified":
        raise NotDeclarable("The claim is verified on this evidence; change the claim to replace its documents.")
    await session.delete(evidence)
    await touch(session, row)
    audit.record(
        session,
        action="talent.evidence.deleted",
        object_type="talent_application",
        object_id=row.id,
        detail={"evidence": str(evidence.id), "claim": str(evidence.claim_id)},
    )
    # The file (if one arrived) is for the worker to delete, unless a renewal's copy still names it; storage is not
    # transactional, so not here.
    emit(
        session,
        Event(
            EVIDENCE_RELEASED.name,
            subject=f"talent_application:{row.id}",
            payload={"object_keys": [evidence.object_key]},
        ),
    )
    return row


async def download_evidence(
    *,
    session: AsyncSession,
    principal: Principal,
    storage: ObjectStorage,
    application_id: uuid.UUID,
    evidence_id: uuid.UUID,
) -> PresignedRead:
    """A short-lived download URL after the ownership check; anyone but the applicant lands in the access log."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    if not sees_figures(principal, row):
        # Evidence shows what the masked figures hide (payslips, tax statements, certificates).
        raise Forbidden("Evidence is for the applicant and the officer handling the application.")
    evidence = await _evidence(session, row, evidence_id)
    if evidence.status != "uploaded":
        raise DocumentNotUploaded("This evidence has not been uploaded.")
    await cloud_service.check_unchanged(storage, evidence.object_key, evidence.sha256)
    await auth_service.log_citizen_read(
        session=session,
        reader=principal,
        citizen_id=row.applicant_id,
        purpose=f"talent application {row.reference}: evidence",
        object_type="talent_evidence",
        object_id=evidence.id,
    )
    return cloud_service.presigned(await storage.presign_download(evidence.object_key, filename=evidence.filename))


async def _evidence(session: AsyncSession, row: TalentApplication, evidence_id: uuid.UUID) -> TalentEvidence:
    evidence = await repository.evidence_item(session, row.id, evidence_id)
    if evidence is None:
        raise EvidenceNotFound()
    return evidence


# -- verification by an officer ---------------------------------------------------------------------------------------


async def verify_claim(
    *,
    session: AsyncSession,
    context: Context,
    principal: Principal,
    application_id: uuid.UUID,
    claim_id: uuid.UUID,
    data: ClaimVerification,
    if_match: str | None,
) -> TalentApplication:
    """The officer holding the application decides a claim no registry could; a claim that cannot be verified sends
    the application back to the applicant with the reason."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    if not may_verify(principal, row):
        raise Forbidden("Only the talent officer handling the application (or a supervisor) verifies its claims.")
    if row.status != "verifying":
        raise NotReady(f"Claims are verified while the application is verifying, not {row.status}.")
    check_if_match(if_match, row.version)
    item = await _claim(session, row, claim_id)
    if item.status != "pending":
        # A registry's answer is not overruled here: the applicant corrects the claim, and it is checked again.
        raise NotReady(f"This claim is already {item.status}; only pending claims are decided by an officer.")
    now = utcnow()
    item.status, item.method, item.reason = data.decision, "officer", data.reason
    item.verified_by, item.verified_at = principal.subject, now
    session.add(item)
    audit.record(
        session,
        action=f"talent.claim.{data.decision}",
        object_type="talent_application",
        object_id=row.id,
        detail={"claim": str(item.id), "kind": item.kind, "method": "officer"},
    )
    if data.decision == "unverifiable":
        step = TALENT_LIFECYCLE.find(row.status, "request_info")
        question = f"Your {item.kind.replace('_', ' ')} claim could not be verified: {data.reason}"
        return await apply(
            session=session,
            context=context,
            row=row,
            step=step,
            data=ActionRequest(reason=question[:2000]),
            actor=actor_of(principal, row),
            now=now,
        )
    await touch(session, row)
    return row


# -- reads ------------------------------------------------------------------------------------------------------------


async def visible(*, session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> TalentApplication:
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
    row: TalentApplication,
    log_access: bool = True,
    full: bool | None = None,
) -> TalentApplicationRead:
    """The whole application for this caller, figures masked unless they are the applicant or the reviewing officer;
    anyone else's read lands in the applicant's access log."""
    full = sees_figures(principal, row) if full is None else full
    if log_access:
        await _log_read(session, principal, row.applicant_id, row.reference, row.id)
    evidence: dict[uuid.UUID, list[EvidenceRead]] = {}
    for item in await repository.evidence(session, row.id):
        evidence.setdefault(item.claim_id, []).append(EvidenceRead.model_validate(item, from_attributes=True))
    claims = [
        _claim_read(identity, row, item, evidence.get(item.id, []), full=full)
        for item in await repository.claims(session, row.id)
    ]
    return TalentApplicationRead(
        **_summary(row).model_dump(),
        sponsored_by_client=row.sponsored_by_client,
        decided_at=row.decided_at,
        question=row.question,
        answer_due_at=row.answer_due_at,
        result=_result(identity, row, full=full),
        recommended_tier=row.recommended_tier,
        rejection_proposed=row.rejection_proposed,
        card_number=row.card_number,
        sla=sla.view(row, utcnow()),
        claims=claims,
        allowed_actions=allowed_actions(principal, row),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _claim_read(
    identity: Identity, row: TalentApplication, item: TalentClaim, evidence: list[EvidenceRead], *, full: bool
) -> ClaimRead:
    data = unseal(identity, row.id, item.sealed)
    return ClaimRead(
        id=item.id,
        kind=item.kind,
        status=item.status,  # type: ignore[arg-type]
        method=item.method,
        # A registry's answer can tell a salary band or a birth date: the applicant's and the handler's.
        reason=item.reason if full or item.method != "registry" else None,
        verified_at=item.verified_at,
        version=item.version,
        masked=not full,
        data=data if full else masked(data),
        evidence=evidence,
    )


async def claim_view(
    *, session: AsyncSession, identity: Identity, principal: Principal, application_id: uuid.UUID, claim_id: uuid.UUID
) -> ClaimRead:
    """One claim with its evidence, masked as in the application; read by anyone else, it is logged."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    item = await _claim(session, row, claim_id)
    await _log_read(session, principal, row.applicant_id, row.reference, row.id)
    evidence = [
        EvidenceRead.model_validate(e, from_attributes=True)
        for e in await repository.evidence(session, row.id)
        if e.claim_id == item.id
    ]
    return _claim_read(identity, row, item, evidence, full=sees_figures(principal, row))


async def _log_read(
    session: AsyncSession, principal: Principal, applicant_id: uuid.UUID, reference: str, application_id: uuid.UUID
) -> None:
    """Anyone but the applicant who is shown the application lands in the applicant's access log."""
    await auth_service.log_citizen_read(
        session=session,
        reader=principal,
        citizen_id=applicant_id,
        purpose=f"talent application {reference}",
        object_type="talent_application",
        object_id=application_id,
    )


def _summary(row: TalentApplication) -> TalentApplicationSummary:
    return TalentApplicationSummary.model_validate(row, from_attributes=True)


def _result(identity: Identity, row: TalentApplication, *, full: bool) -> AssessmentResult | None:
    if row.assessment_sealed is None or row.scored_at is None:
        return None
    stored = json.loads(identity.cipher.decrypt(row.assessment_sealed, context=f"talent_assessment:{row.id}"))
    sensitive = set(stored["sensitive"])
    breakdown = [
        line
        if full or line["code"] not in sensitive
        else {**line, "value": "***", "band": None, "earned": None, "points": None}
        for line in stored["assessment"]["breakdown"]
    ]
    assessment = stored["assessment"]
    route = assessment["route"]
    if not full and route.removeprefix("direct:") in sensitive:
        route = "direct"  # "direct:top_salary" would say what the masked salary line hides
    return AssessmentResult(
        rule_set_version=assessment["rule_set"]["version"],
        score=assessment["score"],
        tier=assessment["tier"],
        route=route,
        scored_at=row.scored_at,
        breakdown=breakdown,
    )


async def listing(
    *,
    session: AsyncSession,
    principal: Principal,
    limit: int,
    cursor: str | None,
    status: str | None,
    assignee: uuid.UUID | None,
) -> tuple[list[TalentApplicationSummary], str | None]:
    """The caller's own applications (newest first) or, for the talent office, its queue (oldest deadline first)."""
    staff = repository.is_staff(principal)
    rows = await repository.applications(
        session,
        within=repository.queue() if staff else repository.reach(principal),
        staff=staff,
        limit=limit,
        cursor=cursor,
        status=status,
        assignee=assignee,
    )
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last.due_at, last.id] if staff else [last.id])
    return [_summary(row) for row in rows[:limit]], next_cursor


async def history(*, session: AsyncSession, principal: Principal, application_id: uuid.UUID) -> list[TalentHistory]:
    """The steps taken; read by anyone but the applicant (the reasons can tell what was claimed), it is logged."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    await _log_read(session, principal, row.applicant_id, row.reference, row.id)
    return await repository.history(session, row.id)


# -- comments ---------------------------------------------------------------------------------------------------------


async def comments(
    *, session: AsyncSession, principal: Principal, application_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[CommentRead], str | None]:
    """The talent office sees every comment; the applicant and their sponsor only those meant for them. Anyone but
    the applicant reading them is logged (they can tell what was claimed)."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    await _log_read(session, principal, row.applicant_id, row.reference, row.id)
    internal = is_handler(principal, row)
    return await conversation.thread(session, TalentComment, row.id, internal=internal, limit=limit, cursor=cursor)


async def add_comment(
    *, session: AsyncSession, principal: Principal, application_id: uuid.UUID, data: CommentCreate
) -> CommentRead:
    row = await visible(session=session, principal=principal, application_id=application_id)
    staff = is_handler(principal, row)
    # Neither staff who may handle it nor its owner through this token: an officer's own registration, seen in the
    # office's queue with a staff token. Their words are the applicant's, not the office's.
    author = actor_of(principal, row) if staff or is_owner(principal, row) else StepActor(principal.subject, APPLICANT)
    return await conversation.write(
        session, TalentComment, row, author=author, staff=staff, data=data, event=COMMENT_ADDED
    )


# -- the lifecycle ----------------------------------------------------------------------------------------------------


async def act(
    *,
    session: AsyncSession,
    context: Context,
    principal: Principal,
    application_id: uuid.UUID,
    action: str,
    data: ActionRequest,
    if_match: str | None,
    dry_run: bool,
) -> TalentApplicationRead:
    """Take `action` as the table allows, then show the application; a dry run is the same step, rolled back."""
    row = await visible(session=session, principal=principal, application_id=application_id)
    step = TALENT_LIFECYCLE.find(row.status, action)
    if step.actor == SYSTEM or not may(principal, step, row):
        raise Forbidden(_who_may(step))
    check_if_match(if_match, row.version)
    # Figures as the caller could see them before the step: a preview of "claim" must not unmask them.
    full = sees_figures(principal, row)
    await apply(session=session, context=context, row=row, step=step, data=data, actor=actor_of(principal, row))
    view = await read(
        session=session, identity=context.identity, principal=principal, row=row, log_access=False, full=full
    )
    read_of = (row.applicant_id, row.reference, row.id)
    if dry_run:
        await session.rollback()  # every rule and effect ran; none of it is kept
    await _log_read(session, principal, *read_of)  # the answer showed the application: logged, a preview too
    return view


def _who_may(step: Transition) -> str:
    return {
        APPLICANT: f"Only the applicant may {step.action} a talent application.",
        OFFICER: f"Only the talent officer handling the application (or a supervisor) may {step.action} it.",
        SUPERVISOR: f"Only a supervisor of the talent office may {step.action} an application.",
        SYSTEM: f"{step.action} is done by the system, not through the API.",
    }[step.actor]


async def apply(
    *,
    session: AsyncSession,
    context: Context,
    row: TalentApplication,
    step: Transition,
    data: ActionRequest,
    actor: StepActor,
    now: datetime | None = None,
) -> TalentApplication:
    """Guards, effects, then the new state, its history row, audit entry and outbox event, all in this transaction."""
    effect = _EFFECTS.get(step.action)
    now = now or utcnow()
    await take_step(
        session,
        workflow=TALENT_LIFECYCLE,
        step=step,
        row=row,
        history=TalentHistory,
        object_type="talent_application",
        actor=actor,
        reason=data.reason,
        now=now,
        effect=(lambda: effect(session, context, row, data, actor, now)) if effect else None,
        payload=_payload,
    )
    return row


def _payload(row: TalentApplication) -> dict[str, Any]:
    """What every event of an application carries; partner webhooks reach only the sponsoring employer's system,
    while the citizen it acts for (`on_behalf_of`, whom it named) keeps its mandate."""
    return {
        "application_id": row.id,
        "reference": row.reference,
        "status": row.status,
        "tier": row.approved_tier,
        "card_number": row.card_number,
        "partner_client_id": row.sponsored_by_client,
        "on_behalf_of": row.applicant_id if row.sponsored_by_client else None,
    }


# -- guards and effects, one function per action ----------------------------------------------------------------------


async def _submit(session, context, row, data, actor, now) -> None:
    _under_card_scheme(row)
    await _claims_with_evidence(session, row)
    row.submitted_at = now
    await calendar_service.start_clock(session=session, row=row, now=now, processing_time=None)


async def _claims_with_evidence(session: AsyncSession, row: TalentApplication) -> None:
    claims = await repository.claims(session, row.id)
    if not claims:
        raise NotReady("Declare at least one claim first.")
    with_evidence = {e.claim_id for e in await repository.evidence(session, row.id) if e.status == "uploaded"}
    # A birth date is checked against the verified ID number; every other claim needs a document behind it.
    bare = [item for item in claims if item.kind != "birth_date" and item.id not in with_evidence]
    if bare:
        raise NotReady(
            "Upload evidence for every claim first.",
            errors=[field_error(f"claims.{item.id}", "no evidence uploaded", code="missing") for item in bare],
        )


async def _claim_application(session, context, row, data, actor, now) -> None:
    if row.assignee_id is not None:
        raise NotReady("Another officer handles this application; a supervisor reassigns it.")
    row.assignee_id = uuid.UUID(actor.subject)


async def _reassign(session, context, row, data, actor, now) -> None:
    if data.assignee_id is None:
        raise ValidationFailed("Say who takes over.", errors=[field_error("assignee_id", "required", code="missing")])
    staff = await auth_service.staff_of(session=session, department=DEPARTMENT, roles=("talent_officer", "supervisor"))
    if data.assignee_id not in staff or data.assignee_id == row.applicant_id:
        raise ValidationFailed(
            "The assignee must be a talent officer who is not the applicant.",
            errors=[field_error("assignee_id", "not a talent officer who may handle this application")],
        )
    row.assignee_id = data.assignee_id


async def _request_info(session, context, row, data, actor, now) -> None:
    row.question = data.reason
    days = data.due_in_days if actor.role != SYSTEM else HOLD_DAYS
    row.answer_due_at = await calendar_service.answer_by(session=session, now=now, days=days)
    sla.pause(row, now)


def _lapsed(row: TalentApplication, now: datetime) -> bool:
    """Past its due date a request takes no answer, whether or not the lapse job has closed the application yet."""
    return row.answer_due_at is not None and aware(row.answer_due_at) <= now


async def _answer(session, context, row, data, actor, now) -> None:
    if _lapsed(row, now):
        raise NotReady(
            f"The request for information was due by {aware(row.answer_due_at):%Y-%m-%d %H:%M} UTC and has lapsed.",
            errors=[field_error("answer_due_at", "passed", code="lapsed")],
        )
    await _claims_with_evidence(session, row)  # claims added since are held to the same rule
    row.question, row.answer_due_at = None, None
    await _resume(session, row, now)


async def _score(session, context, row, data, actor, now) -> None:
    claims = await repository.claims(session, row.id)
    pending = [item for item in claims if item.status == "pending"]
    if pending:
        raise NotReady(
            "Decide every claim first.",
            errors=[field_error(f"claims.{item.id}", "not verified yet", code="pending") for item in pending],
        )
    scored = [
        scored_claim(unseal(context.identity, row.id, item.sealed), verified=item.status == "verified")
        for item in claims
    ]
    rule_set = await service.active_rule_set(session=session, cache=context.rules, code=row.rule_set)
    assessment: Assessment = service.assess_claims(rule_set, scored, today=service.today_in_china())
    sensitive = service.criteria_reading(rule_set, kinds=set(MASKED_LINE_KINDS))
    row.rule_set_version = assessment.rule_set.version
    row.score, row.scored_tier, row.scored_at = assessment.score, assessment.tier, now
    row.recommended_tier, row.reviewed_by, row.rejection_proposed = None, None, False
    row.assessment_sealed = context.identity.cipher.encrypt(
        json.dumps({"assessment": assessment.model_dump(mode="json"), "sensitive": sorted(sensitive)}),
        context=f"talent_assessment:{row.id}",
    )


async def _review(session, context, row, data, actor, now) -> None:
    if data.tier is None:
        if not data.reason:
            raise ValidationFailed(
                "Recommend a tier, or give the grounds for rejection.",
                errors=[field_error("tier", "a tier, or a reason to recommend rejection", code="missing")],
            )
        row.recommended_tier, row.rejection_proposed = None, True
    else:
        await _check_tier(session, context, row, data.tier)
        row.recommended_tier, row.rejection_proposed = data.tier, False
    row.reviewed_by = actor.subject


def _under_card_scheme(row: TalentApplication) -> None:
    """A draft made under a scheme that issues no card (before applying under one was refused) goes no further."""
    if not service.issues_cards(row.rule_set):
        raise NotReady(
            f"{row.rule_set} issues no talent card: withdraw this application and apply under {DEFAULT_RULE_SET}.",
            errors=[field_error("rule_set", "not a scheme that issues talent cards", code="no_card")],
        )


async def _approve(session, context, row, data, actor, now) -> None:
    _under_card_scheme(row)
    if row.reviewed_by is None:
        raise NotReady("A talent officer reviews the scored result first.")
    if row.reviewed_by == actor.subject:
        raise NotReady("The approval is a second person's: someone other than the reviewer approves.")
    tier = data.tier or row.recommended_tier
    if tier is None:
        raise ValidationFailed("Say which tier.", errors=[field_error("tier", "required", code="missing")])
    await _check_tier(session, context, row, tier)
    if tier != row.recommended_tier and not data.reason:
        raise ValidationFailed(
            "A tier other than the recommended one needs a reason.",
            errors=[field_error("reason", "required for a tier other than the recommended one", code="missing")],
        )
    row.approved_tier = tier
    await _decided(session, row, now)


async def _check_tier(session: AsyncSession, context: Context, row: TalentApplication, tier: str) -> None:
    rule_set = await service.active_rule_set(
        session=session, cache=context.rules, code=row.rule_set, version=row.rule_set_version
    )
    tiers = service.tiers_of(rule_set)
    if tier not in tiers:
        raise ValidationFailed(
            f"{tier} is not a tier of {row.rule_set}.", errors=[field_error("tier", "one of " + ", ".join(tiers))]
        )


async def _reject(session, context, row, data, actor, now) -> None:
    await _decided(session, row, now)


async def _withdraw(session, context, row, data, actor, now) -> None:
    await _resume(session, row, now)
    row.question, row.answer_due_at = None, None


async def _decided(session: AsyncSession, row: TalentApplication, now: datetime) -> None:
    await _resume(session, row, now)
    row.question, row.answer_due_at = None, None
    row.decided_at = now


async def _resume(session: AsyncSession, row: TalentApplication, now: datetime) -> None:
    """The clock runs again (or ends) after a pause: the default processing time, counted on the calendar."""
    await calendar_service.resume_clock(session=session, row=row, now=now, processing_time=None)


_EFFECTS = {
    "submit": _submit,
    "claim": _claim_application,
    "reassign": _reassign,
    "hold": _request_info,
    "request_info": _request_info,
    "answer": _answer,
    "rfi_timeout": _withdraw,
    "score": _score,
    "review": _review,
    "approve": _approve,
    "reject": _reject,
    "withdraw": _withdraw,
}


# -- talent cards -----------------------------------------------------------------------------------------------------


async def card(*, session: AsyncSession, principal: Principal, number: str) -> TalentCardRead:
    """A card for its holder or the talent office (others: 404); the live status comes from the credential."""
    row = await repository.by_card_number(session, number)
    holder = row is not None and principal.is_person and principal.account_id == row.applicant_id
    if row is None or row.approved_tier is None or not (holder or repository.is_staff(principal)):
        raise CardNotFound()
    credential = await credentials_service.get_by_subject(
        session=session, subject_type="talent_application", subject_id=row.id
    )
    if credential is None:
        raise CardNotFound()
    await auth_service.log_citizen_read(
        session=session,
        reader=principal,
        citizen_id=row.applicant_id,
        purpose=f"talent card {number}",
        object_type="talent_application",
        object_id=row.id,
    )
    # Benefits only for a card's tier under a card-issuing scheme (one approved under a reference scheme unlocks none).
    benefits = (
        await catalogue_service.benefits_for_tier(session=session, tier=row.approved_tier)
        if service.has_card_tier(row)
        else []
    )
    return TalentCardRead(
        number=credential.number,
        tier=row.approved_tier,
        status=credentials_service.public_status(credential, utcnow()),
        valid_from=credential.valid_from,
        valid_until=credential.valid_until,
        credential_id=credential.id,
        token=credential.token,
        benefits=[Benefit(code=b.code, title={"zh-CN": b.title_zh, "en": b.title_en}) for b in benefits],
    )
