"""All SQL of codes, password changes and resets."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.models import Account, LoginSession, RefreshToken
from auth.recovery.models import PhoneCode
from core.models import utcnow

_code = PhoneCode.__table__
_account = Account.__table__
_session = LoginSession.__table__
_refresh = RefreshToken.__table__


async def account_by_phone(session: AsyncSession, phone_hash: str) -> Any | None:
    """(id, kind, status) of the account with this phone number, if any."""
    stmt = select(_account.c.id, _account.c.kind, _account.c.status).where(_account.c.phone_hash == phone_hash)
    return (await session.execute(stmt)).first()


async def newest_code_at(session: AsyncSession, phone_hash: str) -> datetime | None:
    """When the number's newest code (of any purpose) was made."""
    stmt = select(func.max(_code.c.created_at)).where(_code.c.phone_hash == phone_hash)
    return (await session.execute(stmt)).scalar()


async def add_code(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(_code).values(**values))


async def take_try(
    session: AsyncSession, *, phone_hash: str, purpose: str, now: datetime, max_tries: int
) -> Any | None:
    """Count a try against the newest code of this number and purpose, if it is still good (unused, unexpired, tries
    left); (id, code_hash, account_id) of the code, or None. Counted before the code is compared, in one statement,
    so tries sent at once cannot pass the limit together (each waits for the row the one before it changed)."""
    newest = (
        select(_code.c.id)
        .where(_code.c.phone_hash == phone_hash, _code.c.purpose == purpose)
        .order_by(_code.c.created_at.desc(), _code.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        update(_code)
        .where(
            _code.c.id == newest,
            _code.c.used_at.is_(None),
            _code.c.expires_at > now,
            _code.c.tries < max_tries,
        )
        .values(tries=_code.c.tries + 1)
        .returning(_code.c.id, _code.c.code_hash, _code.c.account_id)
    )
    return (await session.execute(stmt)).first()


async def use_code(session: AsyncSession, code_id: uuid.UUID, now: datetime) -> bool:
    stmt = update(_code).where(_code.c.id == code_id, _code.c.used_at.is_(None)).values(used_at=now)
    return (await session.execute(stmt)).rowcount == 1


def expired_codes(before: datetime) -> Any:
    """The condition for codes past use since `before` (for the retention job)."""
    return _code.c.expires_at < before


# -- ending sign-ins -----------------------------------------------------------------------------------------------


async def end_sessions_but(session: AsyncSession, account_id: uuid.UUID, keep: uuid.UUID | None) -> list[uuid.UUID]:
    """End the account's login sessions, all but `keep`; their ids."""
    condition = and_(_session.c.account_id == account_id, _session.c.ended_at.is_(None))
    if keep is not None:
        condition = and_(condition, _session.c.id != keep)
    ids = list((await session.execute(select(_session.c.id).where(condition))).scalars())
    if ids:
        await session.execute(update(_session).where(_session.c.id.in_(ids)).values(ended_at=utcnow()))
    return ids


async def revoke_families_but(session: AsyncSession, account_id: uuid.UUID, keep: uuid.UUID | None) -> list[uuid.UUID]:
    """Revoke the account's live refresh-token families, all but those of login session `keep`; their ids."""
    condition = and_(_refresh.c.account_id == account_id, _refresh.c.revoked_at.is_(None))
    if keep is not None:
        condition = and_(condition, or_(_refresh.c.session_id.is_(None), _refresh.c.session_id != keep))
    families = sorted(set((await session.execute(select(_refresh.c.family_id).where(condition))).scalars()))
    if families:
        await session.execute(
            update(_refresh)
            .where(_refresh.c.family_id.in_(families), _refresh.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return families
