"""The rules of one-time codes, password changes and resets.

A code proves that whoever sends it holds the phone: 6 random digits, kept only as a keyed hash bound to its row, valid
`phone_code_ttl` seconds (10 minutes), used once, dead after 5 tries, and only the newest of a number and purpose
counts. Asking for one answers the same whether or not an account has the number; the SMS leaves after the answer (the
`CodeSender` the app was given: auth cannot reach the cloud itself), so not even the time taken tells them apart.
"""

import hmac
import math
import secrets
import uuid
from datetime import timedelta
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from auth import repository as accounts
from auth.exceptions import AccountNotFound, InvalidAccountChange, WeakPassword
from auth.guards import Principal
from auth.identity import Identity
from auth.recovery import repository
from auth.recovery.exceptions import Counted, PhoneCodeInvalid, WrongPassword
from auth.recovery.schemas import PasswordChange, PasswordReset, PasswordSet
from auth.schemas import CitizenSignUp, Me
from auth.service import _check_password, _revoke, sign_up_citizen
from core import audit
from core.context import Actor
from core.errors import TooManyRequests
from core.events import Event, define_event, emit
from core.http import check_if_match
from core.models import aware, new_id, utcnow
from core.ratelimit import RateLimiter, enforce

MAX_TRIES = 5
CODE_DIGITS = 6

PASSWORD_CHANGED = define_event(
    "identity.password.changed",
    description="An account's password was changed by its owner, reset by phone or set by an administrator; its other "
    "sign-ins were ended",
)


class CodeSender(Protocol):
    async def __call__(self, *, phone: str, code: str, purpose: str, code_id: uuid.UUID) -> None:
        """Send `code` to `phone` by SMS; nothing but the code (the cloud's template adds the service's name)."""
        ...


def _code_hash(identity: Identity, code_id: uuid.UUID, code: str) -> str:
    # Bound to the row: the same code in two rows hashes differently, and a hash cannot be moved to another row.
    return identity.cipher.lookup_hash(f"{code_id}:{code}", context="phone_code")


def _phone_hash(identity: Identity, phone: str) -> str:
    return identity.cipher.lookup_hash(phone, context="phone")


def _limited_key(identity: Identity, phone: str) -> str:
    # A keyed hash, so no phone number sits in the limiter's keys.
    return identity.cipher.lookup_hash(phone, context="phone_code_limit")


async def _enforce_each(limiter: RateLimiter, key: str, limits: list[tuple[int, int]], what: str) -> None:
    """429 if any of the windows is full, counting nothing; otherwise one request counted in each. A refused request
    is not counted: counted, a phone app retrying when told to would keep its number refused."""
    for limit, window in limits:
        decision = await limiter.peek(f"{key}:{window}", limit=limit, window=window)
        if not decision.allowed:
            raise TooManyRequests(
                f"Too many {what}; try again in {decision.retry_after} seconds.",
                headers={"Retry-After": str(decision.retry_after)},
            )
    for limit, window in limits:
        await enforce(limiter, f"{key}:{window}", limit=limit, window=window, what=what)


# -- codes ----------------------------------------------------------------------------------------------------------


async def request_code(
    *, session: AsyncSession, identity: Identity, phone: str, purpose: str, address: str
) -> tuple[uuid.UUID, str] | None:
    """Make a code for `phone`; (id, code) when it is to be sent, None when nobody should get it (a reset for a number
    no usable citizen account has). The same writes either way, and the same answer to the caller."""
    settings = identity.settings
    limit, window = settings.phone_codes_per_address
    await enforce(identity.limiter, f"phone-code:addr:{address}", limit=limit, window=window, what="codes asked for")
    phone_hash = _phone_hash(identity, phone)
    now = utcnow()
    # One a minute, told exactly (a rate limiter's sliding window would say up to twice that): the newest code of the
    # number, whatever its purpose, is its last send (a row is made whether or not a code went).
    last = await repository.newest_code_at(session, phone_hash)
    wait = math.ceil(settings.phone_code_resend_seconds - (now - aware(last)).total_seconds()) if last else 0
    if wait > 0:
        raise TooManyRequests(
            f"A code was sent to this number a moment ago; ask again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    # Per number whatever the purpose and whether or not an account has it: a limit only some numbers met would tell.
    # After the minute's wait: a request told to wait that minute sends nothing, so it uses up none of the hour.
    await _enforce_each(
        identity.limiter,
        f"phone-code:phone:{_limited_key(identity, phone)}",
        settings.phone_codes_per_phone,
        "codes for this phone number",
    )
    account = await repository.account_by_phone(session, phone_hash)
    holder = account.id if account and account.kind == "citizen" and account.status != "disabled" else None
    # A sign-up code goes to any number: its holder learns that it has an account only after proving they hold it.
    deliver = purpose == "sign_up" or holder is not None
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    code_id = new_id()
    await repository.add_code(
        session,
        {
            "id": code_id,
            "phone_hash": phone_hash,
            "purpose": purpose,
            "code_hash": _code_hash(identity, code_id, code),
            "account_id": holder if purpose == "reset" else None,
            "created_at": now,
            "expires_at": now + timedelta(seconds=settings.phone_code_ttl),
            "tries": 0,
        },
    )
    audit.record(
        session,
        action="identity.phone_code.requested",
        object_type="phone_code",
        object_id=code_id,
        detail={"purpose": purpose, "sent": deliver},
    )
    return (code_id, code) if deliver else None


async def _redeem(
    *, session: AsyncSession, identity: Identity, phone: str, purpose: str, code: str
) -> uuid.UUID | None:
    """Use the newest code of `phone` for `purpose`; the account it was made for (resets). A wrong or dead code raises
    `Counted`: the try and its audit entry must commit although the request fails."""
    now = utcnow()
    row = await repository.take_try(
        session, phone_hash=_phone_hash(identity, phone), purpose=purpose, now=now, max_tries=MAX_TRIES
    )
    right = row is not None and hmac.compare_digest(row.code_hash, _code_hash(identity, row.id, code))
    if not right or not await repository.use_code(session, row.id, now):
        audit.record(
            session,
            action="identity.phone_code.refused",
            object_type="phone_code" if row else None,
            object_id=row.id if row else None,
            outcome="failure",
            detail={"purpose": purpose, "reason": "wrong" if row else "none_valid"},
        )
        raise Counted(PhoneCodeInvalid())
    audit.record(
        session,
        action="identity.phone_code.used",
        object_type="phone_code",
        object_id=row.id,
        detail={"purpose": purpose},
    )
    return row.account_id


async def sign_up(*, session: AsyncSession, identity: Identity, data: CitizenSignUp) -> Me:
    """A citizen's own account, once they have shown they hold the phone (the code sent for `sign_up`)."""
    _check_password(data.password, data.phone, data.name)  # before the code is spent on a refused password
    await _redeem(session=session, identity=identity, phone=data.phone, purpose="sign_up", code=data.phone_code)
    return await sign_up_citizen(session=session, identity=identity, data=data)


# -- passwords ------------------------------------------------------------------------------------------------------


async def end_other_sign_ins(
    *, session: AsyncSession, identity: Identity, account_id: uuid.UUID, keep_session: uuid.UUID | None
) -> dict[str, int]:
    """End every sign-in of the account but login session `keep_session` (None: every one): the sessions, their
    refresh-token families, and in every process within a second the access tokens issued from them."""
    sessions = await repository.end_sessions_but(session, account_id, keep_session)
    families = await repository.revoke_families_but(session, account_id, keep_session)
    for session_id in sessions:
        await _revoke(session, identity, "session", str(session_id))
    for family_id in families:
        await _revoke(session, identity, "family", str(family_id))
    # Every process serves GET /me from a cache: the account's version (its ETag) has moved on.
    await _revoke(session, identity, "account", str(account_id))
    return {"sessions": len(sessions), "families": len(families)}


def _login_failures_key(identity: Identity, identifier: str) -> str:
    """The sign-in page's per-identifier failure count (auth.endpoints.login): one throttle for every password check."""
    return f"login:fail:{identity.cipher.lookup_hash(identifier, context='login')}"


async def _check_current_password(
    *, session: AsyncSession, identity: Identity, account: Any, identifier: str, password: str, address: str
) -> None:
    """The current password, checked as the sign-in page checks it and counted by the same throttle (per address,
    and per login identifier: counted before the check, cleared by a success)."""
    settings = identity.settings
    limit, window = settings.login_attempts_per_address
    attempt = await identity.limiter.hit(f"login:addr:{address}", limit=limit, window=window)
    failure_limit, failure_window = settings.login_failures_per_account
    key = _login_failures_key(identity, identifier)
    lockout = await identity.limiter.peek(key, limit=failure_limit, window=failure_window)
    if attempt.allowed and lockout.allowed:
        lockout = await identity.limiter.hit(key, limit=failure_limit, window=failure_window)
    if not (attempt.allowed and lockout.allowed):
        retry = max(
            attempt.retry_after if not attempt.allowed else 0, lockout.retry_after if not lockout.allowed else 0
        )
        audit.record(
            session,
            action="auth.login.throttled",
            object_type="account",
            object_id=account.id,
            outcome="denied",
            detail={"scope": "address" if not attempt.allowed else "login", "for": "password_change"},
        )
        raise Counted(
            TooManyRequests(
                f"Too many password attempts; try again in {retry} seconds.", headers={"Retry-After": str(retry)}
            )
        )
    if not await identity.passwords.verify(account.password_hash, password):
        audit.record(
            session,
            action="identity.password.change_failed",
            object_type="account",
            object_id=account.id,
            outcome="failure",
            detail={"reason": "wrong_current_password"},
        )
        raise Counted(WrongPassword())
    await identity.limiter.reset(key, window=failure_window)


async def change_password(
    *, session: AsyncSession, identity: Identity, principal: Principal, data: PasswordChange, address: str
) -> None:
    """The signed-in person sets a new password, knowing the current one; their other sign-ins end; they are told."""
    account = await accounts.account(session, principal.account_id)
    if account is None or account.status == "disabled":
        raise AccountNotFound()
    phone = identity.cipher.decrypt(account.phone_encrypted, context="phone") if account.phone_encrypted else None
    _check_password(data.password, account.username, phone, account.name)
    if data.password == data.current_password:
        raise WeakPassword(["must differ from your current password"])
    await _check_current_password(
        session=session,
        identity=identity,
        account=account,
        identifier=account.username or phone or "",
        password=data.current_password,
        address=address,
    )
    keep = uuid.UUID(principal.session_id) if principal.session_id else None
    await _set_password(
        session=session,
        identity=identity,
        account=account,
        password=data.password,
        keep_session=keep,
        how="changed",
        actor=None,
    )


async def reset_password(*, session: AsyncSession, identity: Identity, data: PasswordReset, address: str) -> None:
    """A citizen who forgot their password sets a new one with a code sent to their phone; every sign-in ends."""
    _check_password(data.password, data.phone)  # before the code is spent on a refused password
    account_id = await _redeem(
        session=session, identity=identity, phone=data.phone, purpose="reset", code=data.phone_code
    )
    account = await accounts.account(session, account_id) if account_id else None
    if account is None or account.kind != "citizen" or account.status == "disabled":
        # (the code was made for an account that has since been disabled, or lost the number)
        raise Counted(PhoneCodeInvalid())
    _check_password(data.password, data.phone, account.name)
    await _set_password(
        session=session,
        identity=identity,
        account=account,
        password=data.password,
        keep_session=None,
        how="reset",
        actor=Actor(subject=str(account.id), address=address),
        # They have shown they hold the phone: failed sign-ins counted against it (someone guessing, or they) go.
        forget_failures_of=data.phone,
    )


async def set_staff_password(
    *,
    session: AsyncSession,
    identity: Identity,
    administrator: Principal,
    account_id: uuid.UUID,
    data: PasswordSet,
    if_match: str | None,
) -> int:
    """An administrator sets a new password for a staff member who lost theirs (staff have no phone to reset by):
    every sign-in of the account ends, failed sign-ins counted against it are cleared, and they are told. The
    account's new version."""
    account = await accounts.account(session, account_id)
    if account is None:
        raise AccountNotFound()
    if account.kind != "staff":
        raise InvalidAccountChange("A citizen resets their own password with a code sent to their phone.")
    if account.id == administrator.account_id:
        # Here the current password is not asked for: a stolen session must not be enough to change one's own.
        raise InvalidAccountChange("Change your own password at /api/v1/me/password, with your current one.")
    if "admin" in await accounts.roles(session, account.id):
        # One stolen administrator's session must not take over, or lock out, every other administrator (and so get
        # round the last-administrator rule). An administrator who lost their password is replaced from the server's
        # command line (`main.py create-admin`), by whoever runs the servers.
        raise InvalidAccountChange(
            "An administrator's password is changed only by its holder; one who lost it is replaced from the "
            "command line (main.py create-admin)."
        )
    check_if_match(if_match, account.version)
    _check_password(data.password, account.username, account.name)
    await _set_password(
        session=session,
        identity=identity,
        account=account,
        password=data.password,
        keep_session=None,
        how="set_by_administrator",
        actor=None,
        forget_failures_of=account.username,
    )
    return account.version


async def _set_password(
    *,
    session: AsyncSession,
    identity: Identity,
    account: Any,
    password: str,
    keep_session: uuid.UUID | None,
    how: str,
    actor: Actor | None,
    forget_failures_of: str | None = None,
) -> None:
    """The new password, every other sign-in ended, audited and told; `forget_failures_of`: the login identifier whose
    failed sign-ins are cleared (a reset proves the person, so the throttle they met need not hold them)."""
    account.password_hash = await identity.passwords.hash(password)
    session.add(account)
    await session.flush()
    ended = await end_other_sign_ins(
        session=session, identity=identity, account_id=account.id, keep_session=keep_session
    )
    audit.record(
        session,
        action=f"identity.password.{how}",
        object_type="account",
        object_id=account.id,
        detail={"sessions_ended": ended["sessions"], "refresh_families_revoked": ended["families"]},
        actor=actor,
    )
    emit(
        session,
        Event(
            PASSWORD_CHANGED.name,
            subject=f"account:{account.id}",
            payload={"how": how, "at": utcnow().isoformat()},
        ),
    )
    if forget_failures_of:
        await identity.limiter.reset(
            _login_failures_key(identity, forget_failures_of), window=identity.settings.login_failures_per_account[1]
        )
