"""All SQL of credentials. Who may see a credential is part of every query that reads one for a caller: another
person's credential, or another department's, matches no row (a 404, never a 403 that confirms it exists)."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.credentials.models import Credential


async def get(session: AsyncSession, credential_id: uuid.UUID) -> Credential | None:
    return await session.get(Credential, credential_id)


async def visible(
    session: AsyncSession,
    credential_id: uuid.UUID,
    *,
    account_id: uuid.UUID | None,
    held_kinds: Sequence[str],
    department: str | None,
    kinds: Sequence[str],
) -> Credential | None:
    """The credential if the caller holds it and their token shows its kind (`held_kinds`), or is staff of its issuing
    department with the scope for its kind (`kinds`)."""
    holder = (
        and_(Credential.holder_account_id == account_id, Credential.kind.in_(list(held_kinds)))
        if account_id is not None and held_kinds
        else false()
    )
    staff = (
        and_(Credential.department == department, Credential.kind.in_(list(kinds)))
        if department is not None and kinds
        else false()
    )
    statement = select(Credential).where(Credential.id == credential_id, or_(holder, staff))
    return (await session.execute(statement)).scalar()


async def by_number(session: AsyncSession, number: str) -> Credential | None:
    return (await session.execute(select(Credential).where(Credential.number == number))).scalar()


async def by_numbers(session: AsyncSession, numbers: list[str]) -> list[Credential]:
    if not numbers:
        return []
    return list((await session.execute(select(Credential).where(Credential.number.in_(numbers)))).scalars())


async def by_subject(session: AsyncSession, subject_type: str, subject_id: uuid.UUID) -> list[Credential]:
    """Every credential issued for the subject, newest first (a renewal issues a new one)."""
    statement = (
        select(Credential)
        .where(Credential.subject_type == subject_type, Credential.subject_id == subject_id)
        .order_by(Credential.id.desc())
    )
    return list((await session.execute(statement)).scalars())


async def of_holder(
    session: AsyncSession, account_id: uuid.UUID, *, kinds: Sequence[str], limit: int, before: uuid.UUID | None
) -> list[Credential]:
    """The holder's credentials of these kinds, newest first; one more than `limit` to tell whether a page follows."""
    statement = select(Credential).where(Credential.holder_account_id == account_id, Credential.kind.in_(list(kinds)))
    if before is not None:
        statement = statement.where(Credential.id < before)
    return list((await session.execute(statement.order_by(Credential.id.desc()).limit(limit + 1))).scalars())


async def expiring(
    session: AsyncSession, *, now: datetime, until: datetime, after: uuid.UUID | None, limit: int
) -> list[Credential]:
    """Active credentials still valid at `now` whose validity ends by `until`, in id order from `after`."""
    statement = select(Credential).where(
        Credential.status == "active", Credential.valid_until > now, Credential.valid_until <= until
    )
    if after is not None:
        statement = statement.where(Credential.id > after)
    return list((await session.execute(statement.order_by(Credential.id).limit(limit))).scalars())


async def statuses(session: AsyncSession, numbers: list[str]) -> list[Any]:
    """(number, status, valid_until, replaced_by) of these credentials, in one query (the public register's page)."""
    if not numbers:
        return []
    statement = select(Credential.number, Credential.status, Credential.valid_until, Credential.replaced_by).where(
        Credential.number.in_(numbers)
    )
    return list((await session.execute(statement)).all())
