"""The catalogue API: public reads (no token), the editors' drafts, the publishers' lifecycle actions, and the
Open311 and CPSV-AP renderings partners map onto."""

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from auth.guards import Admin, MaybeSignedIn, PublicCaller
from core.db import DatabaseDep, SessionDep
from core.errors import problems
from core.http import ApiRoute, IfMatch, etag, set_etag
from core.http.language import BOTH, LangParam, Language, language_headers, pick_language
from core.pagination import (
    MAX_OFFSET,
    Cursor,
    Instant,
    Limit,
    Page,
    bind_cursor,
    decode_offset,
    encode_offset,
    unbind_cursor,
)
from core.settings import Settings
from services.catalogue import render, repository, service
from services.catalogue.dependencies import Cache, Editor, PublicCache, Publisher, etag_of
from services.catalogue.exceptions import ServiceNotFound
from services.catalogue.schemas import (
    Audience,
    DepartmentRead,
    Kind,
    ServiceCreate,
    ServiceRead,
    ServiceSummary,
    ServiceUpdate,
    Status,
)
from services.catalogue.schemas import Department as DepartmentIn
from services.catalogue.search import query_terms
from services.catalogue.workflow import SERVICE_LIFECYCLE

router = APIRouter(prefix="/api/v1/catalogue", tags=["catalogue"], route_class=ApiRoute)
open311 = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=ApiRoute)

CodePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,62}$")]
VersionPath = Annotated[int, Path(ge=1, le=100_000)]
CACHE_CONTROL = "public, max-age=30"


async def _public(
    request: Request,
    cache: PublicCache | None,
    language: str,
    build: Callable[[], Awaitable[Any]],
    *,
    media_type: str = "application/json",
    version_of: Callable[[Any], int] | None = None,
) -> Response:
    """A public response with an ETag and 304 on If-None-Match, served from the per-process cache when given one.

    The ETag is a weak hash of the body, or, for a resource that is changed with If-Match, the strong tag of the
    version it shows in this language (`version_of` reads it from what `build` made), which a PUT's If-Match takes."""
    # The query as given, encoded and in its order: sorted, or joined raw, two queries FastAPI reads differently (a
    # repeated parameter counts its last value; an encoded "&" is part of a value) shared a key, and one poisoned the
    # other's cached answer for everyone.
    # Only the parameters the route reads: others change nothing in the answer, and each new junk value would have
    # missed the cache (a query each) and, past its size, flushed it for everyone.
    known = {parameter.alias for parameter in request.scope["route"].dependant.query_params} - {"lang"}
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k in known])
    key = f"{request.url.path}?{query}|{language}"
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        built = await build()
        body = json.dumps(built, ensure_ascii=False, separators=(",", ":")).encode()
        tag = etag(version_of(built), language) if version_of else etag_of(body)
        if cache is not None:
            cache.put(key, body, media_type, language, tag)
    else:
        body, tag = hit[0], hit[3]
    headers = {
        "ETag": tag,
        "Cache-Control": CACHE_CONTROL,
        **language_headers(language),
    }
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" and "x" are the same tag there; "*" matches whatever
    # representation there is (a 404 never gets this far).
    candidates = {
        candidate.strip().removeprefix("W/") for candidate in request.headers.get("if-none-match", "").split(",")
    }
    if "*" in candidates or tag.removeprefix("W/") in candidates:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _service_response(row: Any, language: str, principal: Any, response: Response) -> dict[str, Any]:
    set_etag(response, row.revision)
    return render.service(row, language, allowed_actions=service.allowed_actions(principal, row))


# -- public reads ---------------------------------------------------------------------------------------------------


@router.get(
    "/departments",
    response_model=list[DepartmentRead],
    dependencies=[PublicCaller],
    responses=problems(422, 429),
    summary="Departments (competent authorities)",
)
async def list_departments(request: Request, database: DatabaseDep, cache: Cache, lang: LangParam = None) -> Response:
    language = pick_language(request, lang)

    async def build() -> Any:
        async with database.transaction(write=False) as session:
            return [render.department(row, language) for row in await repository.departments(session)]

    return await _public(request, cache, language, build)


@router.get(
    "/departments/{code}", response_model=DepartmentRead, dependencies=[PublicCaller], responses=problems(404, 422, 429)
)
async def read_department(
    code: Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,39}$")],
    request: Request,
    database: DatabaseDep,
    cache: Cache,
    lang: LangParam = None,
) -> Response:
    language = pick_language(request, lang)

    async def build() -> Any:
        async with database.transaction(write=False) as session:
            return render.department(await service.get_department(session=session, code=code), language)

    return await _public(request, cache, language, build, version_of=lambda department: department["version"])


@router.get(
    "/services",
    response_model=Page[ServiceSummary],
    dependencies=[PublicCaller],
    responses=problems(422, 429),
    summary="List or search the catalogue",
)
async def list_services(
    request: Request,
    database: DatabaseDep,
    cache: Cache,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="search, in Chinese or English")] = None,
    department: Annotated[str | None, Query(max_length=40)] = None,
    category: Annotated[str | None, Query(max_length=63)] = None,
    audience: Audience | None = None,
    kind: Kind | None = None,
    status: Status = "published",
    modified_after: Annotated[
        Instant | None,
        Query(
            description="only services whose version changed since (for a partner's sync; with status=withdrawn, "
            "those withdrawn since)"
        ),
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
    lang: LangParam = None,
) -> Response:
    """Without `q`, services by code (keyset pages). With `q`, the most relevant first (title and keywords weigh
    most); every word must match, Chinese by character pairs, English words by prefix."""
    language = pick_language(request, lang)
    filters = {
        "department": department,
        "category": category,
        "audience": audience,
        "kind": kind,
        "status": status,
        "modified_after": modified_after,
    }
    if status == "draft":
        filters["status"] = "__none__"  # drafts are never public
    terms = query_terms(q) if q is not None else None
    # A cursor pages through the results of one search with one set of filters (not one page size or language).
    query = {"terms": terms, **filters}
    position = unbind_cursor(cursor, query)

    async def build() -> Any:
        if terms is None:
            async with database.transaction(write=False) as session:
                rows, next_cursor = await repository.list_current(session, limit=limit, cursor=position, **filters)
            items = [render.summary(row, language) for row in rows]
            return {"items": items, "next_cursor": bind_cursor(next_cursor, query)}
        if not terms:
            return {"items": [], "next_cursor": None}
        offset = decode_offset(position)  # relevance has no stable key to page by: the cursor is the rank offset
        async with database.transaction(write=False) as session:
            rows = await repository.search_current(session, terms=terms, limit=limit, offset=offset, **filters)
        more = len(rows) > limit and offset + limit <= MAX_OFFSET
        items = [render.summary(row, language, score=row["score"]) for row in rows[:limit]]
        return {"items": items, "next_cursor": bind_cursor(encode_offset(offset + limit), query) if more else None}

    # Searches are long-tail: caching them would keep memory busy for little; lists and pages are cached.
    return await _public(request, cache if q is None else None, language, build)


@router.get(
    "/services/{code}",
    response_model=ServiceRead,
    dependencies=[PublicCaller],
    responses=problems(404, 422, 429),
    summary="The current version of a service",
)
async def read_service(
    code: CodePath, request: Request, database: DatabaseDep, cache: Cache, lang: LangParam = None
) -> Response:
    language = pick_language(request, lang)

    async def build() -> Any:
        async with database.transaction(write=False) as session:
            rendered = render.service(await service.published_version(session=session, code=code), language)
            rendered["actual_processing_time"] = await service.actual_processing_time(session=session, code=code)
            return rendered

    return await _public(request, cache, language, build)


@router.get(
    "/services/{code}/jsonld",
    response_model=dict[str, Any],
    dependencies=[PublicCaller],
    responses={**problems(404, 422, 429), 200: {"content": {"application/ld+json": {"schema": {"type": "object"}}}}},
    summary="The current version as CPSV-AP 3.2 JSON-LD",
)
async def service_jsonld(code: CodePath, request: Request, database: DatabaseDep, cache: Cache) -> Response:
    settings: Settings = request.app.state.settings

    async def build() -> Any:
        async with database.transaction(write=False) as session:
            row = await service.published_version(session=session, code=code)
            owner = await service.get_department(session=session, code=row.department)
        return render.jsonld(row, owner, settings.issuer)

    return await _public(request, cache, BOTH, build, media_type="application/ld+json")


@router.get(
    "/services/{code}/versions",
    response_model=list[ServiceRead],
    responses=problems(401, 404, 422),
    summary="Every version of a service (drafts too, for the editors of its department)",
)
async def list_versions(
    code: CodePath, session: SessionDep, principal: MaybeSignedIn, language: Language
) -> list[dict[str, Any]]:
    rows = await repository.versions(session, code, include_drafts=True)
    visible = [
        row
        for row in rows
        if row.status != "draft"
        or service.is_editor_of(principal, row)
        or (principal is not None and principal.has_role("publisher"))
    ]
    if not visible:
        raise ServiceNotFound()
    return [render.service(row, language, allowed_actions=service.allowed_actions(principal, row)) for row in visible]


@router.get(
    "/services/{code}/versions/{version}",
    response_model=ServiceRead,
    responses=problems(401, 404, 422),
    summary="One version (a draft only for its department's editors and publishers)",
)
async def read_version(
    code: CodePath,
    version: VersionPath,
    response: Response,
    session: SessionDep,
    principal: MaybeSignedIn,
    language: Language,
) -> dict[str, Any]:
    row = await repository.version(session, code, version)
    publisher = principal is not None and principal.has_role("publisher")
    if row is None or (row.status == "draft" and not (service.is_editor_of(principal, row) or publisher)):
        raise ServiceNotFound()
    return _service_response(row, language, principal, response)


# -- editors and publishers -----------------------------------------------------------------------------------------


@router.post(
    "/services",
    status_code=201,
    response_model=ServiceRead,
    responses=problems(401, 403, 409, 422),
    summary="Draft a new service (editors, own department)",
)
async def create_service(
    data: ServiceCreate, principal: Editor, session: SessionDep, response: Response, cache: Cache, language: Language
) -> dict[str, Any]:
    row = await service.create_service(session=session, principal=principal, data=data)
    response.headers["Location"] = f"/api/v1/catalogue/services/{row.code}/versions/{row.version}"
    cache.clear()
    return _service_response(row, language, principal, response)


@router.post(
    "/services/{code}/versions",
    status_code=201,
    response_model=ServiceRead,
    responses=problems(401, 403, 404, 409, 422),
    summary="Draft the next version of a service",
)
async def create_version(
    code: CodePath, principal: Editor, session: SessionDep, response: Response, cache: Cache, language: Language
) -> dict[str, Any]:
    row = await service.new_version(session=session, principal=principal, code=code)
    response.headers["Location"] = f"/api/v1/catalogue/services/{row.code}/versions/{row.version}"
    cache.clear()
    return _service_response(row, language, principal, response)


@router.put(
    "/services/{code}/versions/{version}",
    response_model=ServiceRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
    summary="Replace a draft (send If-Match)",
)
async def update_draft(
    code: CodePath,
    version: VersionPath,
    data: ServiceUpdate,
    principal: Editor,
    session: SessionDep,
    response: Response,
    cache: Cache,
    language: Language,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    row = await service.update_draft(
        session=session, principal=principal, code=code, version=version, data=data, if_match=if_match
    )
    cache.clear()
    return _service_response(row, language, principal, response)


@router.delete(
    "/services/{code}/versions/{version}",
    status_code=204,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
    summary="Discard a draft",
)
async def discard_draft(
    code: CodePath, version: VersionPath, principal: Editor, session: SessionDep, cache: Cache, if_match: IfMatch = None
) -> Response:
    await service.discard_draft(session=session, principal=principal, code=code, version=version, if_match=if_match)
    cache.clear()
    return Response(status_code=204)


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, min_length=1, max_length=1000)


ActionPath = Annotated[
    str,
    Path(
        description=f"one of: {', '.join(SERVICE_LIFECYCLE.actions)}",
        json_schema_extra={"enum": SERVICE_LIFECYCLE.actions},
    ),
]


@router.post(
    "/services/{code}/versions/{version}/actions/{action}",
    response_model=ServiceRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
    summary="Publish, deprecate or withdraw",
)
async def take_action(
    code: CodePath,
    version: VersionPath,
    action: ActionPath,
    principal: Publisher,
    session: SessionDep,
    response: Response,
    cache: Cache,
    language: Language,
    body: ActionIn | None = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    row = await service.transition(
        session=session,
        principal=principal,
        code=code,
        version=version,
        action=action,
        reason=body.reason if body else None,
        if_match=if_match,
    )
    cache.clear()
    return _service_response(row, language, principal, response)


@router.post(
    "/departments",
    status_code=201,
    response_model=DepartmentRead,
    responses=problems(401, 403, 409, 422),
    summary="Add a department (administrators)",
)
async def create_department(
    data: DepartmentIn, _: Admin, session: SessionDep, response: Response, cache: Cache, language: Language
) -> dict[str, Any]:
    row = await service.create_department(session=session, data=data)
    cache.clear()
    response.headers["ETag"] = etag(row.version, language)  # as the public read tags this language's variant
    return render.department(row, language)


@router.put(
    "/departments/{code}",
    response_model=DepartmentRead,
    responses=problems(401, 403, 404, 412, 422, 428),
    summary="Change a department (administrators)",
)
async def update_department(
    code: Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,39}$")],
    data: DepartmentIn,
    _: Admin,
    session: SessionDep,
    response: Response,
    cache: Cache,
    language: Language,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    row = await service.update_department(session=session, code=code, data=data, if_match=if_match)
    cache.clear()
    response.headers["ETag"] = etag(row.version, language)  # as the public read tags this language's variant
    return render.department(row, language)


# -- Open311 GeoReport v2 -------------------------------------------------------------------------------------------


class Open311Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class Open311Value(BaseModel):
    key: str
    name: str


class Open311Attribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[Open311Value] | None = None


class Open311Definition(BaseModel):
    service_code: str
    attributes: list[Open311Attribute]


Open311Lang = Annotated[str | None, Query(pattern="^(zh-CN|en)$", description="zh-CN (default) or en")]


@open311.get(
    "/services.json",
    response_model=list[Open311Service],
    dependencies=[PublicCaller],
    responses=problems(422, 429),
    summary="GeoReport v2: the published services",
)
async def open311_services(request: Request, database: DatabaseDep, cache: Cache, lang: Open311Lang = None) -> Response:
    language = pick_language(request, lang)
    if language == BOTH:
        language = "zh-CN"

    async def build() -> Any:
        items, cursor = [], None
        async with database.transaction(write=False) as session:
            while True:  # every published service, in pages
                rows, cursor = await repository.list_current(
                    session,
                    limit=100,
                    cursor=cursor,
                    department=None,
                    category=None,
                    audience=None,
                    kind=None,
                    status="published",
                )
                for row in rows:
                    keywords = (row["keywords"] or {}).get("en" if language == "en" else "zh-CN", [])
                    items.append(render.open311_service(row, keywords, language))
                if cursor is None:
                    return items

    return await _public(request, cache, language, build)


@open311.get(
    "/services/{code}.json",
    response_model=Open311Definition,
    dependencies=[PublicCaller],
    responses=problems(404, 422, 429),
    summary="GeoReport v2: a service definition and its attributes",
)
async def open311_definition(
    code: CodePath, request: Request, database: DatabaseDep, cache: Cache, lang: Open311Lang = None
) -> Response:
    language = pick_language(request, lang)
    if language == BOTH:
        language = "zh-CN"

    async def build() -> Any:
        async with database.transaction(write=False) as session:
            row = await service.published_version(session=session, code=code)
        if row.status != "published":
            raise ServiceNotFound()
        return render.open311_definition(row, language)

    return await _public(request, cache, language, build)
