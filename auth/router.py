"""Accounts, the caller's own profile, and the administrators' account and client registry."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from auth import service
from auth.guards import AccountOwner, Admin, Principal, ProfileReader
from auth.identity import IdentityDep, client_address
from auth.recovery import service as recovery
from auth.recovery.exceptions import Counted
from auth.recovery.schemas import PasswordSet
from auth.schemas import (
    CLIENT_ID_PATTERN,
    AccessLogRead,
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
)
from core import accesslog
from core.db import RecordingSessionDep, SessionDep
from core.errors import problem_of, problems
from core.http import ApiRoute, IdempotencyClaim, IfMatch, idempotency, set_etag
from core.http.language import Language, localize
from core.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from core.ratelimit import enforce


async def _anonymous_owner(request: Request) -> str:
    return f"address:{client_address(request)}"


async def _admin_owner(principal: Admin) -> str:
    return f"account:{principal.subject}"


SignUpKey = Annotated[IdempotencyClaim | None, Depends(idempotency(_anonymous_owner))]
AdminKey = Annotated[IdempotencyClaim | None, Depends(idempotency(_admin_owner))]

accounts = APIRouter(prefix="/api/v1", tags=["accounts"], route_class=ApiRoute)
admin = APIRouter(prefix="/api/v1/admin", tags=["admin"], route_class=ApiRoute, responses=problems(401, 403))


@accounts.post("/accounts", status_code=201, response_model=Me, responses=problems(409, 422, 429))
async def sign_up(
    data: CitizenSignUp, request: Request, session: SessionDep, identity: IdentityDep, _key: SignUpKey
) -> Me | JSONResponse:
    """A citizen creates their own account (unverified until the real-name identity check), with the code sent to
    the phone for `sign_up` (`POST /api/v1/accounts/phone-codes`)."""
    limit, window = identity.settings.signups_per_address
    await enforce(identity.limiter, f"signup:{client_address(request)}", limit=limit, window=window, what="sign-ups")
    try:
        return await recovery.sign_up(session=session, identity=identity, data=data)
    except Counted as counted:  # a wrong code: the try is counted, so the request's transaction must commit
        return problem_of(request, counted.error)


@accounts.get("/me", response_model=Me, responses=problems(401, 403, 404))
async def read_me(principal: ProfileReader, session: SessionDep, identity: IdentityDep, response: Response) -> Me:
    """The signed-in person's own account, for a token with `profile` or `account`. The phone number comes in full
    with `phone` or `account`, the masked ID number with `account` only; through any other token they are null."""
    me = await service.me(session=session, identity=identity, principal=principal)
    set_etag(response, me.version)
    return me


@accounts.get("/me/access-log", response_model=Page[AccessLogRead], responses=problems(401, 403, 422))
async def read_access_log(
    principal: AccountOwner, session: SessionDep, limit: Limit = 20, cursor: Cursor = None
) -> Page[AccessLogRead]:
    """Who read your personal data: officer, administrator or partner system, department, when, and why."""
    before = decode_cursor(cursor, [accesslog.AccessLogEntry.id])[0] if cursor else None
    rows = await accesslog.entries(session, principal.account_id, limit=limit, before=before)
    items = [AccessLogRead.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)


# A client's path segment (a partner system's, or any application's): a client_id as clients are registered.
ClientIdPath = Annotated[str, Path(pattern=CLIENT_ID_PATTERN)]
PartnerId = ClientIdPath


@accounts.get("/me/representations", response_model=list[RepresentationRead], responses=problems(401, 403))
async def read_mandates(principal: AccountOwner, session: SessionDep, language: Language) -> list[RepresentationRead]:
    """The partner systems you have let file applications for you (`on_behalf_of`), such as an employer."""
    return localize(await service.mandates(session=session, principal=principal), language)


@accounts.put(
    "/me/representations/{client_id}", response_model=RepresentationRead, responses=problems(401, 403, 404, 422)
)
async def grant_mandate(
    principal: AccountOwner, client_id: PartnerId, session: SessionDep, language: Language
) -> RepresentationRead:
    """Let this partner system file applications for you; granting again changes nothing."""
    return localize(await service.grant_mandate(session=session, principal=principal, client_id=client_id), language)


@accounts.delete("/me/representations/{client_id}", status_code=204, responses=problems(401, 403, 404, 422))
async def withdraw_mandate(principal: AccountOwner, client_id: PartnerId, session: SessionDep) -> Response:
    """Stop this partner system filing for you: what it has filed stays yours, and it no longer sees or acts on it, nor
    hears of it by webhook."""
    await service.withdraw_mandate(session=session, principal=principal, client_id=client_id)
    return Response(status_code=204)


@accounts.get("/me/consents", response_model=Page[ConsentRead], responses=problems(401, 403, 422))
async def read_consents(
    principal: AccountOwner, session: SessionDep, language: Language, limit: Limit = 20, cursor: Cursor = None
) -> Page[ConsentRead]:
    """The applications you have allowed to act for you, with what you allowed (the scopes), newest first. What
    officers, administrators and partner systems read of your data is at `/me/access-log`."""
    items, next_cursor = await service.consents(session=session, principal=principal, limit=limit, cursor=cursor)
    return localize(Page(items=items, next_cursor=next_cursor), language)


@accounts.delete("/me/consents/{client_id}", status_code=204, responses=problems(401, 403, 404, 422))
async def withdraw_consent(
    principal: AccountOwner, client_id: ClientIdPath, session: SessionDep, identity: IdentityDep
) -> Response:
    """Withdraw your permission: the application's access to your account ends at once (its tokens stop working
    within a second), and it must ask you again."""
    await service.withdraw_consent(session=session, identity=identity, principal=principal, client_id=client_id)
    return Response(status_code=204)


@accounts.patch("/me", response_model=Me, responses=problems(401, 403, 404, 409, 412, 422, 428))
async def update_me(
    data: MeUpdate,
    principal: AccountOwner,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    if_match: IfMatch = None,
) -> Me:
    """Change your display name or preferred language (send If-Match). Managing the account, it takes the `account`
    scope: `profile` lets an app see them, not change them."""
    me = await service.update_me(session=session, identity=identity, principal=principal, data=data, if_match=if_match)
    set_etag(response, me.version)
    return me


@admin.get("/accounts", response_model=Page[AccountRead], responses=problems(422))
async def list_accounts(
    _: Admin,
    session: SessionDep,
    identity: IdentityDep,
    limit: Limit = 20,
    cursor: Cursor = None,
    kind: Annotated[str | None, Query(pattern="^(citizen|staff)$")] = None,
    department: Annotated[str | None, Query(max_length=40)] = None,
    role: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(pattern="^(unverified|active|disabled)$")] = None,
) -> Page[AccountRead]:
    items, next_cursor = await service.list_accounts(
        session=session,
        identity=identity,
        limit=limit,
        cursor=cursor,
        kind=kind,
        department=department,
        role=role,
        status=status,
    )
    return Page(items=items, next_cursor=next_cursor)


@admin.post("/accounts", status_code=201, response_model=AccountRead, responses=problems(409, 422))
async def create_account(
    data: StaffCreate, _: Admin, session: SessionDep, identity: IdentityDep, response: Response, _key: AdminKey
) -> AccountRead:
    """Create a staff account with roles and, for an officer, supervisor, talent officer or catalogue editor (who work
    for one), a department (422 on `department` without one)."""
    account = await service.create_staff(session=session, identity=identity, data=data)
    set_etag(response, account.version)
    response.headers["Location"] = f"/api/v1/admin/accounts/{account.id}"
    return account


@admin.get("/accounts/{account_id}", response_model=AccountRead, responses=problems(404, 422))
async def read_account(
    account_id: uuid.UUID, admin: Admin, session: RecordingSessionDep, identity: IdentityDep, response: Response
) -> AccountRead:
    """One account; reading a citizen's lands in their access log."""
    account = await service.get_account(session=session, identity=identity, account_id=account_id)
    await _shown_to_administrator(session, admin, account)
    set_etag(response, account.version)
    return account


async def _shown_to_administrator(session: AsyncSession, admin: Principal, account: AccountRead) -> None:
    """A citizen's account, shown whole to an administrator, lands in the citizen's access log."""
    if account.kind == "citizen":
        await service.log_citizen_read(
            session=session,
            reader=admin,
            citizen_id=account.id,
            purpose="account administration",
            object_type="account",
            object_id=account.id,
        )


@admin.patch("/accounts/{account_id}", response_model=AccountRead, responses=problems(404, 409, 412, 422, 428))
async def update_account(
    account_id: uuid.UUID,
    data: AccountUpdate,
    admin: Admin,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    if_match: IfMatch = None,
) -> AccountRead:
    """Change roles, department, name or status; removing access revokes the account's tokens everywhere. A citizen
    has no department, and an officer, supervisor, talent officer or catalogue editor has one (422 on `department`).
    The answer shows a citizen's data as a read does, and lands in their access log the same way."""
    account = await service.update_account(
        session=session, identity=identity, account_id=account_id, data=data, if_match=if_match
    )
    await _shown_to_administrator(session, admin, account)
    set_etag(response, account.version)
    return account


@admin.post("/accounts/{account_id}/password", status_code=204, responses=problems(404, 412, 422, 428))
async def set_staff_password(
    account_id: uuid.UUID,
    data: PasswordSet,
    admin: Admin,
    session: SessionDep,
    identity: IdentityDep,
    if_match: IfMatch = None,
) -> Response:
    """Set a new password for a staff member who lost theirs (send If-Match): every sign-in of theirs ends and they
    are told. Citizens reset their own by phone; your own you change at `/api/v1/me/password`."""
    version = await recovery.set_staff_password(
        session=session, identity=identity, administrator=admin, account_id=account_id, data=data, if_match=if_match
    )
    response = Response(status_code=204)
    set_etag(response, version)
    return response


@admin.get("/clients", response_model=Page[ClientRead], responses=problems(422))
async def list_clients(_: Admin, session: SessionDep, limit: Limit = 20, cursor: Cursor = None) -> Page[ClientRead]:
    items, next_cursor = await service.list_clients(session=session, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@admin.post("/clients", status_code=201, response_model=ClientWithSecret, responses=problems(409, 422))
async def register_client(
    data: ClientCreate, _: Admin, session: SessionDep, response: Response, _key: AdminKey
) -> ClientWithSecret:
    """Register a client; its secret, if it has one, is in this response only."""
    client = await service.register_client(session=session, data=data)
    set_etag(response, client.version)
    response.headers["Location"] = f"/api/v1/admin/clients/{client.client_id}"
    return client


@admin.get("/clients/{client_id}", response_model=ClientRead, responses=problems(404))
async def read_client(client_id: str, _: Admin, session: SessionDep, response: Response) -> ClientRead:
    client = await service.get_client(session=session, client_id=client_id)
    set_etag(response, client.version)
    return ClientRead.model_validate(client, from_attributes=True)


@admin.patch("/clients/{client_id}", response_model=ClientRead, responses=problems(404, 412, 422, 428))
async def update_client(
    client_id: str,
    data: ClientUpdate,
    _: Admin,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    if_match: IfMatch = None,
) -> ClientRead:
    client = await service.update_client(
        session=session, identity=identity, client_id=client_id, data=data, if_match=if_match
    )
    set_etag(response, client.version)
    return client


@admin.post("/clients/{client_id}/secret", response_model=ClientWithSecret, responses=problems(404, 412, 422, 428))
async def rotate_secret(
    client_id: str, _: Admin, session: SessionDep, identity: IdentityDep, response: Response, if_match: IfMatch = None
) -> ClientWithSecret:
    """A new secret, shown once; the old one stops working, and so do the access tokens issued to the client before
    (its people's refresh tokens stay: refreshing takes the new secret)."""
    client = await service.rotate_client_secret(
        session=session, identity=identity, client_id=client_id, if_match=if_match
    )
    set_etag(response, client.version)
    return client
