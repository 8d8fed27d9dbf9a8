"""All SQL of the identity domain. The Authlib endpoints run synchronously in worker threads (the `*_sync` functions
take a sync Session); the REST API is async. Ownership and status are decided in the queries themselves."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.models import (
    Account,
    AccountRole,
    AuthorizationCode,
    ClientAssertionJti,
    Consent,
    LoginSession,
    OAuthClient,
    RefreshToken,
    Representation,
)
from core.db import insert_ignoring_conflicts, take_turns
from core.models import utcnow
from core.pagination import keyset, page_of

_account = Account.__table__
_role = AccountRole.__table__
_client = OAuthClient.__table__
_code = AuthorizationCode.__table__
_refresh = RefreshToken.__table__
_session = LoginSession.__table__
_consent = Consent.__table__
_mandate = Representation.__table__
_jti = ClientAssertionJti.__table__


# -- accounts -------------------------------------------------------------------------------------------------------


def account_sync(session: Session, account_id: uuid.UUID) -> Any | None:
    return session.execute(select(_account).where(_account.c.id == account_id)).mappings().first()


def roles_sync(session: Session, account_id: uuid.UUID) -> set[str]:
    return set(session.execute(select(_role.c.role).where(_role.c.account_id == account_id)).scalars())


async def account_by_login(session: AsyncSession, *, username: str | None, phone_hash: str | None) -> Any | None:
    conditions = []
    if username:
        conditions.append(_account.c.username == username)
    if phone_hash:
        conditions.append(_account.c.phone_hash == phone_hash)
    if not conditions:
        return None
    return (await session.execute(select(_account).where(or_(*conditions)))).mappings().first()


async def account_by_id_number_hash(session: AsyncSession, lookup: str) -> uuid.UUID | None:
    return (await session.execute(select(_account.c.id).where(_account.c.id_number_hash == lookup))).scalar()


async def account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


# Built once: every new application and every notification asks it (the three columns, not the whole account). It
# runs through the session, which flushes pending changes first: a name changed in this transaction is seen.
_CONTACT = select(Account.name, Account.phone_encrypted, Account.preferred_language).where(
    Account.id == bindparam("id")
)


async def contact(session: AsyncSession, account_id: uuid.UUID) -> Row[tuple[str, str | None, str]] | None:
    """(name, phone_encrypted, preferred_language) of an account; None when there is no such account."""
    return (await session.execute(_CONTACT, {"id": account_id})).first()


async def roles(session: AsyncSession, account_id: uuid.UUID) -> set[str]:
    return set((await session.execute(select(_role.c.role).where(_role.c.account_id == account_id))).scalars())


async def staff_of(session: AsyncSession, department: str, roles: Sequence[str]) -> list[uuid.UUID]:
    """Active staff accounts of `department` holding one of `roles`."""
    statement = (
        select(_account.c.id)
        .join(_role, _role.c.account_id == _account.c.id)
        .where(_account.c.department == department, _account.c.status == "active", _role.c.role.in_(roles))
        .distinct()
    )
    return list((await session.execute(statement)).scalars())


async def roles_of(session: AsyncSession, account_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    result: dict[uuid.UUID, set[str]] = {account_id: set() for account_id in account_ids}
    if account_ids:
        rows = await session.execute(
            select(_role.c.account_id, _role.c.role).where(_role.c.account_id.in_(account_ids))
        )
        for account_id, role in rows:
            result[account_id].add(role)
    return result


async def set_roles(session: AsyncSession, account_id: uuid.UUID, roles: set[str]) -> None:
    await session.execute(delete(_role).where(_role.c.account_id == account_id))
    if roles:
        await session.execute(insert(_role), [{"account_id": account_id, "role": role} for role in sorted(roles)])


# The PostgreSQL advisory lock class of changes that take administration away (any fixed number).
_ADMINISTRATOR_CHANGES = 0x7415_AD31


async def other_active_administrators(session: AsyncSession, account_id: uuid.UUID) -> int:
    """How many active accounts besides this one hold the admin role. Changes that take it away take turns from here
    to the end of the transaction: two administrators removing each other side by side both counted the other and
    left none."""
    await take_turns(session, _ADMINISTRATOR_CHANGES, "admins")
    statement = (
        select(func.count())
        .select_from(_account.join(_role, _role.c.account_id == _account.c.id))
        .where(_role.c.role == "admin", _account.c.status == "active", _account.c.id != account_id)
    )
    return (await session.execute(statement)).scalar_one()


async def phone_taken(session: AsyncSession, phone_hash: str) -> bool:
    return (await session.execute(select(_account.c.id).where(_account.c.phone_hash == phone_hash))).first() is not None


async def username_taken(session: AsyncSession, username: str) -> bool:
    return (await session.execute(select(_account.c.id).where(_account.c.username == username))).first() is not None


async def list_accounts(
    session: AsyncSession,
    *,
    kind: str | None,
    department: str | None,
    role: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Account], str | None]:
    stmt = select(Account)
    if kind:
        stmt = stmt.where(Account.kind == kind)
    if department:
        stmt = stmt.where(Account.department == department)
    if status:
        stmt = stmt.where(Account.status == status)
    if role:
        stmt = stmt.where(Account.id.in_(select(_role.c.account_id).where(_role.c.role == role)))  # type: ignore[union-attr]
    stmt = keyset(stmt, order_by=[_account.c.id], cursor=cursor, limit=limit)
    rows = list((await session.execute(stmt)).scalars())
    return page_of(rows, limit=limit, key=lambda row: (row.id,))


async def record_login(session: AsyncSession, account_id: uuid.UUID, when: datetime) -> None:
    await session.execute(update(_account).where(_account.c.id == account_id).values(last_login_at=when))


# -- clients --------------------------------------------------------------------------------------------------------


def active_client_sync(session: Session, client_id: str) -> Any | None:
    stmt = select(_client).where(_client.c.client_id == client_id, _client.c.status == "active")
    return session.execute(stmt).first()


async def active_client(session: AsyncSession, client_id: str) -> Any | None:
    stmt = select(_client).where(_client.c.client_id == client_id, _client.c.status == "active")
    return (await session.execute(stmt)).first()


async def active_clients_holding(session: AsyncSession, client_ids: Sequence[str], scope: str) -> set[str]:
    """Those of these clients that are active and still hold `scope`."""
    if not client_ids:
        return set()
    stmt = select(_client.c.client_id, _client.c.scopes).where(
        _client.c.client_id.in_(set(client_ids)), _client.c.status == "active"
    )
    return {client_id for client_id, scopes in await session.execute(stmt) if scope in (scopes or [])}


async def client(session: AsyncSession, client_id: str) -> OAuthClient | None:
    return await session.get(OAuthClient, client_id)


async def list_clients(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[list[OAuthClient], str | None]:
    stmt = keyset(select(OAuthClient), order_by=[_client.c.client_id], cursor=cursor, limit=limit)
    rows = list((await session.execute(stmt)).scalars())
    return page_of(rows, limit=limit, key=lambda row: (row.client_id,))


def remember_assertion_sync(session: Session, client_id: str, jti: str, expires_at: datetime) -> bool:
    """Record a private_key_jwt assertion's jti; False if it was used before (a replay)."""
    dialect = session.get_bind().dialect.name
    stmt = (
        insert_ignoring_conflicts(dialect, _jti)
        .values(client_id=client_id, jti=jti, expires_at=expires_at)
        .on_conflict_do_nothing()
        .returning(_jti.c.jti)
    )
    return session.execute(stmt).first() is not None


# -- authorization codes --------------------------------------------------------------------------------------------


def save_code_sync(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(_code).values(**values))


def claim_code_sync(session: Session, *, code_hash: str, client_id: str, family_id: uuid.UUID) -> Any | None:
    """Use the code once: exactly one of any number of concurrent exchanges gets the row back."""
    now = utcnow()
    stmt = (
        update(_code)
        .where(
            _code.c.code_hash == code_hash,
            _code.c.client_id == client_id,
            _code.c.used_at.is_(None),
            _code.c.expires_at > now,
        )
        .values(used_at=now, family_id=family_id)
        .returning(*_code.c)
    )
    return session.execute(stmt).mappings().first()


def code_sync(session: Session, code_hash: str) -> Any | None:
    return session.execute(select(_code).where(_code.c.code_hash == code_hash)).mappings().first()


# -- refresh tokens -------------------------------------------------------------------------------------------------


def save_refresh_sync(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(_refresh).values(**values))


def refresh_sync(session: Session, token_hash: str) -> Any | None:
    return session.execute(select(_refresh).where(_refresh.c.token_hash == token_hash)).mappings().first()


def rotate_refresh_sync(session: Session, token_hash: str) -> bool:
    """Mark the refresh token used; False if it already was (reuse) or was revoked meanwhile."""
    stmt = (
        update(_refresh)
        .where(_refresh.c.token_hash == token_hash, _refresh.c.rotated_at.is_(None), _refresh.c.revoked_at.is_(None))
        .values(rotated_at=utcnow())
    )
    return session.execute(stmt).rowcount == 1


def revoke_family_sync(session: Session, family_id: uuid.UUID) -> int:
    stmt = (
        update(_refresh)
        .where(_refresh.c.family_id == family_id, _refresh.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return session.execute(stmt).rowcount


def families_of_session_sync(session: Session, session_id: uuid.UUID) -> list[uuid.UUID]:
    stmt = select(_refresh.c.family_id).where(_refresh.c.session_id == session_id, _refresh.c.revoked_at.is_(None))
    return list(set(session.execute(stmt).scalars()))


async def live_families_of_account(session: AsyncSession, account_id: uuid.UUID) -> list[uuid.UUID]:
    stmt = select(_refresh.c.family_id).where(_refresh.c.account_id == account_id, _refresh.c.revoked_at.is_(None))
    return list(set((await session.execute(stmt)).scalars()))


async def revoke_account_refresh_tokens(session: AsyncSession, account_id: uuid.UUID) -> int:
    stmt = (
        update(_refresh)
        .where(_refresh.c.account_id == account_id, _refresh.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return (await session.execute(stmt)).rowcount


async def revoke_client_refresh_tokens(session: AsyncSession, client_id: str) -> int:
    stmt = (
        update(_refresh)
        .where(_refresh.c.client_id == client_id, _refresh.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return (await session.execute(stmt)).rowcount


# -- login sessions and consent -------------------------------------------------------------------------------------


def session_ended_sync(session: Session, session_id: uuid.UUID) -> bool:
    """Whether the login session was ended: signed out of, or its account cut off."""
    return session.execute(select(_session.c.ended_at).where(_session.c.id == session_id)).scalar() is not None


async def live_session(session: AsyncSession, secret_hash: str) -> Any | None:
    """The signed-in session for a cookie, with its account, if both are still good."""
    now = utcnow()
    stmt = (
        select(_session, _account.c.status, _account.c.name, _account.c.preferred_language, _account.c.kind)
        .join(_account, _account.c.id == _session.c.account_id)
        .where(
            _session.c.secret_hash == secret_hash,
            _session.c.ended_at.is_(None),
            _session.c.expires_at > now,
            _account.c.status != "disabled",
        )
    )
    return (await session.execute(stmt)).mappings().first()


async def start_session(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(_session).values(**values))


async def end_session(session: AsyncSession, session_id: uuid.UUID) -> None:
    await session.execute(update(_session).where(_session.c.id == session_id).values(ended_at=utcnow()))


async def end_account_sessions(session: AsyncSession, account_id: uuid.UUID) -> list[uuid.UUID]:
    ids = list(
        (
            await session.execute(
                select(_session.c.id).where(_session.c.account_id == account_id, _session.c.ended_at.is_(None))
            )
        ).scalars()
    )
    if ids:
        await session.execute(update(_session).where(_session.c.id.in_(ids)).values(ended_at=utcnow()))
    return ids


async def consented_scopes(session: AsyncSession, account_id: uuid.UUID, client_id: str) -> set[str]:
    stmt = select(_consent.c.scopes).where(_consent.c.account_id == account_id, _consent.c.client_id == client_id)
    scopes = (await session.execute(stmt)).scalar()
    return set(scopes or ())


async def save_consent(session: AsyncSession, account_id: uuid.UUID, client_id: str, scopes: set[str]) -> None:
    where = (_consent.c.account_id == account_id) & (_consent.c.client_id == client_id)
    existing = set((await session.execute(select(_consent.c.scopes).where(where))).scalar() or ())
    merged = sorted(existing | scopes)
    if (await session.execute(select(func.count()).select_from(_consent).where(where))).scalar():
        await session.execute(update(_consent).where(where).values(scopes=merged, granted_at=utcnow()))
    else:
        await session.execute(insert(_consent).values(account_id=account_id, client_id=client_id, scopes=merged))


async def consents_of(
    session: AsyncSession, account_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """A person's consents with the clients' names, newest first; only theirs (the account is in the query)."""
    statement = (
        select(_consent.c.client_id, _consent.c.scopes, _consent.c.granted_at, _client.c.name_zh, _client.c.name_en)
        .join(_client, _client.c.client_id == _consent.c.client_id)
        .where(_consent.c.account_id == account_id)
    )
    statement = keyset(
        statement, order_by=[_consent.c.granted_at, _consent.c.client_id], cursor=cursor, limit=limit, descending=True
    )
    rows = list(await session.execute(statement))
    return page_of(rows, limit=limit, key=lambda row: (row.granted_at, row.client_id))


async def withdraw_consent(session: AsyncSession, account_id: uuid.UUID, client_id: str) -> list[str] | None:
    """Delete the person's consent to the client; the scopes it granted, or None if there was none of theirs."""
    statement = (
        delete(_consent)
        .where(_consent.c.account_id == account_id, _consent.c.client_id == client_id)
        .returning(_consent.c.scopes)
    )
    row = (await session.execute(statement)).first()
    return list(row.scopes or ()) if row is not None else None


async def revoke_refresh_tokens_of(session: AsyncSession, account_id: uuid.UUID, client_id: str) -> int:
    """Revoke every refresh token of the person issued to the client; how many families (sign-ins) that ended."""
    stmt = (
        update(_refresh)
        .where(_refresh.c.account_id == account_id, _refresh.c.client_id == client_id, _refresh.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(_refresh.c.family_id)
    )
    return len(set((await session.execute(stmt)).scalars()))


async def drop_unused_codes_of(session: AsyncSession, account_id: uuid.UUID, client_id: str) -> None:
    """Delete the person's codes for the client still waiting to be exchanged: exchanged after a revocation, a code
    would start tokens the revocation does not reach. Used ones stay, for replay detection; expired ones are of no
    use to anyone (and the condition on expires_at keeps this to its index's last minute)."""
    await session.execute(
        delete(_code).where(
            _code.c.expires_at > utcnow(),
            _code.c.account_id == account_id,
            _code.c.client_id == client_id,
            _code.c.used_at.is_(None),
        )
    )


async def represents(session: AsyncSession, account_id: uuid.UUID, client_id: str) -> bool:
    """Whether the citizen's mandate to this partner system stands."""
    return bool((await session.execute(select(mandate_stands(account_id, client_id)))).scalar())


def mandate_stands(account_id: uuid.UUID | ColumnElement[Any], client_id: str) -> ColumnElement[bool]:
    """A query's condition that the citizen (an id, or a column holding one) still gives this partner system a
    mandate: what a partner reaches of a citizen's ends when the citizen withdraws it."""
    return exists().where(
        _mandate.c.account_id == account_id, _mandate.c.client_id == client_id, _mandate.c.withdrawn_at.is_(None)
    )


async def mandates_of(session: AsyncSession, account_id: uuid.UUID) -> list[Any]:
    """The standing mandates of a citizen with the partners' names, oldest first."""
    statement = (
        select(_mandate.c.client_id, _mandate.c.granted_at, _client.c.name_zh, _client.c.name_en)
        .join(_client, _client.c.client_id == _mandate.c.client_id)
        .where(_mandate.c.account_id == account_id, _mandate.c.withdrawn_at.is_(None))
        .order_by(_mandate.c.granted_at, _mandate.c.client_id)
    )
    return list((await session.execute(statement)).all())


async def grant_mandate(session: AsyncSession, account_id: uuid.UUID, client_id: str) -> tuple[datetime, bool]:
    """Grant (or grant again) a mandate: when it was granted, and whether it was not standing already.

    Each step is one statement that only one of several grants sent at once can carry out (a first grant's insert,
    or a withdrawn mandate's renewal, which the others wait for and then no longer match): they all answer the
    standing mandate, and only one of them reports it new. Read first and written after, they got 409s, or each
    reported it new."""
    where = (_mandate.c.account_id == account_id) & (_mandate.c.client_id == client_id)
    now = utcnow()
    if await seed_mandate(session, account_id, client_id, granted_at=now):
        return now, True
    renewed = update(_mandate).where(where, _mandate.c.withdrawn_at.is_not(None))
    if (await session.execute(renewed.values(granted_at=now, withdrawn_at=None))).rowcount == 1:
        return now, True
    return (await session.execute(select(_mandate.c.granted_at).where(where))).scalar_one(), False


async def withdraw_mandate(session: AsyncSession, account_id: uuid.UUID, client_id: str) -> bool:
    """Withdraw a standing mandate; whether there was one."""
    result = await session.execute(
        update(_mandate)
        .where(
            _mandate.c.account_id == account_id, _mandate.c.client_id == client_id, _mandate.c.withdrawn_at.is_(None)
        )
        .values(withdrawn_at=utcnow())
    )
    return result.rowcount == 1


async def seed_mandate(
    session: AsyncSession, account_id: uuid.UUID, client_id: str, *, granted_at: datetime | None = None
) -> bool:
    """A mandate, unless the citizen has one to this partner, standing or withdrawn (seeding changes nothing that
    exists); whether it was added."""
    dialect = (await session.connection()).dialect.name
    statement = (
        insert_ignoring_conflicts(dialect, _mandate)
        .values(account_id=account_id, client_id=client_id, granted_at=granted_at or utcnow())
        .on_conflict_do_nothing()
        .returning(_mandate.c.client_id)
    )
    return (await session.execute(statement)).first() is not None
