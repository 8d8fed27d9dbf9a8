"""`/api/v1/talent`: rule sets (public reads, administrators write and activate versions), what-if assessments,
talent applications with their claims and evidence, and talent cards."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.guards import Admin, Principal
from auth.identity import Identity, IdentityDep
from core.comments import CommentCreate, CommentRead
from core.db import RecordingSessionDep, SessionDep, get_database
from core.errors import problems
from core.http import ApiRoute, IfMatch, JsonBody, set_etag
from core.http.language import LANG_PARAMETER, Language, language_headers, localize, requested_language
from core.pagination import Cursor, Limit, Page
from core.workflow import HistoryRead
from services.cloud.dependencies import CloudDep
from services.cloud.schemas import DocumentConfirm, PresignedRead
from services.talent import applications, service
from services.talent.dependencies import (
    AdminKey,
    ApplicantKey,
    ApplicationId,
    CallerKey,
    ClaimId,
    EvidenceId,
    Person,
    Reader,
    RuleSets,
    TalentApplicant,
    TalentCaller,
    UploadWindow,
    rule_set_cache,
)
from services.talent.engine import Assessment
from services.talent.models import TalentApplication, TalentRuleSet
from services.talent.rules import RuleSetDocument
from services.talent.schemas import ActionRequest as TalentActionRequest
from services.talent.schemas import (
    ApplicationCreate,
    AssessmentRequest,
    ClaimRead,
    ClaimVerification,
    DeclaredClaim,
    EvidenceChange,
    EvidenceUpload,
    EvidenceUploadRequest,
    RuleSetRead,
    RuleSetStatus,
    RuleSetSummary,
    TalentApplicationRead,
    TalentApplicationSummary,
    TalentCardRead,
)
from services.talent.service import RuleSetCache
from services.talent.workflow import SYSTEM, TALENT_LIFECYCLE

router = APIRouter(prefix="/api/v1/talent", tags=["talent"], route_class=ApiRoute)

RULE_SETS = "/rule-sets"
CodePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,62}$", description="the scheme, e.g. talent-island")]
VersionPath = Annotated[int, Path(ge=1, le=100_000)]


def _view(row: TalentRuleSet, principal: object, response: Response, language: str) -> RuleSetRead:
    set_etag(response, row.revision)
    return localize(service.read(row, principal), language)  # type: ignore[arg-type]


@router.get(RULE_SETS, response_model=Page[RuleSetSummary], responses=problems(401, 422, 429))
async def list_rule_sets(
    principal: Reader,
    session: SessionDep,
    language: Language,
    code: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9-]{1,62}$")] = None,
    status: Annotated[RuleSetStatus | None, Query()] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[RuleSetSummary]:
    """Every version of every scheme, by code and version (drafts are shown to administrators only)."""
    items, next_cursor = await service.listing(
        session=session, principal=principal, limit=limit, cursor=cursor, code=code, status=status
    )
    return localize(Page(items=items, next_cursor=next_cursor), language)


@router.post(RULE_SETS, status_code=201, response_model=RuleSetRead, responses=problems(401, 403, 409, 422))
async def create_rule_set(
    data: RuleSetDocument,
    principal: Admin,
    session: SessionDep,
    response: Response,
    language: Language,
    _key: AdminKey,
) -> RuleSetRead:
    """Write the next version of a scheme (a new code starts at version 1). It is a draft until activated; the
    versions before it are never changed. Every problem in the document is reported with its field."""
    row = await service.create_rule_set(session=session, principal=principal, data=data)
    response.headers["Location"] = f"/api/v1/talent/rule-sets/{row.code}/versions/{row.version}"
    return _view(row, principal, response, language)


@router.get(RULE_SETS + "/{code}", response_model=RuleSetRead, responses=problems(401, 404, 422, 429))
async def read_active_rule_set(
    code: CodePath, principal: Reader, session: SessionDep, response: Response, language: Language
) -> RuleSetRead:
    """The version of a scheme that assessments use now."""
    return _view(await service.get_active(session=session, code=code), principal, response, language)


@router.get(
    RULE_SETS + "/{code}/versions/{version}", response_model=RuleSetRead, responses=problems(401, 404, 422, 429)
)
async def read_rule_set_version(
    code: CodePath,
    version: VersionPath,
    principal: Reader,
    session: SessionDep,
    response: Response,
    language: Language,
) -> RuleSetRead:
    """One version, as it was written (a draft only for administrators)."""
    row = await service.get_version(session=session, principal=principal, code=code, version=version)
    return _view(row, principal, response, language)


@router.post(
    RULE_SETS + "/{code}/versions/{version}/actions/activate",
    response_model=RuleSetRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
)
async def activate_rule_set(
    code: CodePath,
    version: VersionPath,
    principal: Admin,
    session: SessionDep,
    cache: RuleSets,
    response: Response,
    language: Language,
    if_match: IfMatch = None,
) -> RuleSetRead:
    """Make this version the one assessments use (send If-Match); the version active before it is retired."""
    row = await service.activate(session=session, cache=cache, code=code, version=version, if_match=if_match)
    return _view(row, principal, response, language)


# The busiest route of the domain: its body is validated from the bytes (core.http.body).
ASSESSMENT_BODY = JsonBody(AssessmentRequest)


@router.post(
    "/assessments",
    response_model=Assessment,
    responses=problems(401, 403, 404, 422, 429),
    openapi_extra={**ASSESSMENT_BODY.openapi, "parameters": [LANG_PARAMETER]},
)
async def assess(principal: Person, request: Request) -> Response:
    """What-if: the score, tier and per-criterion breakdown these claims would get. Only claims marked verified
    count. Nothing is stored."""
    data = await ASSESSMENT_BODY.read(request)
    # The app's database and rule-set cache, and the language, are read off the request, not injected: on this hot
    # route each FastAPI dependency costs about 8 us per request, and these only fetch what the app and request hold.
    database, cache = await get_database(request), rule_set_cache(request.app)
    language = requested_language(request)
    # The engine's JSON is the response: an Assessment, serialized as it was made.
    assessment = await service.what_if(
        database=database, cache=cache, principal=principal, data=data, language=language
    )
    return Response(assessment, media_type="application/json", headers=language_headers(language))


# -- talent applications ---------------------------------------------------------------------------------------------

APPLICATIONS = "/applications"
ONE = "/applications/{application_id}"
# The actions a caller can ask for (the system's own steps are not in the API).
Action = Literal[tuple(t.action for t in TALENT_LIFECYCLE.transitions if t.actor != SYSTEM)]  # type: ignore[valid-type]
Status = Literal[TALENT_LIFECYCLE.states]  # type: ignore[valid-type]


def _context(identity: Identity, cache: RuleSetCache) -> applications.Context:
    return applications.Context(identity=identity, rules=cache)


async def _shown(
    session: AsyncSession,
    identity: Identity,
    principal: Principal,
    row: TalentApplication,
    response: Response,
    language: str,
) -> TalentApplicationRead:
    set_etag(response, row.version)
    # (the applicant's own reads are not logged; a sponsor's or an officer's are)
    return localize(await applications.read(session=session, identity=identity, principal=principal, row=row), language)


@router.post(
    APPLICATIONS, status_code=201, response_model=TalentApplicationRead, responses=problems(401, 403, 409, 422)
)
async def create_application(
    data: ApplicationCreate,
    principal: TalentApplicant,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    _key: ApplicantKey,
) -> TalentApplicationRead:
    """Start a talent registration (send an Idempotency-Key: a retry creates nothing twice). An employer's partner
    system sponsors a citizen with `on_behalf_of`."""
    row = await applications.create_application(session=session, identity=identity, principal=principal, data=data)
    response.headers["Location"] = f"/api/v1/talent/applications/{row.id}"
    return await _shown(session, identity, principal, row, response, language)


@router.get(APPLICATIONS, response_model=Page[TalentApplicationSummary], responses=problems(401, 403, 422))
async def list_applications(
    principal: TalentCaller,
    session: SessionDep,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[Status | None, Query()] = None,
    assignee: Annotated[Literal["me"] | None, Query(description="me: the applications you handle")] = None,
) -> Page[TalentApplicationSummary]:
    """Your applications, newest first; for the talent office, its queue, oldest deadline first."""
    items, next_cursor = await applications.listing(
        session=session,
        principal=principal,
        limit=limit,
        cursor=cursor,
        status=status,
        assignee=principal.account_id if assignee == "me" else None,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(ONE, response_model=TalentApplicationRead, responses=problems(401, 403, 404, 422))
async def read_application(
    application_id: ApplicationId,
    principal: TalentCaller,
    session: RecordingSessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
) -> TalentApplicationRead:
    """One application: its claims (figures masked unless you are the applicant or the reviewing officer), the
    scored result, the SLA clock and the actions you may take now. Staff reads land in the applicant's access log."""
    row = await applications.visible(session=session, principal=principal, application_id=application_id)
    return await _shown(session, identity, principal, row, response, language)


@router.post(
    ONE + "/actions/{action}",
    response_model=TalentApplicationRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
)
async def take_action(
    application_id: ApplicationId,
    action: Annotated[Action, Path(description="a step of the lifecycle; see allowed_actions")],
    principal: TalentCaller,
    session: SessionDep,
    identity: IdentityDep,
    cache: RuleSets,
    response: Response,
    language: Language,
    data: TalentActionRequest | None = None,
    if_match: IfMatch = None,
    dry_run: Annotated[bool, Query(description="show the outcome (state, score, SLA) without doing it")] = False,
) -> TalentApplicationRead:
    """Take a step of the lifecycle (send If-Match); `dry_run=true` answers what would happen and changes nothing."""
    view = await applications.act(
        session=session,
        context=_context(identity, cache),
        principal=principal,
        application_id=application_id,
        action=action,
        data=data or TalentActionRequest(),
        if_match=if_match,
        dry_run=dry_run,
    )
    if dry_run:
        response.headers["Preference-Applied"] = "dry-run"
    else:
        set_etag(response, view.version)
    return localize(view, language)


@router.get(ONE + "/comments", response_model=Page[CommentRead], responses=problems(401, 403, 404, 422))
async def list_comments(
    application_id: ApplicationId,
    principal: TalentCaller,
    session: RecordingSessionDep,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[CommentRead]:
    """The conversation on a registration, oldest first; the applicant and their sponsor see the comments meant for
    them, the talent office its internal notes too."""
    items, next_cursor = await applications.comments(
        session=session, principal=principal, application_id=application_id, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(ONE + "/comments", status_code=201, response_model=CommentRead, responses=problems(401, 403, 404, 422))
async def add_comment(
    application_id: ApplicationId,
    data: CommentCreate,
    principal: TalentCaller,
    session: SessionDep,
    _key: CallerKey,
) -> CommentRead:
    """Write to the applicant (or, the talent office only, an internal note), or to the officer handling the
    registration; the other side is told in their inbox. With an Idempotency-Key a retry writes it once."""
    return await applications.add_comment(
        session=session, principal=principal, application_id=application_id, data=data
    )


@router.get(ONE + "/history", response_model=Page[HistoryRead], responses=problems(401, 403, 404, 422))
async def application_history(
    application_id: ApplicationId, principal: TalentCaller, session: RecordingSessionDep
) -> Page[HistoryRead]:
    """Every step taken, oldest first: who (by role), from which state to which, and why. Staff and sponsor reads
    land in the applicant's access log."""
    rows = await applications.history(session=session, principal=principal, application_id=application_id)
    return Page(items=[HistoryRead.model_validate(row, from_attributes=True) for row in rows])


# -- claims and their evidence ----------------------------------------------------------------------------------------


@router.post(
    ONE + "/claims", status_code=201, response_model=TalentApplicationRead, responses=problems(401, 403, 404, 409, 422)
)
async def declare_claim(
    application_id: ApplicationId,
    data: DeclaredClaim,
    principal: TalentCaller,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    _key: ApplicantKey,
) -> TalentApplicationRead:
    """Declare a claim (education, employment, salary, award, patent, publication, language, birth date) while
    drafting or when asked (send an Idempotency-Key: a retry declares it once); then upload its evidence. Whether it
    is verified is found out, never declared."""
    row, item = await applications.declare(
        session=session, identity=identity, principal=principal, application_id=application_id, claim=data
    )
    response.headers["Location"] = f"/api/v1/talent/applications/{application_id}/claims/{item.id}"
    return await _shown(session, identity, principal, row, response, language)


@router.get(ONE + "/claims/{claim_id}", response_model=ClaimRead, responses=problems(401, 403, 404, 422))
async def read_claim(
    application_id: ApplicationId,
    claim_id: ClaimId,
    principal: TalentCaller,
    session: RecordingSessionDep,
    identity: IdentityDep,
) -> ClaimRead:
    """One claim with its evidence (figures masked as in the application)."""
    return await applications.claim_view(
        session=session, identity=identity, principal=principal, application_id=application_id, claim_id=claim_id
    )


@router.put(
    ONE + "/claims/{claim_id}",
    response_model=TalentApplicationRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
)
async def change_claim(
    application_id: ApplicationId,
    claim_id: ClaimId,
    data: DeclaredClaim,
    principal: TalentCaller,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    if_match: IfMatch = None,
) -> TalentApplicationRead:
    """Replace a claim (e.g. one that could not be verified; send the application's If-Match); it is verified
    again."""
    row, _item = await applications.declare(
        session=session,
        identity=identity,
        principal=principal,
        application_id=application_id,
        claim=data,
        claim_id=claim_id,
        if_match=if_match,
    )
    return await _shown(session, identity, principal, row, response, language)


@router.delete(
    ONE + "/claims/{claim_id}",
    response_model=TalentApplicationRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
)
async def drop_claim(
    application_id: ApplicationId,
    claim_id: ClaimId,
    principal: TalentCaller,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    if_match: IfMatch = None,
) -> TalentApplicationRead:
    """Drop a claim and its evidence (while drafting or when asked; send the application's If-Match). The answer is
    the application as it now is, with its new ETag: the If-Match of the next change."""
    row = await applications.drop_claim(
        session=session, principal=principal, application_id=application_id, claim_id=claim_id, if_match=if_match
    )
    return await _shown(session, identity, principal, row, response, language)


@router.post(
    ONE + "/claims/{claim_id}/verification",
    response_model=TalentApplicationRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
)
async def verify_claim(
    application_id: ApplicationId,
    claim_id: ClaimId,
    data: ClaimVerification,
    principal: TalentCaller,
    session: SessionDep,
    identity: IdentityDep,
    cache: RuleSets,
    response: Response,
    language: Language,
    if_match: IfMatch = None,
) -> TalentApplicationRead:
    """The talent officer decides a claim no registry could (send If-Match). A claim that cannot be verified sends
    the application to the applicant with the reason."""
    row = await applications.verify_claim(
        session=session,
        context=_context(identity, cache),
        principal=principal,
        application_id=application_id,
        claim_id=claim_id,
        data=data,
        if_match=if_match,
    )
    return await _shown(session, identity, principal, row, response, language)


@router.post(
    ONE + "/claims/{claim_id}/evidence",
    status_code=201,
    response_model=EvidenceUpload,
    responses=problems(401, 403, 404, 409, 413, 415, 422),
)
async def start_evidence_upload(
    application_id: ApplicationId,
    claim_id: ClaimId,
    data: EvidenceUploadRequest,
    principal: TalentCaller,
    session: SessionDep,
    cloud: CloudDep,
    upload_window: UploadWindow,
    _key: ApplicantKey,
) -> EvidenceUpload:
    """Announce a document behind a claim (an Idempotency-Key makes a retry announce it once); PUT the file to the
    returned URL, then confirm it with its SHA-256. A claim takes five documents: the uploaded ones, and those whose
    upload URL has not expired (a refused file can be sent again to the same URL until then)."""
    return await applications.start_evidence_upload(
        session=session,
        principal=principal,
        storage=cloud.storage,
        application_id=application_id,
        claim_id=claim_id,
        data=data,
        upload_window=upload_window,
    )


@router.post(
    ONE + "/evidence/{evidence_id}/confirm",
    response_model=EvidenceChange,
    responses=problems(401, 403, 404, 409, 413, 415, 422),
)
async def confirm_evidence(
    application_id: ApplicationId,
    evidence_id: EvidenceId,
    data: DocumentConfirm,
    principal: TalentCaller,
    session: SessionDep,
    cloud: CloudDep,
) -> EvidenceChange:
    """Check the stored file (size, SHA-256, real type) and mark the evidence uploaded."""
    return await applications.confirm_evidence(
        session=session,
        principal=principal,
        storage=cloud.storage,
        application_id=application_id,
        evidence_id=evidence_id,
        sha256=data.sha256,
    )


@router.delete(
    ONE + "/evidence/{evidence_id}",
    response_model=TalentApplicationRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
)
async def delete_evidence(
    application_id: ApplicationId,
    evidence_id: EvidenceId,
    principal: TalentCaller,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    if_match: IfMatch = None,
) -> TalentApplicationRead:
    """Delete a document of a claim that is not verified (while drafting or when asked; send the application's
    If-Match): a refused or abandoned upload, or a wrong file. Its file leaves storage. The answer is the application
    as it now is, with its new ETag: the If-Match of the next change."""
    row = await applications.delete_evidence(
        session=session, principal=principal, application_id=application_id, evidence_id=evidence_id, if_match=if_match
    )
    return await _shown(session, identity, principal, row, response, language)


@router.get(
    ONE + "/evidence/{evidence_id}/download", response_model=PresignedRead, responses=problems(401, 403, 404, 409, 422)
)
async def download_evidence(
    application_id: ApplicationId,
    evidence_id: EvidenceId,
    principal: TalentCaller,
    session: RecordingSessionDep,
    cloud: CloudDep,
) -> PresignedRead:
    """A short-lived download URL; staff downloads land in the applicant's access log."""
    return await applications.download_evidence(
        session=session,
        principal=principal,
        storage=cloud.storage,
        application_id=application_id,
        evidence_id=evidence_id,
    )


# -- talent cards -----------------------------------------------------------------------------------------------------


@router.get("/cards/{number}", response_model=TalentCardRead, responses=problems(401, 403, 404, 422))
async def read_card(
    number: Annotated[str, Path(pattern=r"^[A-Z0-9-]{1,40}$", description="e.g. TI-TALENT-2026-000123")],
    principal: TalentCaller,
    session: RecordingSessionDep,
    language: Language,
) -> TalentCardRead:
    """A talent card for its holder (or the talent office): tier, validity, live status, the signed card for its QR
    code, and the benefits the tier unlocks. Anyone checks a card at /api/v1/credentials/verify."""
    return localize(await applications.card(session=session, principal=principal, number=number), language)
