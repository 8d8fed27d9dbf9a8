"""The rules of accounts and clients. Every change is audited and announced in the outbox, in the caller's transaction;
every change that narrows what someone may do revokes their live tokens in every process within a second."""

import secrets
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from auth import repository
from auth.exceptions import (
    AccountNotFound,
    ClientIdTaken,
    ClientNotFound,
    ConsentNotFound,
    IdentityAlreadyVerified,
    IdNumberTaken,
    InvalidAccountChange,
    InvalidClient,
    InvalidDepartment,
    LastAdministrator,
    PartnerNotFound,
    PhoneTaken,
    RepresentationNotFound,
    UsernameTaken,
    VerifiedName,
    WeakPassword,
)
from auth.guards import Principal
from auth.identity import Identity
from auth.models import Account, OAuthClient
from auth.policy import password_problems
from auth.schemas import (
    AccountRead,
    AccountUpdate,
    CitizenSignUp,
    ClientCreate,
    ClientRead,
    ClientUpdate,
    ClientWithSecret,
    ConsentRead,
    Me,
    MeUpdate,
    RepresentationRead,
    StaffCreate,
    check_client_consistency,
)
from auth.scopes import DEPARTMENT_ROLES
from auth.tokens import revocation, subject_client
from core import accesslog, audit
from core.crypto import mask_id_number, mask_name, mask_phone, secret_digest
from core.db import touch
from core.errors import ValidationFailed, field_error
from core.events import Event, define_event, emit
from core.http import check_if_match
from core.models import utcnow

ACCOUNT_CREATED = define_event("identity.account.created", description="An account was created")
ACCOUNT_UPDATED = define_event("identity.account.updated", description="An administrator changed an account")
CLIENT_REGISTERED = define_event("identity.client.registered", description="An OAuth client was registered")
CLIENT_UPDATED = define_event("identity.client.updated", description="An OAuth client was changed")


def _check_password(password: str, *identifiers: str | None) -> None:
    problems = password_problems(password, identifiers=tuple(i for i in identifiers if i))
    if problems:
        raise WeakPassword(problems)


async def _revoke(session: AsyncSession, identity: Identity, kind: str, value: str) -> None:
    """Add a revocation (or, for kinds `client` and `account`, a change notice) to the feed every process reads."""
    await session.execute(
        revocation(session.bind.dialect.name, kind, value, lifetime=identity.settings.access_token_ttl)
    )
    cache = {"client": identity.clients, "account": identity.accounts}.get(kind)
    if cache is not None:
        cache.evict(value)


# -- accounts -------------------------------------------------------------------------------------------------------


async def sign_up_citizen(*, session: AsyncSession, identity: Identity, data: CitizenSignUp) -> Me:
    """Create a citizen's own account; it stays `unverified` until a real-name identity check."""
    _check_password(data.password, data.phone, data.name)
    phone_hash = identity.cipher.lookup_hash(data.phone, context="phone")
    if await repository.phone_taken(session, phone_hash):
        raise PhoneTaken("An account with this phone number already exists; sign in instead.")
    account = Account(
        kind="citizen",
        phone_hash=phone_hash,
        phone_encrypted=identity.cipher.encrypt(data.phone, context="phone"),
        name=data.name,
        # Through the process's hashing gate, in a thread: ~15 ms of argon2id here stalled every request of the process.
        password_hash=await identity.passwords.hash(data.password),
        status="unverified",
        preferred_language=data.preferred_language,
    )
    session.add(account)
    await session.flush()
    await repository.set_roles(session, account.id, {"citizen"})
    audit.record(
        session,
        action="identity.account.created",
        object_type="account",
        object_id=account.id,
        detail={"kind": "citizen"},
    )
    emit(session, Event(ACCOUNT_CREATED.name, subject=f"account:{account.id}", payload={"kind": "citizen"}))
    return me_of(account, {"citizen"}, identity)


def _check_department(kind: str, roles: set[str], department: str | None) -> None:
    """A citizen belongs to no department, and whoever holds a department's role belongs to one: an officer without one
    was created and then worked nobody's queue, and a citizen with one carried `dept` in their tokens. (Whether the
    department exists is the catalogue's to know; auth does not read it.)"""
    if kind == "citizen" and department is not None:
        raise InvalidDepartment("A citizen belongs to no department: leave department out (or null).")
    needing = sorted(roles & DEPARTMENT_ROLES)
    if department is None and needing:
        plural = "s" if len(needing) > 1 else ""
        raise InvalidDepartment(
            f"An account with the role{plural} {', '.join(needing)} belongs to a department: give it one."
        )


async def create_staff(*, session: AsyncSession, identity: Identity, data: StaffCreate) -> AccountRead:
    """An administrator creates an officer, supervisor, editor, publisher, auditor or administrator."""
    _check_department("staff", set(data.roles), data.department)
    _check_password(data.password, data.username, data.name)
    if await repository.username_taken(session, data.username):
        raise UsernameTaken(f"The username {data.username} is taken.")
    account = Account(
        kind="staff",
        username=data.username,
        name=data.name,
        password_hash=await identity.passwords.hash(data.password),  # off the event loop, as at sign-up
        status="active",
        department=data.department,
        preferred_language=data.preferred_language,
    )
    session.add(account)
    await session.flush()
    await repository.set_roles(session, account.id, set(data.roles))
    audit.record(
        session,
        action="identity.account.created",
        object_type="account",
        object_id=account.id,
        detail={"kind": "staff", "roles": sorted(data.roles), "department": data.department},
    )
    emit(session, Event(ACCOUNT_CREATED.name, subject=f"account:{account.id}", payload={"kind": "staff"}))
    return admin_view(account, set(data.roles), identity)


async def update_account(
    *, session: AsyncSession, identity: Identity, account_id: uuid.UUID, data: AccountUpdate, if_match: str | None
) -> AccountRead:
    """Change name, department, roles or status; narrowing access revokes the account's live tokens."""
    account = await repository.account(session, account_id)
    if account is None:
        raise AccountNotFound()
    check_if_match(if_match, account.version)
    roles = await repository.roles(session, account.id)
    was_administrator = "admin" in roles and account.status == "active"
    changes: dict[str, Any] = {}
    _keep_verified_name(account, data.name)
    if "department" in data.model_fields_set or data.roles is not None:
        # Checked when the request touches either (an account made before the rule can still be renamed or disabled).
        _check_department(
            account.kind,
            roles if data.roles is None or account.kind == "citizen" else set(data.roles),
            data.department if "department" in data.model_fields_set else account.department,
        )
    if data.name is not None and data.name != account.name:
        account.name = changes["name"] = data.name
    if "department" in data.model_fields_set and data.department != account.department:
        account.department = changes["department"] = data.department
    old_roles = roles
    if data.roles is not None and set(data.roles) != roles - {"citizen"}:
        if account.kind == "citizen":
            raise InvalidAccountChange("Citizens hold the citizen role only; create a staff account instead.")
        changes["roles"] = sorted(data.roles)
        roles = set(data.roles)
        if old_roles - roles:
            changes["roles_removed"] = sorted(old_roles - roles)
    if data.status is not None and data.status != account.status:
        if data.status == "active" and account.kind == "citizen" and account.status == "unverified":
            raise InvalidAccountChange("A citizen account becomes active through the identity check, not by hand.")
        status = data.status
        if status == "active" and account.kind == "citizen" and account.identity_verified_at is None:
            # Enabled again, a citizen who never passed the identity check is unverified as before: active, disabling
            # and enabling would have done by hand what only the check may (a partner may file for an active citizen).
            status = "unverified"
        if status != account.status:
            account.status = changes["status"] = status
    if not changes:
        return admin_view(account, roles, identity)
    if was_administrator and not ("admin" in roles and account.status == "active"):
        await _keep_an_administrator(session, account.id)
    # The row's version is the account's ETag: it moves with every change, roles (another table) included, so a
    # change made from an older read, or beside another administrator's, is a 412 instead of overwriting it.
    await touch(session, account)
    if "roles" in changes:
        await repository.set_roles(session, account.id, roles)
    if "roles_removed" in changes or "department" in changes or changes.get("status") == "disabled":
        await _cut_off(session=session, identity=identity, account_id=account.id)
    await _revoke(session, identity, "account", str(account.id))
    audit.record(
        session,
        action="identity.account.updated",
        object_type="account",
        object_id=account.id,
        detail={key: value for key, value in changes.items() if key != "name"} | {"fields": sorted(changes)},
    )
    emit(session, Event(ACCOUNT_UPDATED.name, subject=f"account:{account.id}", payload={"fields": sorted(changes)}))
    return admin_view(account, roles, identity)


async def _keep_an_administrator(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Refuse to take the admin role from, or disable, the last active administrator: nobody could then manage
    accounts or clients (or give the role back) but someone with the database and the command line."""
    if await repository.other_active_administrators(session, account_id) == 0:
        raise LastAdministrator(
            "This is the last active administrator: make another administrator first, then change this account."
        )


async def _cut_off(*, session: AsyncSession, identity: Identity, account_id: uuid.UUID) -> None:
    """End every sign-in of the account: sessions, refresh tokens and (via the revocation list) access tokens."""
    await repository.end_account_sessions(session, account_id)
    await repository.revoke_account_refresh_tokens(session, account_id)
    await _revoke(session, identity, "subject", str(account_id))


async def rehash_password(*, session: AsyncSession, identity: Identity, account_id: uuid.UUID, password: str) -> None:
    """Upgrade a hash made with older parameters, on the one occasion the password is known: a successful login."""
    account = await repository.account(session, account_id)
    if account is not None:
        account.password_hash = await identity.passwords.hash(password)  # off the event loop
        session.add(account)


async def me(*, session: AsyncSession, identity: Identity, principal: Principal) -> Me:
    """The caller's own account as their token may see it (`released`); served from the per-process account cache
    (see FeedCache), which holds it in full."""
    hit, cached = identity.accounts.get(principal.subject, changed_since=identity.revocations.changed_since)
    if hit:
        return released(cached, principal)
    account = await repository.account(session, principal.account_id)
    if account is None:
        raise AccountNotFound()
    view = me_of(account, await repository.roles(session, account.id), identity)
    identity.accounts.put(principal.subject, view)
    return released(view, principal)


# What of the account its owner's token is shown only with one of these scopes, beside the name and language that
# `profile` promises (the consent page's words): the phone with `phone`, and the ID number, which even masked tells
# where the person was registered and their sex, to the city's own apps (`account`) alone.
RELEASED_BY = {"phone": frozenset({"phone", "account"}), "id_number_masked": frozenset({"account"})}


def released(view: Me, principal: Principal) -> Me:
    """The account as this token may see it: what its scopes do not release is null."""
    withheld = {name: None for name, scopes in RELEASED_BY.items() if not principal.scopes & scopes}
    return view.model_copy(update=withheld) if withheld else view


async def update_me(
    *, session: AsyncSession, identity: Identity, principal: Principal, data: MeUpdate, if_match: str | None
) -> Me:
    """The owner changes their display name or preferred language."""
    account = await repository.account(session, principal.account_id)
    if account is None:
        raise AccountNotFound()
    check_if_match(if_match, account.version)
    _keep_verified_name(account, data.name)
    fields = data.model_dump(exclude_none=True)
    for name, value in fields.items():
        setattr(account, name, value)
    if fields:
        session.add(account)
        await session.flush()
        audit.record(
            session,
            action="identity.account.updated",
            object_type="account",
            object_id=account.id,
            detail={"fields": sorted(fields)},
        )
        # Every process serves GET /me from its cache: without this, the old account (and its ETag, so the next
        # PATCH was a 412) for up to 30 seconds, even in the process that made the change.
        await _revoke(session, identity, "account", str(account.id))
    return released(me_of(account, await repository.roles(session, account.id), identity), principal)


def _keep_verified_name(account: Account, name: str | None) -> None:
    """A name checked against an ID card is the person's legal name: registries are asked about it and credentials
    carry it, so neither its owner nor an administrator edits it (the check itself set it)."""
    if name is not None and name != account.name and account.identity_verified_at is not None:
        raise VerifiedName("This name was checked against an ID card in the real-name check; it cannot be edited.")


async def get_account(*, session: AsyncSession, identity: Identity, account_id: uuid.UUID) -> AccountRead:
    account = await repository.account(session, account_id)
    if account is None:
        raise AccountNotFound()
    return admin_view(account, await repository.roles(session, account.id), identity)


async def list_accounts(
    *, session: AsyncSession, identity: Identity, limit: int, cursor: str | None, **filters: Any
) -> tuple[list[AccountRead], str | None]:
    """Accounts for administrators, with their roles, personal data masked: a citizen's name too (opening one
    account shows it whole, and lands in the citizen's access log; a list of many would not)."""
    rows, next_cursor = await repository.list_accounts(session, limit=limit, cursor=cursor, **filters)
    roles = await repository.roles_of(session, [row.id for row in rows])
    views = [admin_view(row, roles[row.id], identity) for row in rows]
    return [
        view.model_copy(update={"name": mask_name(view.name)}) if view.kind == "citizen" else view for view in views
    ], next_cursor


async def record_verified_identity(
    *, session: AsyncSession, identity: Identity, account_id: uuid.UUID, name: str, id_number: str
) -> Me:
    """A real-name check succeeded: keep the ID number (encrypted, with its lookup hash) and activate the citizen."""
    account = await repository.account(session, account_id)
    if account is None or account.kind != "citizen":
        raise AccountNotFound()
    if account.identity_verified_at is not None:
        raise IdentityAlreadyVerified()
    lookup = identity.cipher.lookup_hash(id_number, context="id_number")
    if await repository.account_by_id_number_hash(session, lookup) is not None:
        raise IdNumberTaken()
    account.id_number_hash = lookup
    account.id_number_encrypted = identity.cipher.encrypt(id_number, context="id_number")
    account.identity_verified_at = utcnow()
    account.name = name
    if account.status == "unverified":
        account.status = "active"
    session.add(account)
    await session.flush()
    await _revoke(session, identity, "account", str(account.id))  # drops the cached /me everywhere
    audit.record(session, action="identity.account.verified", object_type="account", object_id=account.id)
    emit(session, Event(ACCOUNT_UPDATED.name, subject=f"account:{account.id}", payload={"fields": ["identity"]}))
    return me_of(account, await repository.roles(session, account.id), identity)


async def contact_of(
    *, session: AsyncSession, identity: Identity, account_id: uuid.UUID
) -> tuple[str, str | None, str]:
    """Name, phone number (decrypted; None for staff) and preferred language, for notifying the account."""
    account = await repository.contact(session, account_id)
    if account is None:
        raise AccountNotFound()
    phone = identity.cipher.decrypt(account.phone_encrypted, context="phone") if account.phone_encrypted else None
    return account.name, phone, account.preferred_language


async def staff_of(*, session: AsyncSession, department: str, roles: Sequence[str]) -> list[uuid.UUID]:
    """Active staff of a department with one of these roles (whom to escalate to, whom work may be given to)."""
    return await repository.staff_of(session, department, roles)


async def is_active_citizen(*, session: AsyncSession, account_id: uuid.UUID) -> bool:
    account = await repository.account(session, account_id)
    return account is not None and account.kind == "citizen" and account.status == "active"


async def applicant_for(
    *, session: AsyncSession, principal: Principal, on_behalf_of: uuid.UUID | None
) -> tuple[uuid.UUID, str | None]:
    """Whom an application is for, and the partner filing it: a person applies for themselves; a partner system
    names the active citizen it represents (`on_behalf_of`)."""
    if principal.is_person:
        if on_behalf_of is not None:
            raise ValidationFailed(
                "Only partner systems apply on someone's behalf.",
                errors=[field_error("on_behalf_of", "not allowed for a person", code="not_allowed")],
            )
        return principal.account_id, None
    if on_behalf_of is None:
        raise ValidationFailed(
            "Say whom you apply for.", errors=[field_error("on_behalf_of", "required for partners", code="missing")]
        )
    # One answer whether the account is missing, not a citizen's, or has given this partner no mandate: a partner
    # must not learn who has an account.
    if not (
        await is_active_citizen(session=session, account_id=on_behalf_of)
        and await repository.represents(session, on_behalf_of, principal.client_id)
    ):
        raise ValidationFailed(
            "No active citizen with this id has given your system a mandate to act for them.",
            errors=[field_error("on_behalf_of", "no mandate from an active citizen", code="no_mandate")],
        )
    return on_behalf_of, principal.client_id


# -- mandates: a citizen lets a partner system file for them ---------------------------------------------------------


def _mandate_view(client_id: str, name_zh: str, name_en: str, granted_at: datetime) -> RepresentationRead:
    return RepresentationRead(client_id=client_id, client_name={"zh-CN": name_zh, "en": name_en}, granted_at=granted_at)


async def mandates(*, session: AsyncSession, principal: Principal) -> list[RepresentationRead]:
    rows = await repository.mandates_of(session, principal.account_id)
    return [_mandate_view(row.client_id, row.name_zh, row.name_en, row.granted_at) for row in rows]


async def grant_mandate(*, session: AsyncSession, principal: Principal, client_id: str) -> RepresentationRead:
    """Let a partner system (an active client allowed `partner:submit`) file applications for the caller."""
    partner = await repository.active_client(session, client_id)
    if partner is None or "partner:submit" not in (partner.scopes or ()):
        raise PartnerNotFound(f"There is no partner system {client_id} that files applications.")
    granted_at, new = await repository.grant_mandate(session, principal.account_id, client_id)
    if new:
        _audit_mandate(session, principal, client_id, "granted")
    return _mandate_view(client_id, partner.name_zh, partner.name_en, granted_at)


async def withdraw_mandate(*, session: AsyncSession, principal: Principal, client_id: str) -> None:
    """From now on the partner cannot file for the caller; what it filed stays, and stays the caller's."""
    if not await repository.withdraw_mandate(session, principal.account_id, client_id):
        raise RepresentationNotFound(f"{client_id} has no mandate from you.")
    _audit_mandate(session, principal, client_id, "withdrawn")


def _audit_mandate(session: AsyncSession, principal: Principal, client_id: str, change: str) -> None:
    audit.record(
        session,
        action=f"identity.mandate.{change}",
        object_type="account",
        object_id=principal.account_id,
        detail={"client_id": client_id},
    )


# -- consents: the client applications a person has allowed to act for them -------------------------------------------


async def consents(
    *, session: AsyncSession, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[ConsentRead], str | None]:
    """The clients the caller has consented to, with the scopes granted, newest first."""
    rows, next_cursor = await repository.consents_of(session, principal.account_id, limit=limit, cursor=cursor)
    return [
        ConsentRead(
            client_id=row.client_id,
            client_name={"zh-CN": row.name_zh, "en": row.name_en},
            scopes=sorted(row.scopes or ()),
            granted_at=row.granted_at,
        )
        for row in rows
    ], next_cursor


async def withdraw_consent(*, session: AsyncSession, identity: Identity, principal: Principal, client_id: str) -> None:
    """The client may no longer act for the caller: the consent goes, and with it every token of the caller's the
    client holds (refresh tokens in the table, access tokens in every process within a second); its next
    authorization request shows the consent page again."""
    account_id = principal.account_id
    scopes = await repository.withdraw_consent(session, account_id, client_id)
    if scopes is None:
        # The same answer whether the client exists or not: which clients there are is not the caller's to learn.
        raise ConsentNotFound(f"You have not allowed {client_id} to act for you.")
    families = await repository.revoke_refresh_tokens_of(session, account_id, client_id)
    await repository.drop_unused_codes_of(session, account_id, client_id)
    await _revoke(session, identity, "subject_client", subject_client(principal.subject, client_id))
    audit.record(
        session,
        action="auth.consent.withdrawn",
        object_type="oauth_client",
        object_id=client_id,
        detail={"scopes": sorted(scopes), "refresh_families_revoked": families},
    )


async def real_name_of(*, session: AsyncSession, identity: Identity, account_id: uuid.UUID) -> tuple[str, str] | None:
    """The name and (decrypted) ID number of a real-name checked account, for a registry lookup; None before it."""
    account = await repository.account(session, account_id)
    if account is None or not account.id_number_encrypted:
        return None
    return account.name, identity.cipher.decrypt(account.id_number_encrypted, context="id_number")


async def birth_date(*, session: AsyncSession, identity: Identity, account_id: uuid.UUID) -> date | None:
    """The birth date in the verified ID number (GB 11643 digits 7-14); None before the real-name check."""
    account = await repository.account(session, account_id)
    if account is None or not account.id_number_encrypted:
        return None
    digits = identity.cipher.decrypt(account.id_number_encrypted, context="id_number")[6:14]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


async def log_citizen_read(
    *,
    session: AsyncSession,
    reader: Principal,
    citizen_id: uuid.UUID,
    purpose: str,
    object_type: str,
    object_id: object,
) -> None:
    """Record, in the reading request's transaction, that someone other than the citizen read their personal data."""
    if reader.account_id == citizen_id:
        return
    staff = await repository.account(session, reader.account_id) if reader.is_person else None
    accesslog.record(
        session,
        citizen_id=citizen_id,
        reader_subject=reader.subject,
        reader_name=staff.name if staff else None,
        reader_kind=("administrator" if reader.has_role("admin") else "officer") if reader.is_person else "partner",
        reader_department=reader.department,
        client_id=reader.client_id,
        purpose=purpose,
        object_type=object_type,
        object_id=object_id,
    )


def me_of(account: Account, roles: set[str], identity: Identity) -> Me:
    phone = identity.cipher.decrypt(account.phone_encrypted, context="phone") if account.phone_encrypted else None
    return Me(**_common(account, roles, identity), phone=phone)


def admin_view(account: Account, roles: set[str], identity: Identity) -> AccountRead:
    phone = identity.cipher.decrypt(account.phone_encrypted, context="phone") if account.phone_encrypted else None
    return AccountRead(**_common(account, roles, identity), phone_masked=mask_phone(phone) if phone else None)


def _common(account: Account, roles: set[str], identity: Identity) -> dict[str, Any]:
    id_number = (
        identity.cipher.decrypt(account.id_number_encrypted, context="id_number")
        if account.id_number_encrypted
        else None
    )
    return {
        "id_number_masked": mask_id_number(id_number) if id_number else None,
        "identity_verified_at": account.identity_verified_at,
        "id": account.id,
        "kind": account.kind,
        "name": account.name,
        "username": account.username,
        "status": account.status,
        "department": account.department,
        "roles": sorted(roles),
        "preferred_language": account.preferred_language,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
        "last_login_at": account.last_login_at,
        "version": account.version,
    }


# -- clients --------------------------------------------------------------------------------------------------------


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


async def register_client(*, session: AsyncSession, data: ClientCreate) -> ClientWithSecret:
    """Register a client; a confidential client using a secret gets it in this response only."""
    client_id = data.client_id or f"client-{secrets.token_hex(8)}"
    if await repository.client(session, client_id) is not None:
        raise ClientIdTaken(f"The client_id {client_id} is taken.")
    secret = new_client_secret() if data.token_endpoint_auth_method.startswith("client_secret") else None
    client = OAuthClient(
        client_id=client_id,
        secret_hash=secret_digest(secret) if secret else None,
        **data.model_dump(exclude={"client_id"}),
    )
    session.add(client)
    await session.flush()
    audit.record(
        session,
        action="identity.client.registered",
        object_type="oauth_client",
        object_id=client_id,
        detail={"kind": data.kind, "grants": data.grant_types, "scopes": data.scopes},
    )
    emit(session, Event(CLIENT_REGISTERED.name, subject=f"oauth_client:{client_id}", payload={"kind": data.kind}))
    return ClientWithSecret(
        **ClientRead.model_validate(client, from_attributes=True).model_dump(), client_secret=secret
    )


async def update_client(
    *, session: AsyncSession, identity: Identity, client_id: str, data: ClientUpdate, if_match: str | None
) -> ClientRead:
    """Change a client; every process drops its cached copy within a second; disabling also revokes its tokens."""
    client = await repository.client(session, client_id)
    if client is None:
        raise ClientNotFound()
    check_if_match(if_match, client.version)
    # Only what differs: a PATCH that changes nothing wrote an audit entry and an event saying the client changed.
    fields = {
        name: value for name, value in data.model_dump(exclude_unset=True).items() if getattr(client, name) != value
    }
    if not fields:
        return ClientRead.model_validate(client, from_attributes=True)
    scopes_removed = sorted(set(client.scopes) - set(fields["scopes"])) if fields.get("scopes") is not None else []
    for name, value in fields.items():
        setattr(client, name, value)
    try:
        check_client_consistency(
            client.kind,
            client.token_endpoint_auth_method,
            client.grant_types,
            client.scopes,
            client.redirect_uris,
            client.jwks,
        )
    except ValueError as error:
        raise InvalidClient(str(error)) from error
    session.add(client)
    await session.flush()
    await _revoke(session, identity, "client", client_id)
    if fields.get("status") == "disabled":
        # Every token issued to it stops: its own (client credentials) and those of the people signed in through it,
        # whose refresh tokens are revoked too, so enabling the client again does not bring them back.
        await repository.revoke_client_refresh_tokens(session, client_id)
        await _revoke(session, identity, "client_tokens", client_id)
    elif scopes_removed:
        # An access token carries its scopes for its whole life (ten minutes): a partner whose partner:submit was
        # taken away went on filing with the token it held. Its tokens stop now; refresh tokens stay, and a refresh
        # issues only the scopes the client still has (AuthorizationServer.issue_for_person).
        await _revoke(session, identity, "client_tokens", client_id)
    audit.record(
        session,
        action="identity.client.updated",
        object_type="oauth_client",
        object_id=client_id,
        detail={"fields": sorted(fields)} | ({"scopes_removed": scopes_removed} if scopes_removed else {}),
    )
    emit(session, Event(CLIENT_UPDATED.name, subject=f"oauth_client:{client_id}", payload={"fields": sorted(fields)}))
    return ClientRead.model_validate(client, from_attributes=True)


async def rotate_client_secret(
    *, session: AsyncSession, identity: Identity, client_id: str, if_match: str | None
) -> ClientWithSecret:
    """Issue a new secret (shown once); the old one, and the access tokens issued before, stop working in every process
    within a second."""
    client = await repository.client(session, client_id)
    if client is None:
        raise ClientNotFound()
    check_if_match(if_match, client.version)
    if not client.token_endpoint_auth_method.startswith("client_secret"):
        raise InvalidClient(f"This client authenticates with {client.token_endpoint_auth_method}, not a secret.")
    secret = new_client_secret()
    client.secret_hash = secret_digest(secret)
    session.add(client)
    await session.flush()
    await _revoke(session, identity, "client", client_id)
    # A secret is rotated because it leaked: the access tokens minted with it (client credentials, or refreshes made
    # with the old secret) worked on for their ten minutes. They stop now, as when a scope is taken away; refresh
    # tokens stay, since using one takes the client's secret and only the new one is accepted.
    await _revoke(session, identity, "client_tokens", client_id)
    audit.record(
        session,
        action="identity.client.secret_rotated",
        object_type="oauth_client",
        object_id=client_id,
        detail={"revoked": "access_tokens"},  # the value, not a key: the audit redacts keys naming a token
    )
    return ClientWithSecret(
        **ClientRead.model_validate(client, from_attributes=True).model_dump(), client_secret=secret
    )


async def list_clients(*, session: AsyncSession, limit: int, cursor: str | None) -> tuple[list[ClientRead], str | None]:
    """Registered clients, secrets never included."""
    rows, next_cursor = await repository.list_clients(session, limit=limit, cursor=cursor)
    return [ClientRead.model_validate(row, from_attributes=True) for row in rows], next_cursor


async def get_client(*, session: AsyncSession, client_id: str) -> OAuthClient:
    client = await repository.client(session, client_id)
    if client is None:
        raise ClientNotFound()
    return client


def _with_secret(client: OAuthClient, secret: str | None) -> ClientWithSecret:
    return ClientWithSecret(
        **ClientRead.model_validate(client, from_attributes=True).model_dump(), client_secret=secret
    )
