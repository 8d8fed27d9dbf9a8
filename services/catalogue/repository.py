"""All SQL of the catalogue. Search is the one place the two databases differ: FTS5 with bm25 on SQLite, a tsvector
with a GIN index and ts_rank on PostgreSQL, both over the tokens of services/catalogue/search.py."""

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, cast, column, delete, func, literal, literal_column, select, table, update
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlmodel.ext.asyncio.session import AsyncSession

from core.pagination import keyset, page_of
from services.catalogue.models import Department, ProcessingTimes, ServiceVersion
from services.catalogue.search import fts5_query, tsquery

_service = ServiceVersion.__table__
_department = Department.__table__
# The FTS5 index the SQLite migration creates over search_title / search_body (content table: catalogue_service).
_FTS = table("catalogue_service_fts", column("rowid"))

# What a list row needs: never the content document.
SUMMARY_COLUMNS = (
    _service.c.code,
    _service.c.version,
    _service.c.status,
    _service.c.department,
    _service.c.kind,
    _service.c.category,
    _service.c.audiences,
    _service.c.title_zh,
    _service.c.title_en,
    _service.c.summary_zh,
    _service.c.summary_en,
    _service.c.updated_at,
)

# The small parts of the content document a list shows.
_SMALL_PARTS = (
    _service.c.content["processing_time"].label("processing_time"),
    _service.c.content["keywords"].label("keywords"),
)


def _filters(
    *,
    department: str | None,
    category: str | None,
    audience: str | None,
    kind: str | None,
    status: str | None,
    modified_after: datetime | None = None,
) -> list[Any]:
    conditions: list[Any] = [_service.c.current.is_(True)]
    if modified_after:
        conditions.append(_service.c.updated_at > modified_after)
    if status:
        conditions.append(_service.c.status == status)
    if department:
        conditions.append(_service.c.department == department)
    if category:
        conditions.append(_service.c.category == category)
    if kind:
        conditions.append(_service.c.kind == kind)
    if audience:
        conditions.append(_service.c.audiences.contains(f",{audience},", autoescape=True))
    return conditions


async def list_current(
    session: AsyncSession, *, limit: int, cursor: str | None, **filters: Any
) -> tuple[list[Any], str | None]:
    """The version the public sees of each service, by code."""
    stmt = select(*SUMMARY_COLUMNS, *_SMALL_PARTS).where(*_filters(**filters))
    stmt = keyset(stmt, order_by=[_service.c.code], cursor=cursor, limit=limit)
    rows = (await session.execute(stmt)).mappings().all()
    return page_of(rows, limit=limit, key=lambda row: (row["code"],))


async def search_current(
    session: AsyncSession, *, terms: list[tuple[str, bool]], limit: int, offset: int, **filters: Any
) -> list[Any]:
    """Current services containing every term, most relevant first (title matches weigh ten times the rest)."""
    if session.bind.dialect.name == "postgresql":
        query = cast(literal(tsquery(terms)), TSQUERY)
        vector = literal_column("catalogue_service.search_vector")
        # Weights for D, C, B, A: a title or keyword match counts ten times a description match.
        score = func.ts_rank(literal_column("'{0, 0, 0.1, 1.0}'::float4[]"), vector, query)
        stmt = select(*SUMMARY_COLUMNS, *_SMALL_PARTS, score.label("score")).where(vector.op("@@")(query))
        order = [score.desc(), _service.c.code]
    else:
        rank = func.bm25(literal_column(_FTS.name), 10.0, 1.0)
        stmt = (
            select(*SUMMARY_COLUMNS, *_SMALL_PARTS, (-rank).label("score"))
            .select_from(_service.join(_FTS, _FTS.c.rowid == literal_column("catalogue_service.rowid")))
            .where(literal_column(_FTS.name).op("MATCH")(literal(fts5_query(terms))))
        )
        order = [rank, _service.c.code]
    stmt = stmt.where(*_filters(**filters)).order_by(*order).limit(limit + 1).offset(offset)
    return list((await session.execute(stmt)).mappings().all())


async def current(session: AsyncSession, code: str) -> ServiceVersion | None:
    stmt = select(ServiceVersion).where(ServiceVersion.code == code, ServiceVersion.current.is_(True))
    return (await session.execute(stmt)).scalars().first()


# Built once: every new application asks it, and building the expression cost more than running it.
_CURRENT_STATUS = select(ServiceVersion.id, ServiceVersion.status, ServiceVersion.kind).where(
    ServiceVersion.code == bindparam("code"), ServiceVersion.current.is_(True)
)


async def current_status(session: AsyncSession, code: str) -> Any:
    """(id, status, kind) of the current version: what deciding on a new application needs, without the content."""
    return (await session.execute(_CURRENT_STATUS, {"code": code})).first()


async def current_published_ids(session: AsyncSession, *, kind: str) -> list[uuid.UUID]:
    """Ids of the current published versions of every service of a kind, by code."""
    statement = (
        select(ServiceVersion.id)
        .where(ServiceVersion.kind == kind, ServiceVersion.current.is_(True), ServiceVersion.status == "published")
        .order_by(ServiceVersion.code)
    )
    return list((await session.execute(statement)).scalars())


async def version(session: AsyncSession, code: str, number: int) -> ServiceVersion | None:
    stmt = select(ServiceVersion).where(ServiceVersion.code == code, ServiceVersion.version == number)
    return (await session.execute(stmt)).scalars().first()


async def versions(session: AsyncSession, code: str, *, include_drafts: bool) -> list[ServiceVersion]:
    stmt = select(ServiceVersion).where(ServiceVersion.code == code)
    if not include_drafts:
        stmt = stmt.where(ServiceVersion.status != "draft")
    return list((await session.execute(stmt.order_by(ServiceVersion.version.desc()))).scalars())


async def latest(session: AsyncSession, code: str) -> ServiceVersion | None:
    """The newest version of a code (a draft, if one exists)."""
    stmt = select(ServiceVersion).where(ServiceVersion.code == code)
    return (await session.execute(stmt.order_by(ServiceVersion.version.desc()).limit(1))).scalars().first()


async def make_current(session: AsyncSession, row: ServiceVersion) -> ServiceVersion | None:
    """`row` becomes what the public sees; returns the version it replaces (if one was published, it is deprecated
    by the caller)."""
    previous = await current(session, row.code)
    if previous is not None and previous.id != row.id:
        previous.current = False
        session.add(previous)
    row.current = True
    return previous


async def department(session: AsyncSession, code: str) -> Department | None:
    return await session.get(Department, code)


async def departments(session: AsyncSession) -> list[Department]:
    return list((await session.execute(select(Department).order_by(Department.code))).scalars())


async def count_current(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(_service).where(_service.c.current))).scalar_one()


async def unset_current(session: AsyncSession, service_id: uuid.UUID) -> None:
    await session.execute(update(_service).where(_service.c.id == service_id).values(current=False))


async def processing_times(session: AsyncSession, code: str) -> ProcessingTimes | None:
    return await session.get(ProcessingTimes, code)


async def keep_processing_times(session: AsyncSession, codes: Collection[str]) -> None:
    """Remove the figures of every service but these."""
    await session.execute(delete(ProcessingTimes).where(ProcessingTimes.code.not_in(list(codes))))


async def save_processing_times(session: AsyncSession, row: ProcessingTimes) -> None:
    await session.merge(row)
