"""Cloud callbacks (signed by the cloud, idempotent, replay-proof) and the citizen's real-name identity check."""

from fastapi import APIRouter, Request, Response

from auth.guards import AccountOwner
from auth.identity import IdentityDep
from auth.schemas import Me
from core.db import SessionDep
from core.errors import problems
from core.http import ApiRoute, set_etag
from core.ratelimit import enforce
from services.cloud import service
from services.cloud.dependencies import CloudDep, SignedCallback
from services.cloud.schemas import CallbackAck, IdentityCheck, PaymentNotification, SmsReceipt

callbacks = APIRouter(prefix="/callbacks/cloud", tags=["cloud callbacks"], route_class=ApiRoute)
identity_check = APIRouter(prefix="/api/v1", tags=["accounts"], route_class=ApiRoute)

# Real-name checks cost money at the cloud and probe the national register: a few per account per day.
IDENTITY_CHECKS_PER_DAY = 5


@callbacks.post(
    "/payments", response_model=CallbackAck, dependencies=[SignedCallback], responses=problems(401, 409, 422)
)
async def payment_notification(notification: PaymentNotification, session: SessionDep) -> CallbackAck:
    """A payment was made, declined or refunded. Applied once per NotificationId; a replayed request is refused."""
    applied = await service.apply_payment_notification(session=session, notification=notification)
    return CallbackAck(result="applied" if applied else "duplicate", count=int(applied))


@callbacks.post("/sms", response_model=CallbackAck, dependencies=[SignedCallback], responses=problems(401, 409, 422))
async def sms_receipts(receipts: list[SmsReceipt], session: SessionDep) -> CallbackAck:
    """Delivery reports of SMS we sent; a report already applied changes nothing."""
    changed = await service.apply_sms_receipts(session=session, receipts=receipts)
    return CallbackAck(result="applied" if changed else "duplicate", count=changed)


@identity_check.post(
    "/me/identity-verification", response_model=Me, responses=problems(401, 403, 409, 422, 429, 502, 503)
)
async def verify_identity(
    data: IdentityCheck,
    principal: AccountOwner,
    session: SessionDep,
    identity: IdentityDep,
    cloud: CloudDep,
    request: Request,
    response: Response,
) -> Me:
    """Verify your name and resident ID number against the national register; a match activates your account.
    Binding an ID number to the account is managing it: the `account` scope, which only the city's own apps hold.

    The ID number is stored encrypted and shown masked, even to you."""
    await enforce(
        identity.limiter,
        f"identity-check:{principal.subject}",
        limit=IDENTITY_CHECKS_PER_DAY,
        window=86400,
        what="identity checks for this account",
    )
    me = await service.verify_account_identity(
        session=session,
        identity=identity,
        verifier=cloud.identity,
        principal=principal,
        name=data.name,
        id_number=data.id_number,
    )
    set_etag(response, me.version)
    return me
