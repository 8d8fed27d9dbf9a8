"""The "forgot your password" page the sign-in page links to: a citizen's phone number, then the code sent to it and
a new password. The same rules as the API (auth.recovery.service), in the sign-in pages' style: zh-CN and en, CSRF
double submit, no scripts."""

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from auth.endpoints import CSRF_COOKIE, FORM_BODY, HTML, _csrf, _message, _render
from auth.exceptions import WeakPassword
from auth.i18n import page_language, translator
from auth.identity import Identity, client_address, get_identity
from auth.recovery import service
from auth.recovery.exceptions import Counted
from auth.recovery.schemas import PasswordReset, PhoneCodeRequest
from auth.requests import holds_nul
from core.db import SessionDep
from core.errors import AppError
from core.ratelimit import enforce

router = APIRouter(tags=["oauth2"])


def _page(
    request: Request,
    identity: Identity,
    lang: str,
    *,
    step: str,
    phone: str = "",
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return _render(
        request,
        "reset.html",
        lang=lang,
        status=status,
        csrf=_csrf(request, identity),
        headers=headers,
        step=step,
        phone=phone,
        error=error,
    )


@router.get(
    "/oauth2/password-reset",
    response_class=HTMLResponse,
    summary="The page to reset a forgotten password by phone",
    responses={200: {"content": HTML}},
)
async def reset_page(request: Request, identity: Identity = Depends(get_identity)) -> HTMLResponse:
    return _page(request, identity, page_language(request), step="phone")


@router.post(
    "/oauth2/password-reset",
    response_class=HTMLResponse,
    summary="Send a reset code, or set the new password with it",
    openapi_extra=FORM_BODY,
    responses={
        400: {"description": "Expired or forged form", "content": HTML},
        422: {"description": "Wrong code or refused password", "content": HTML},
        429: {"description": "Too many codes or resets (Retry-After)", "content": HTML},
    },
)
async def reset(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    identity: Identity = Depends(get_identity),
) -> Response:
    lang = page_language(request)
    t = translator(lang)
    form = await request.form()
    fields = {key: str(form.get(key) or "")[:256] for key in ("step", "phone", "phone_code", "password", "csrf_token")}
    phone = fields["phone"].strip()[:11] if fields["phone"].strip().isdigit() else ""
    if holds_nul(form.multi_items()) or not identity.check_csrf(request.cookies.get(CSRF_COOKIE), fields["csrf_token"]):
        return _page(request, identity, lang, step="phone", error=t("expired_form"), status=400)
    address = client_address(request)
    try:
        if fields["step"] == "reset":
            try:
                data = PasswordReset(phone=phone, phone_code=fields["phone_code"], password=fields["password"])
            except ValidationError:
                return _page(request, identity, lang, step="code", phone=phone, error=t("reset_bad_code"), status=422)
            limit, window = identity.settings.password_resets_per_address
            await enforce(identity.limiter, f"reset:{address}", limit=limit, window=window, what="password resets")
            await service.reset_password(session=session, identity=identity, data=data, address=address)
            return _message(request, lang, title=t("reset_title"), detail=t("reset_done"), status=200)
        try:
            asked = PhoneCodeRequest(phone=phone, purpose="reset")
        except ValidationError:
            return _page(request, identity, lang, step="phone", phone=phone, error=t("reset_bad_phone"), status=422)
        made = await service.request_code(
            session=session, identity=identity, phone=asked.phone, purpose="reset", address=address
        )
        if made is not None:
            background.add_task(
                request.app.state.phone_code_sender, phone=asked.phone, code=made[1], purpose="reset", code_id=made[0]
            )
        return _page(request, identity, lang, step="code", phone=asked.phone)
    except Counted:  # a wrong code: the try stands (the session commits)
        return _page(request, identity, lang, step="code", phone=phone, error=t("reset_bad_code"), status=422)
    except WeakPassword:
        await session.rollback()  # the code is not spent on a refused password
        return _page(request, identity, lang, step="code", phone=phone, error=t("reset_weak"), status=422)
    except AppError as error:
        if error.status_code != 429:
            raise
        await session.rollback()
        step = "code" if fields["step"] == "reset" else "phone"
        detail = t("throttled", seconds=error.headers.get("Retry-After", "60"))
        return _page(request, identity, lang, step=step, phone=phone, error=detail, status=429, headers=error.headers)
