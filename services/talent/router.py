"""`/api/v1/talent`: rule sets (public reads, administrators write and activate versions) and what-if assessments."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from auth.guards import Admin
from core.db import DatabaseDep, SessionDep
from core.errors import problems
from core.http import ApiRoute, IfMatch, set_etag
from core.pagination import Cursor, Limit, Page
from services.talent import service
from services.talent.dependencies import AdminKey, Person, Reader, RuleSets
from services.talent.engine import Assessment
from services.talent.models import TalentRuleSet
from services.talent.rules import RuleSetDocument
from services.talent.schemas import AssessmentRequest, RuleSetRead, RuleSetStatus, RuleSetSummary

router = APIRouter(prefix="/api/v1/talent", tags=["talent"], route_class=ApiRoute)

RULE_SETS = "/rule-sets"
CodePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,62}$", description="the scheme, e.g. talent-island")]
VersionPath = Annotated[int, Path(ge=1, le=100_000)]


def _view(row: TalentRuleSet, principal: object, response: Response) -> RuleSetRead:
    set_etag(response, row.revision)
    return service.read(row, principal)  # type: ignore[arg-type]


@router.get(RULE_SETS, response_model=Page[RuleSetSummary], responses=problems(401, 422, 429))
async def list_rule_sets(
    principal: Reader,
    session: SessionDep,
    code: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9-]{1,62}$")] = None,
    status: Annotated[RuleSetStatus | None, Query()] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[RuleSetSummary]:
    """Every version of every scheme, by code and version (drafts are shown to administrators only)."""
    items, next_cursor = await service.listing(
        session=session, principal=principal, limit=limit, cursor=cursor, code=code, status=status
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(RULE_SETS, status_code=201, response_model=RuleSetRead, responses=problems(401, 403, 409, 422))
async def create_rule_set(
    data: RuleSetDocument, principal: Admin, session: SessionDep, response: Response, _key: AdminKey
) -> RuleSetRead:
    """Write the next version of a scheme (a new code starts at version 1). It is a draft until activated; the
    versions before it are never changed. Every problem in the document is reported with its field."""
    row = await service.create_rule_set(session=session, principal=principal, data=data)
    response.headers["Location"] = f"/api/v1/talent/rule-sets/{row.code}/versions/{row.version}"
    return _view(row, principal, response)


@router.get(RULE_SETS + "/{code}", response_model=RuleSetRead, responses=problems(401, 404, 422, 429))
async def read_active_rule_set(
    code: CodePath, principal: Reader, session: SessionDep, response: Response
) -> RuleSetRead:
    """The version of a scheme that assessments use now."""
    return _view(await service.get_active(session=session, code=code), principal, response)


@router.get(
    RULE_SETS + "/{code}/versions/{version}", response_model=RuleSetRead, responses=problems(401, 404, 422, 429)
)
async def read_rule_set_version(
    code: CodePath, version: VersionPath, principal: Reader, session: SessionDep, response: Response
) -> RuleSetRead:
    """One version, as it was written (a draft only for administrators)."""
    row = await service.get_version(session=session, principal=principal, code=code, version=version)
    return _view(row, principal, response)


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
    if_match: IfMatch = None,
) -> RuleSetRead:
    """Make this version the one assessments use (send If-Match); the version active before it is retired."""
    row = await service.activate(session=session, cache=cache, code=code, version=version, if_match=if_match)
    return _view(row, principal, response)


@router.post("/assessments", response_model=Assessment, responses=problems(401, 403, 404, 422, 429))
async def assess(data: AssessmentRequest, principal: Person, database: DatabaseDep, cache: RuleSets) -> Response:
    """What-if: the score, tier and per-criterion breakdown these claims would get. Only claims marked verified
    count. Nothing is stored."""
    assessment = await service.what_if(database=database, cache=cache, principal=principal, data=data)
    # Serialized straight from the engine's model: it is already the response schema.
    return Response(assessment.model_dump_json(), media_type="application/json")
