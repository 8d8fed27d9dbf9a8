"""All SQL of talent rule sets and applications. Whose applications a caller may see is part of every query (DESIGN 6):
one outside the caller's reach matches no row, so it is a 404, never a 403 that confirms it exists."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.guards import Principal
from auth.repository import mandate_stands
from core.db import take_turns
from core.pagination import keyset, page_of
from services.talent.models import (
    OPEN_STATES,
    TalentApplication,
    TalentClaim,
    TalentEvidence,
    TalentHistory,
    TalentRuleSet,
)
from services.talent.workflow import DEPARTMENT

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


# The PostgreSQL advisory lock class of rule-set writes (any fixed number); the scheme's code names the lock in it.
_SCHEME_WRITES = 0x7415_5C4E


async def hold_scheme(session: AsyncSession, code: str) -> None:
    """Writers of one scheme's next version take turns: read side by side, they numbered it alike, and all but one
    failed on the key with a bare 409."""
    await take_turns(session, _SCHEME_WRITES, code)


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


# -- applications ----------------------------------------------------------------------------------------------------

_app = TalentApplication.__table__


def is_staff(principal: Principal) -> bool:
    """A talent officer or supervisor of the talent office."""
    return (
        "talent:review" in principal.scopes
        and principal.has_role("talent_officer", "supervisor")
        and principal.department == DEPARTMENT
    )


def reach(principal: Principal) -> ColumnElement[bool]:
    """A person sees their own (with talent:apply), and staff also what was sent to the talent office; a sponsoring
    partner what it filed for a citizen whose mandate still stands."""
    if not principal.is_person:
        if "partner:submit" not in principal.scopes:
            return false()
        return (_app.c.sponsored_by_client == principal.client_id) & mandate_stands(
            _app.c.applicant_id, principal.client_id
        )
    own = _app.c.applicant_id == principal.account_id if "talent:apply" in principal.scopes else false()
    return (own | queue()) if is_staff(principal) else own


def queue() -> ColumnElement[bool]:
    """What was sent to the talent office. (Staff list only this, by deadline: their own applications they list with
    a token without the staff scope.)"""
    return _app.c.submitted_at.is_not(None)


async def application(
    session: AsyncSession, application_id: uuid.UUID, *, within: ColumnElement[bool] | None = None
) -> TalentApplication | None:
    statement = select(TalentApplication).where(TalentApplication.id == application_id)
    if within is not None:
        statement = statement.where(within)
    return (await session.execute(statement)).scalar()


async def applications(
    session: AsyncSession,
    *,
    within: ColumnElement[bool],
    staff: bool,
    limit: int,
    cursor: str | None,
    status: str | None,
    assignee: uuid.UUID | None,
) -> list[TalentApplication]:
    """One keyset page (plus one row): staff by deadline, a person their own newest first."""
    statement = select(TalentApplication).where(within)
    if status:
        statement = statement.where(_app.c.status == status)
    if assignee:
        statement = statement.where(_app.c.assignee_id == assignee)
    if staff:
        page = keyset(statement, order_by=[_app.c.due_at, _app.c.id], cursor=cursor, limit=limit)
    else:
        page = keyset(statement, order_by=[_app.c.id], cursor=cursor, limit=limit, descending=True)
    return list((await session.execute(page)).scalars())


async def claims(session: AsyncSession, application_id: uuid.UUID) -> list[TalentClaim]:
    statement = select(TalentClaim).where(TalentClaim.application_id == application_id).order_by(TalentClaim.id)
    return list((await session.execute(statement)).scalars())


async def claim(session: AsyncSession, application_id: uuid.UUID, claim_id: uuid.UUID) -> TalentClaim | None:
    statement = select(TalentClaim).where(TalentClaim.id == claim_id, TalentClaim.application_id == application_id)
    return (await session.execute(statement)).scalar()


async def evidence(session: AsyncSession, application_id: uuid.UUID) -> list[TalentEvidence]:
    statement = (
        select(TalentEvidence).where(TalentEvidence.application_id == application_id).order_by(TalentEvidence.id)
    )
    return list((await session.execute(statement)).scalars())


async def claim_object_keys(session: AsyncSession, claim_id: uuid.UUID) -> list[str]:
    """The storage keys of a claim's evidence files."""
    statement = select(TalentEvidence.object_key).where(TalentEvidence.claim_id == claim_id).order_by(TalentEvidence.id)
    return list((await session.execute(statement)).scalars())


async def object_keys_in_use(session: AsyncSession, keys: list[str]) -> set[str]:
    """Those of `keys` that some evidence still names (a renewal's claims share their files with the old ones)."""
    statement = select(TalentEvidence.object_key).where(TalentEvidence.object_key.in_(keys))
    return set((await session.execute(statement)).scalars())


async def evidence_item(
    session: AsyncSession, application_id: uuid.UUID, evidence_id: uuid.UUID
) -> TalentEvidence | None:
    statement = select(TalentEvidence).where(
        TalentEvidence.id == evidence_id, TalentEvidence.application_id == application_id
    )
    return (await session.execute(statement)).scalar()


async def history(session: AsyncSession, application_id: uuid.UUID) -> list[TalentHistory]:
    statement = select(TalentHistory).where(TalentHistory.application_id == application_id).order_by(TalentHistory.id)
    return list((await session.execute(statement)).scalars())


async def open_application_of(session: AsyncSession, applicant_id: uuid.UUID) -> uuid.UUID | None:
    """The person's application that is not over yet (one at a time: a card is renewed by a new one afterwards)."""
    statement = select(_app.c.id).where(_app.c.applicant_id == applicant_id, _app.c.status.in_(OPEN_STATES)).limit(1)
    return (await session.execute(statement)).scalar()


async def card_holder(session: AsyncSession, account_id: uuid.UUID) -> TalentApplication | None:
    """The person's newest application that a card was issued for."""
    statement = (
        select(TalentApplication)
        .where(TalentApplication.applicant_id == account_id, TalentApplication.status == "card_issued")
        .order_by(TalentApplication.decided_at.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar()


async def earlier_cards(session: AsyncSession, application: TalentApplication) -> list[TalentApplication]:
    """The person's other applications that a card was issued for (a renewal replaces their cards)."""
    statement = select(TalentApplication).where(
        TalentApplication.applicant_id == application.applicant_id,
        TalentApplication.status == "card_issued",
        TalentApplication.id != application.id,
    )
    return list((await session.execute(statement)).scalars())


async def by_card_number(session: AsyncSession, number: str) -> TalentApplication | None:
    statement = select(TalentApplication).where(TalentApplication.card_number == number)
    return (await session.execute(statement)).scalar()


async def overdue_answers(session: AsyncSession, now: datetime, *, limit: int = 200) -> list[TalentApplication]:
    statement = (
        select(TalentApplication)
        .where(TalentApplication.status == "awaiting_applicant", TalentApplication.answer_due_at < now)
        .order_by(TalentApplication.answer_due_at)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())
