"""`/api/v1/credentials`: public verification, the holder's and staff's reads and QR code, supervisors' actions; and
`/api/v1/me/credentials`, the signed-in person's own. `router` carries both (main.py includes it once)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from auth.guards import Person, PublicCaller
from auth.identity import IdentityDep
from core.db import DatabaseDep, RecordingSessionDep, SessionDep
from core.errors import problems
from core.http import ApiRoute, IfMatch, set_etag
from core.http.language import Language, localize
from core.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from services.credentials import service
from services.credentials.dependencies import CredentialId, Holder, Staff, VisibleCredential
from services.credentials.models import Credential
from services.credentials.schemas import MAX_INPUT_BYTES, ActionIn, CredentialRead, VerificationResult, VerifyIn
from services.credentials.workflow import ACTIONS

credentials = APIRouter(prefix="/api/v1/credentials", tags=["credentials"], route_class=ApiRoute)
mine = APIRouter(prefix="/api/v1/me/credentials", tags=["credentials"], route_class=ApiRoute)
router = APIRouter()

PNG = {200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}, "description": "QR code"}}
ActionPath = Annotated[str, Path(description=f"one of: {', '.join(ACTIONS)}", json_schema_extra={"enum": ACTIONS})]


async def _verify(
    database: DatabaseDep, identity: IdentityDep, value: str, language: str, *, field: str, location: str
) -> VerificationResult:
    token = await service.prepare_verification(identity=identity, value=value, field=field, location=location)
    async with database.transaction(write=False) as session:
        return localize(await service.verify(session=session, identity=identity, token=token), language)


@credentials.get(
    "/verify",
    response_model=VerificationResult,
    dependencies=[PublicCaller],
    responses=problems(422, 429),
    summary="Verify a credential (public)",
)
async def verify(
    database: DatabaseDep,
    identity: IdentityDep,
    language: Language,
    token: Annotated[
        str, Query(min_length=1, max_length=MAX_INPUT_BYTES, description="the JWS, or the QR code's whole content")
    ],
) -> VerificationResult:
    """The link a credential's QR code holds. Says whether the signature is ours and intact (`integrity`) and, if so,
    the credential's status in the register. A forged or altered credential is a 200 with `integrity: invalid`."""
    return await _verify(database, identity, token, language, field="token", location="query")


@credentials.post(
    "/verify",
    response_model=VerificationResult,
    dependencies=[PublicCaller],
    responses=problems(422, 429),
    summary="Verify a credential (public; for tokens too long for a link)",
)
async def verify_posted(
    data: VerifyIn, database: DatabaseDep, identity: IdentityDep, language: Language
) -> VerificationResult:
    """The same check as GET, with `{"token": ...}` or `{"qr": <the scanned QR content>}`."""
    field = "token" if data.token is not None else "qr"
    return await _verify(database, identity, data.token or data.qr or "", language, field=field, location="body")


@credentials.get(
    "/{credential_id}",
    response_model=CredentialRead,
    responses=problems(401, 403, 404, 422),
    summary="A credential (its holder, or staff of the issuing department)",
)
async def read_credential(
    credential_id: CredentialId,
    principal: Person,
    session: RecordingSessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
) -> CredentialRead:
    """The holder reads it with the scope that shows its kind (`permits:apply` a permit, `talent:apply` a talent
    card, `account` either). A staff member's read lands in the holder's access log."""
    row = await service.read(session=session, principal=principal, credential_id=credential_id)
    set_etag(response, row.version)
    return localize(service.represent(row, principal=principal, settings=identity.settings), language)


@credentials.get(
    "/{credential_id}/qr.png",
    response_class=Response,
    responses={**PNG, **problems(401, 403, 404, 422)},
    summary="The credential's QR code (PNG; it holds the verification link)",
)
async def credential_qr(row: VisibleCredential, identity: IdentityDep) -> Response:
    png = service.qr_png(settings=identity.settings, row=row)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private"})


@credentials.post(
    "/{credential_id}/actions/{action}",
    response_model=CredentialRead,
    responses=problems(401, 403, 404, 409, 412, 422, 428),
    summary="Suspend, reinstate or revoke (supervisors of the issuing department; send If-Match)",
)
async def take_action(
    credential_id: CredentialId,
    action: ActionPath,
    principal: Staff,
    session: SessionDep,
    identity: IdentityDep,
    response: Response,
    language: Language,
    body: ActionIn | None = None,
    if_match: IfMatch = None,
    dry_run: Annotated[bool, Query(description="check everything and show the outcome; change nothing")] = False,
) -> CredentialRead:
    """Suspending and revoking need a `reason`. A suspended or revoked credential verifies as such at once."""
    reason = body.reason if body else None
    if dry_run:
        row, target = await service.preview(
            session=session,
            principal=principal,
            credential_id=credential_id,
            action=action,
            reason=reason,
            if_match=if_match,
        )
        set_etag(response, row.version)
        return localize(service.represent(row, principal=principal, settings=identity.settings, state=target), language)
    row = await service.transition(
        session=session,
        principal=principal,
        credential_id=credential_id,
        action=action,
        reason=reason,
        if_match=if_match,
    )
    set_etag(response, row.version)
    return localize(service.represent(row, principal=principal, settings=identity.settings), language)


@mine.get("", response_model=Page[CredentialRead], responses=problems(401, 403, 422), summary="Your credentials")
async def list_my_credentials(
    principal: Holder,
    session: SessionDep,
    identity: IdentityDep,
    language: Language,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[CredentialRead]:
    """The permits and talent cards issued to you, newest first, in keyset pages: the permits with `permits:apply`,
    the talent cards with `talent:apply`, both with `account`."""
    before = decode_cursor(cursor, [Credential.id])[0] if cursor else None
    rows, last = await service.list_mine(session=session, principal=principal, limit=limit, before=before)
    items = [service.represent(row, principal=principal, settings=identity.settings) for row in rows]
    return localize(Page(items=items, next_cursor=encode_cursor([last]) if last else None), language)


router.include_router(credentials)
router.include_router(mine)
