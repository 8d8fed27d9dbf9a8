"""Permit applications over HTTP: thin routes over service.py and attachments.py."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from auth.guards import PublicCaller
from auth.identity import IdentityDep
from core.db import RecordingSessionDep, SessionDep
from core.errors import problems
from core.http import ApiRoute, IfMatch, set_etag
from core.http.language import Language, localize
from core.pagination import Cursor, Instant, Limit, Page
from services.cloud.dependencies import CloudDep
from services.permits import attachments, service
from services.permits.dependencies import Applicant, ApplicantKey, ApplicationId, DocumentId, PermitsCaller
from services.permits.schemas import (
    ActionRequest,
    ApplicationCreate,
    ApplicationRead,
    ApplicationSummary,
    ApplicationUpdate,
    ChecklistItem,
    CommentCreate,
    CommentRead,
    DocumentChange,
    DocumentConfirm,
    DocumentReview,
    DocumentUpload,
    DocumentUploadRequest,
    HistoryRead,
    PaymentRead,
    PresignedRead,
    RegisterEntry,
    Risk,
)
from services.permits.workflow import APPLICATION_LIFECYCLE, SYSTEM

router = APIRouter(prefix="/api/v1/permits", tags=["permits"], route_class=ApiRoute)

# The actions a caller can ask for (the system's own steps are not in the API).
Action = Literal[tuple(t.action for t in APPLICATION_LIFECYCLE.transitions if t.actor != SYSTEM)]  # type: ignore[valid-type]
Status = Literal[APPLICATION_LIFECYCLE.states]  # type: ignore[valid-type]
APPLICATIONS = "/applications"
UUID_OR_WORD = r"^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
ONE = "/applications/{application_id}"


def _shown(response: Response, view: ApplicationRead, language: str) -> ApplicationRead:
    set_etag(response, view.version)
    return localize(view, language)


@router.post(APPLICATIONS, status_code=201, response_model=ApplicationRead, responses=problems(401, 403, 409, 422))
async def create_application(
    data: ApplicationCreate,
    principal: Applicant,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    _key: ApplicantKey,
) -> ApplicationRead:
    """Start a draft for a published permit service (send an Idempotency-Key: a retry creates nothing twice). With
    `renews`, a renewal of a permit of yours in force: the draft starts from its form and holder, and the permit it
    issues replaces it (409 `renewal-under-way` while another renewal of it is under way). A partner filing for a
    citizen is shown the draft as a read of it, in the citizen's access log (a renewal's shows the renewed permit's
    holder and form)."""
    row = await service.create_application(session=session, identity=identity, principal=principal, data=data)
    response.headers["Location"] = f"/api/v1/permits/applications/{row.id}"
    return _shown(
        response, await service.read(session=session, identity=identity, principal=principal, row=row), language
    )


@router.get(APPLICATIONS, response_model=Page[ApplicationSummary], responses=problems(401, 403, 422))
async def list_applications(
    principal: PermitsCaller,
    session: SessionDep,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[Status | None, Query()] = None,
    service_code: Annotated[str | None, Query(alias="service", max_length=63)] = None,
    assignee: Annotated[str | None, Query(pattern=UUID_OR_WORD, description="me, none, or an officer's id")] = None,
    sla_risk: Annotated[Risk | None, Query()] = None,
    submitted_after: Annotated[Instant | None, Query()] = None,
    submitted_before: Annotated[Instant | None, Query()] = None,
) -> Page[ApplicationSummary]:
    """Your applications, newest first; for officers, the department's queue, oldest deadline first, with filters."""
    items, next_cursor = await service.listing(
        session=session,
        principal=principal,
        limit=limit,
        cursor=cursor,
        status=status,
        service_code=service_code,
        assignee=principal.account_id
        if assignee == "me"
        else uuid.UUID(assignee)
        if assignee not in (None, "none")
        else None,
        unassigned=assignee == "none",
        risk=sla_risk,
        submitted_after=submitted_after,
        submitted_before=submitted_before,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(ONE, response_model=ApplicationRead, responses=problems(401, 403, 404, 422))
async def read_application(
    application_id: ApplicationId,
    principal: PermitsCaller,
    session: RecordingSessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
) -> ApplicationRead:
    """One application with its SLA clock and the actions you may take now; the answers its form marks personal
    are masked unless you are the applicant or the officer it is assigned to."""
    row = await service.visible(session=session, principal=principal, application_id=application_id)
    view = await service.read(session=session, identity=identity, principal=principal, row=row)
    return _shown(response, view, language)


@router.patch(ONE, response_model=ApplicationRead, responses=problems(401, 403, 404, 409, 412, 422, 428))
async def update_application(
    application_id: ApplicationId,
    data: ApplicationUpdate,
    principal: PermitsCaller,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    if_match: IfMatch = None,
) -> ApplicationRead:
    """Change a draft's form or holder name (send If-Match). The answer shows the whole draft, what the citizen
    wrote in it too: to a partner, a read in the citizen's access log."""
    row = await service.update_draft(
        session=session,
        identity=identity,
        principal=principal,
        application_id=application_id,
        data=data,
        if_match=if_match,
    )
    return _shown(
        response, await service.read(session=session, identity=identity, principal=principal, row=row), language
    )


@router.post(
    ONE + "/actions/{action}", response_model=ApplicationRead, responses=problems(401, 403, 404, 409, 412, 422, 428)
)
async def take_action(
    application_id: ApplicationId,
    action: Annotated[Action, Path(description="a step of the lifecycle; see allowed_actions")],
    principal: PermitsCaller,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    data: ActionRequest | None = None,
    if_match: IfMatch = None,
    dry_run: Annotated[bool, Query(description="show the outcome (state, fees, SLA) without doing it")] = False,
) -> ApplicationRead:
    """Take a step of the lifecycle (send If-Match); `dry_run=true` answers what would happen and changes nothing."""
    view = await service.act(
        session=session,
        identity=identity,
        principal=principal,
        application_id=application_id,
        action=action,
        data=data or ActionRequest(),
        if_match=if_match,
        dry_run=dry_run,
    )
    if dry_run:
        response.headers["Preference-Applied"] = "dry-run"
        return localize(view, language)
    return _shown(response, view, language)


@router.get(ONE + "/history", response_model=Page[HistoryRead], responses=problems(401, 403, 404, 422))
async def application_history(
    application_id: ApplicationId, principal: PermitsCaller, session: RecordingSessionDep
) -> Page[HistoryRead]:
    """Every step taken, oldest first: who (by role), from which state to which, and why."""
    rows = await service.history(session=session, principal=principal, application_id=application_id)
    return Page(items=[HistoryRead.model_validate(row, from_attributes=True) for row in rows])


# -- documents ----------------------------------------------------------------------------------------------------


@router.get(ONE + "/documents", response_model=Page[ChecklistItem], responses=problems(401, 403, 404, 422))
async def list_documents(
    application_id: ApplicationId, principal: PermitsCaller, session: RecordingSessionDep, language: Language
) -> Page[ChecklistItem]:
    """The service's document checklist, each line with its latest upload and its review."""
    items = await attachments.checklist(session=session, principal=principal, application_id=application_id)
    return localize(Page(items=items), language)


@router.post(
    ONE + "/documents",
    status_code=201,
    response_model=DocumentUpload,
    responses=problems(401, 403, 404, 409, 413, 415, 422),
)
async def start_document_upload(
    application_id: ApplicationId,
    data: DocumentUploadRequest,
    principal: PermitsCaller,
    session: SessionDep,
    cloud: CloudDep,
    _key: ApplicantKey,
) -> DocumentUpload:
    """Announce a document (send an Idempotency-Key: a retry announces nothing twice); PUT the file to the returned
    URL, then confirm it with its SHA-256."""
    return await attachments.start_upload(
        session=session, principal=principal, storage=cloud.storage, application_id=application_id, data=data
    )


@router.post(
    ONE + "/documents/{document_id}/confirm",
    response_model=DocumentChange,
    responses=problems(401, 403, 404, 409, 413, 415, 422),
)
async def confirm_document_upload(
    application_id: ApplicationId,
    document_id: DocumentId,
    data: DocumentConfirm,
    principal: PermitsCaller,
    session: SessionDep,
    cloud: CloudDep,
) -> DocumentChange:
    """Check the stored file (size, SHA-256, real type) and mark the document uploaded."""
    return await attachments.confirm_upload(
        session=session,
        principal=principal,
        storage=cloud.storage,
        application_id=application_id,
        document_id=document_id,
        sha256=data.sha256,
    )


@router.post(
    ONE + "/documents/{document_id}/review", response_model=DocumentChange, responses=problems(401, 403, 404, 409, 422)
)
async def review_document(
    application_id: ApplicationId,
    document_id: DocumentId,
    data: DocumentReview,
    principal: PermitsCaller,
    session: SessionDep,
    cloud: CloudDep,
) -> DocumentChange:
    """Officers: accept a document, or reject it with the reason the applicant will read."""
    return await attachments.review_document(
        session=session,
        principal=principal,
        storage=cloud.storage,
        application_id=application_id,
        document_id=document_id,
        decision=data.decision,
        reason=data.reason,
    )


@router.get(
    ONE + "/documents/{document_id}/download", response_model=PresignedRead, responses=problems(401, 403, 404, 409, 422)
)
async def download_document(
    application_id: ApplicationId,
    document_id: DocumentId,
    principal: PermitsCaller,
    session: RecordingSessionDep,
    cloud: CloudDep,
) -> PresignedRead:
    """A short-lived URL to fetch the file (served as an attachment)."""
    return await attachments.download(
        session=session,
        principal=principal,
        storage=cloud.storage,
        application_id=application_id,
        document_id=document_id,
    )


# -- comments and payment -----------------------------------------------------------------------------------------


@router.get(ONE + "/comments", response_model=Page[CommentRead], responses=problems(401, 403, 404, 422))
async def list_comments(
    application_id: ApplicationId,
    principal: PermitsCaller,
    session: RecordingSessionDep,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[CommentRead]:
    """The conversation on an application, oldest first; applicants see the comments meant for them."""
    items, next_cursor = await attachments.comments(
        session=session, principal=principal, application_id=application_id, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(ONE + "/comments", status_code=201, response_model=CommentRead, responses=problems(401, 403, 404, 422))
async def add_comment(
    application_id: ApplicationId,
    data: CommentCreate,
    principal: PermitsCaller,
    session: SessionDep,
    _key: ApplicantKey,
) -> CommentRead:
    """Write to the applicant (or, staff only, an internal note), or to the officer handling the application; the
    other side is told in their inbox. With an Idempotency-Key a retry writes it once."""
    return await attachments.add_comment(session=session, principal=principal, application_id=application_id, data=data)


def _payment(row) -> PaymentRead:
    return PaymentRead(
        payment_id=row.id,
        status=row.status,
        amount=row.amount,
        currency=row.currency,
        pay_url=row.pay_url,
        paid_at=row.paid_at,
    )


@router.post(
    ONE + "/payment", status_code=201, response_model=PaymentRead, responses=problems(401, 403, 404, 409, 422, 503)
)
async def start_payment(
    application_id: ApplicationId, principal: PermitsCaller, session: SessionDep, cloud: CloudDep, _key: ApplicantKey
) -> PaymentRead:
    """Pay the fees due: a payment order at the government cloud (the open one again, if any) and its payment page."""
    row = await attachments.start_payment(
        session=session, principal=principal, payments=cloud.payments, application_id=application_id
    )
    return _payment(row)


@router.get(ONE + "/payment", response_model=PaymentRead, responses=problems(401, 403, 404, 409, 422))
async def read_payment(
    application_id: ApplicationId, principal: PermitsCaller, session: RecordingSessionDep
) -> PaymentRead:
    """The latest payment of the application's fees and its status."""
    return _payment(
        await attachments.latest_payment(session=session, principal=principal, application_id=application_id)
    )


# -- the public register ------------------------------------------------------------------------------------------


@router.get("/register", response_model=Page[RegisterEntry], responses=problems(422, 429), dependencies=[PublicCaller])
async def public_register(
    session: SessionDep,
    language: Language,
    number: Annotated[str | None, Query(max_length=40, description="a permit number, exactly")] = None,
    holder: Annotated[
        str | None, Query(min_length=2, max_length=100, description="the start of the holder's name")
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[RegisterEntry]:
    """Issued permits by number or holder name: permit, holder, service, department and status, nothing more."""
    items, next_cursor = await service.register(
        session=session, number=number, holder=holder, limit=limit, cursor=cursor
    )
    return localize(Page(items=items, next_cursor=next_cursor), language)
