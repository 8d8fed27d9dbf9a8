"""All SQL of talent rule sets."""

from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.pagination import keyset, page_of
from services.talent.models import TalentRuleSet

_rule_set = TalentRuleSet.__table__

# What a list row needs: never the document.
SUMMARY_COLUMNS = (
    _rule_set.c.code,
    _rule_set.c.version,
    _rule_set.c.status,
    _rule_set.c.name_zh,
    _rule_set.c.name_en,
    _rule_set.c.created_at,
    _rule_set.c.activated_at,
    _rule_set.c.retired_at,
)


async def version(session: AsyncSession, code: str, number: int) -> TalentRuleSet | None:
    statement = select(TalentRuleSet).where(TalentRuleSet.code == code, TalentRuleSet.version == number)
    return (await session.execute(statement)).scalar()


async def active(session: AsyncSession, code: str) -> TalentRuleSet | None:
    statement = select(TalentRuleSet).where(TalentRuleSet.code == code, TalentRuleSet.status == "active")
    return (await session.execute(statement)).scalar()


async def latest_version(session: AsyncSession, code: str) -> int | None:
    statement = select(func.max(_rule_set.c.version)).where(_rule_set.c.code == code)
    return (await session.execute(statement)).scalar()


async def document(session: AsyncSession, code: str, number: int | None) -> Any:
    """(version, status, document) of one version, or of the active one when `number` is None; the hot path's read."""
    statement = select(_rule_set.c.version, _rule_set.c.status, _rule_set.c.document).where(_rule_set.c.code == code)
    if number is None:
        statement = statement.where(_rule_set.c.status == "active")
    else:
        statement = statement.where(_rule_set.c.version == number)
    return (await session.execute(statement)).first()


async def listing(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    code: str | None,
    statuses: tuple[str, ...],
) -> tuple[list[Any], str | None]:
    """One keyset page of summaries, by code then version."""
    statement = select(*SUMMARY_COLUMNS).where(_rule_set.c.status.in_(statuses))
    if code is not None:
        statement = statement.where(_rule_set.c.code == code)
    statement = keyset(statement, order_by=[_rule_set.c.code, _rule_set.c.version], cursor=cursor, limit=limit)
    rows = (await session.execute(statement)).mappings().all()
    return page_of(rows, limit=limit, key=lambda row: (row["code"], row["version"]))
