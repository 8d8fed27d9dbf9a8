"""Codes by SMS, resetting a forgotten password with one, and changing the password while signed in."""

from fastapi import APIRouter, BackgroundTasks, Request, Response

from auth.guards import AccountOwner
from auth.identity import IdentityDep, client_address
from auth.recovery import service
from auth.recovery.exceptions import Counted
from auth.recovery.schemas import PasswordChange, PasswordReset, PhoneCodeAccepted, PhoneCodeRequest
from core.db import SessionDep
from core.errors import problem_of, problems
from core.http import ApiRoute
from core.ratelimit import enforce

router = APIRouter(prefix="/api/v1", tags=["accounts"], route_class=ApiRoute)


def code_sender(request: Request) -> service.CodeSender:
    return request.app.state.phone_code_sender


@router.post("/accounts/phone-codes", status_code=202, response_model=PhoneCodeAccepted, responses=problems(422, 429))
async def request_phone_code(
    data: PhoneCodeRequest, request: Request, session: SessionDep, identity: IdentityDep, background: BackgroundTasks
) -> PhoneCodeAccepted:
    """Send a one-time code to a phone number by SMS: to sign up with it (`sign_up`), or to reset the password of the
    citizen account that has it (`reset`). The answer is the same whether or not an account has the number (a reset
    code goes only to a number that has one). A code is 6 digits, valid 10 minutes, works once and dies after 5
    tries; only the newest code of a number counts. At most one a minute, 5 an hour and 10 a day per number."""
    made = await service.request_code(
        session=session, identity=identity, phone=data.phone, purpose=data.purpose, address=client_address(request)
    )
    if made is not None:
        code_id, code = made
        # After the answer has gone (and the code's row committed): the answer takes as long whether or not a code
        # is sent, and the code itself is never written anywhere.
        background.add_task(code_sender(request), phone=data.phone, code=code, purpose=data.purpose, code_id=code_id)
    settings = identity.settings
    return PhoneCodeAccepted(expires_in=settings.phone_code_ttl, resend_after=settings.phone_code_resend_seconds)


@router.post("/accounts/password-reset", status_code=204, responses=problems(422, 429))
async def reset_password(data: PasswordReset, request: Request, session: SessionDep, identity: IdentityDep) -> Response:
    """Set a new password for the citizen account that has this phone number, with a code sent for `reset`. Every
    sign-in of the account ends (sessions, refresh tokens, access tokens) and the citizen is told by SMS and in their
    inbox. Staff accounts are reset by an administrator, not by phone."""
    limit, window = identity.settings.password_resets_per_address
    await enforce(
        identity.limiter, f"reset:{client_address(request)}", limit=limit, window=window, what="password resets"
    )
    try:
        await service.reset_password(session=session, identity=identity, data=data, address=client_address(request))
    except Counted as counted:
        return problem_of(request, counted.error)
    return Response(status_code=204)


@router.post("/me/password", status_code=204, responses=problems(401, 403, 404, 422, 429))
async def change_password(
    data: PasswordChange, principal: AccountOwner, request: Request, session: SessionDep, identity: IdentityDep
) -> Response:
    """Change your password, sending the current one (checked and throttled as a sign-in is), from an app with the
    `account` scope (another app could end your other sign-ins). Your other sign-ins end (other sessions, their
    refresh and access tokens); this one stays. You are told by SMS and in your inbox."""
    try:
        await service.change_password(
            session=session, identity=identity, principal=principal, data=data, address=client_address(request)
        )
    except Counted as counted:
        return problem_of(request, counted.error)
    return Response(status_code=204)
