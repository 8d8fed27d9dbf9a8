"""OAuth2 / OpenID Connect endpoints: authorization (login and consent pages), token, revocation, introspection,
userinfo, JWKS, discovery and RP-initiated logout.

Protocol errors follow the protocols (RFC 6749 JSON errors at the token endpoint, error redirects carrying `state` and
`iss`, an HTML page at the server when the client or redirect URI cannot be trusted), not problem+json. Authlib runs in
the threadpool on a sync session of its own (convention 11); everything else here is async.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from auth import repository
from auth.guards import Principal, require
from auth.i18n import page_language, translator
from auth.identity import Identity, client_address, get_identity
from auth.policy import needs_rehash
from auth.requests import StarletteOAuth2Request, adapt, holds_nul
from auth.scopes import SCOPES, scopes_for_person
from auth.server import LoginContext, ServerContext, build
from core import audit
from core.context import Actor
from core.crypto import secret_digest
from core.db import Database, SessionDep
from core.models import utcnow

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
SESSION_COOKIE = "ti_session"
CSRF_COOKIE = "ti_csrf"
COOKIE_PATH = "/oauth2"
PROMPTS = {"none", "login", "consent", "select_account"}
MAX_NONCE = 255  # the width of authorization_code.nonce
# OIDC Core 6.1, 6.2 and 7.2.1: what a server that does not support these answers (the metadata says it does not).
# Ignoring them would replace a signed request's parameters with the query's without the client knowing.
UNSUPPORTED_PARAMETERS = {
    "request": "request_not_supported",
    "request_uri": "request_uri_not_supported",
    "registration": "registration_not_supported",
}

router = APIRouter(tags=["oauth2"])

OAUTH_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "error_description": {"type": "string"},
                "error_uri": {"type": "string"},
            },
        }
    }
}
HTML = {"text/html": {"schema": {"type": "string"}}}
FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}
# The consent and logout forms post back to URLs that carry the protocol parameters; their bodies are optional.
OPTIONAL_FORM_BODY = {"requestBody": {**FORM_BODY["requestBody"], "required": False}}


# -- shared pieces ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    context: LoginContext
    name: str
    status: str


def _database(request: Request) -> Database:
    return request.app.state.db


async def _signed_in(request: Request, identity: Identity) -> SignedIn | None:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret or len(secret) > 100:
        return None
    async with _database(request).transaction(write=False) as session:
        row = await repository.live_session(session, secret_digest(secret))
    if row is None:
        return None
    context = LoginContext(account_id=row["account_id"], session_id=row["id"], auth_time=row["auth_time"])
    return SignedIn(context=context, name=row["name"], status=row["status"])


def _csrf(request: Request, identity: Identity) -> tuple[str, str, bool]:
    """(cookie value, form token, whether the cookie must be set)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie and 20 <= len(cookie) <= 100:
        return cookie, identity.csrf_token(cookie), False
    cookie = identity.new_csrf_cookie()
    return cookie, identity.csrf_token(cookie), True


def _cookie_flags(request: Request) -> dict[str, Any]:
    # Secure in production and on any https request; plain http only on a developer's or test machine.
    secure = request.app.state.settings.is_production or request.url.scheme == "https"
    return {"httponly": True, "secure": secure, "path": COOKIE_PATH}


def _page_csp(form_target: str | None = None) -> str:
    # No scripts at all. Chrome applies form-action to every redirect after a form submit, so the consent and login
    # pages also allow the origin of the client's (already validated) redirect URI.
    actions = "'self'" + (f" {form_target}" if form_target else "")
    return (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        f"form-action {actions}; frame-ancestors 'none'"
    )


def _origin(uri: str | None) -> str | None:
    if not uri:
        return None
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _render(
    request: Request,
    template: str,
    *,
    lang: str,
    status: int = 200,
    form_target: str | None = None,
    csrf: tuple[str, str, bool] | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "ui_locales")]
    switch = "en" if lang == "zh-CN" else "zh-CN"
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": translator(lang),
            "switch_url": f"{request.url.path}?{urlencode([*query, ('lang', switch)])}",
            "csrf_token": csrf[1] if csrf else "",
            **context,
        },
        status_code=status,
        headers={"Content-Security-Policy": _page_csp(form_target), "Cache-Control": "no-store", **(headers or {})},
    )
    if csrf and csrf[2]:
        response.set_cookie(CSRF_COOKIE, csrf[0], samesite="strict", max_age=3600, **_cookie_flags(request))
    return response


def _message(
    request: Request,
    lang: str,
    *,
    title: str,
    detail: str | None = None,
    code: str | None = None,
    status: int = 400,
    help_text: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return _render(
        request,
        "message.html",
        lang=lang,
        status=status,
        title=title,
        detail=detail,
        code=code,
        help=help_text,
        is_error=status >= 400,
        headers=headers,
    )


def _with_iss(location: str, issuer: str) -> str:
    # RFC 9207: every authorization response names its issuer, so a client can tell which server answered.
    return add_params_to_uri(location, [("iss", issuer)])


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})


def _oauth_json(status: int, body: Any, headers: list[tuple[str, str]]) -> JSONResponse:
    response = JSONResponse(body, status_code=status)
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


async def _with_server(
    request: Request,
    identity: Identity,
    work: Any,
    *,
    write: bool = True,
    single_statement: bool = False,
    login: LoginContext | None = None,
) -> Any:
    """Run `work(server)` on a fresh Authlib server in one transaction (committed unless it raises).

    Authlib is synchronous. `run_sync` hands it the sync face of an AsyncSession: its queries still go through the
    async driver on the event loop (SQLAlchemy's greenlet bridge), so no thread hop and no second connection pool.
    """
    address = client_address(request)
    async with _database(request).transaction(write=write, single_statement=single_statement) as session:

        def run(sync_session: Any) -> Any:
            return work(build(ServerContext(sync_session, identity, identity.settings, address, login)))

        return await session.run_sync(run)


# -- the authorization endpoint ---------------------------------------------------------------------------------------


@dataclass
class Validated:
    client: Any = None
    redirect_uri: str | None = None
    scope: str = ""
    error_redirect: str | None = None
    error_page: tuple[str, str] | None = None


def _validate(server: Any, oauth_request: StarletteOAuth2Request) -> Validated:
    try:
        grant = server.get_consent_grant(oauth_request, end_user=None)
    except OAuth2Error as error:
        if error.redirect_uri:
            _, _, headers = error()
            return Validated(error_redirect=dict(headers)["Location"])
        return Validated(error_page=(error.error or "invalid_request", error.get_error_description() or ""))
    except ValueError:
        # What Authlib raises instead of its error when that error's description would quote a parameter holding
        # characters RFC 6749 4.1.2.1 forbids there (a tab, a quote, non-ASCII). Which error it was, and so whether
        # the redirect URI was checked, is lost with it: the error page, never a redirect.
        return Validated(error_page=("invalid_request", "a parameter holds characters no valid request has"))
    return Validated(client=grant.client, redirect_uri=grant.redirect_uri, scope=oauth_request.scope or "")


def _openid_without_redirect_uri(params: dict[str, str]) -> bool:
    """OIDC Core 3.1.2.1 makes redirect_uri REQUIRED in an OpenID Connect request, where RFC 6749 3.1.2.3 lets a plain
    OAuth request fall back on a client's one registered URI. Unnamed, the user would be sent to whichever URI the
    client registered first, a URI the request never asked for (and its code bound to no redirect_uri at all)."""
    return "openid" in (params.get("scope") or "").split() and not params.get("redirect_uri")


def _error_redirect(
    redirect_uri: str, error: str, state: str | None, issuer: str, description: str
) -> RedirectResponse:
    params = [("error", error), ("error_description", description)]
    if state:
        params.append(("state", state))
    return _redirect(_with_iss(add_params_to_uri(redirect_uri, params), issuer))


def _asks_fresh_sign_in(max_age: str | None) -> bool:
    # OIDC Core 3.1.2.1: max_age=0 is prompt=login by another name.
    return max_age is not None and max_age.isdigit() and int(max_age) == 0


def _after_sign_in(request: Request) -> str:
    """The authorization URL to come back to after signing in, without the prompt=login or max_age=0 that asked for
    the sign-in: it satisfies them, and kept they would ask again forever."""
    query = []
    for key, value in request.query_params.multi_items():
        if key == "prompt":
            value = " ".join(p for p in value.split() if p != "login")
            if not value:
                continue
        if key == "max_age" and _asks_fresh_sign_in(value):
            continue
        query.append((key, value))
    return f"/oauth2/authorize?{urlencode(query)}"


@router.get(
    "/oauth2/authorize",
    name="authorize",
    response_class=HTMLResponse,
    summary="Authorization endpoint (code + PKCE S256)",
    responses={
        200: {"description": "The sign-in or consent page", "content": HTML},
        302: {"description": "Back to the client with `code`, `state` and `iss` (or an error)"},
        400: {
            "description": (
                "The client or redirect URI cannot be trusted, or an OpenID request names no redirect_uri: an error "
                "page, no redirect"
            ),
            "content": HTML,
        },
    },
)
@router.post(
    "/oauth2/authorize",
    name="authorize_decision",
    response_class=HTMLResponse,
    summary="Consent decision (the consent page posts here)",
    openapi_extra=OPTIONAL_FORM_BODY,
    responses={
        200: {"description": "The consent page again", "content": HTML},
        302: {"description": "Back to the client"},
        400: {"description": "Error page", "content": HTML},
    },
)
async def authorize(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    lang = page_language(request)
    t = translator(lang)
    settings = identity.settings
    await identity.ready()
    oauth_request = await adapt(request, payload="query")
    params = oauth_request.payload.data
    state = params.get("state")
    signed_in = await _signed_in(request, identity)

    validated: Validated = await _with_server(
        request, identity, lambda server: _validate(server, oauth_request), write=False
    )
    if validated.error_page:
        code, description = validated.error_page
        return _message(request, lang, title=t("error_title"), detail=description, code=code, help_text=t("error_help"))
    if _openid_without_redirect_uri(params):
        # Before any redirect, an error's too: the request has not named where to send the user.
        return _message(
            request,
            lang,
            title=t("error_title"),
            detail="redirect_uri is required in an OpenID Connect request",
            code="invalid_request",
            help_text=t("error_help"),
        )
    if validated.error_redirect:
        return _redirect(_with_iss(validated.error_redirect, settings.issuer))
    client, redirect_uri = validated.client, validated.redirect_uri

    def fail(error: str, description: str) -> RedirectResponse:
        return _error_redirect(redirect_uri, error, state, settings.issuer, description)

    prompt = set(params.get("prompt", "").split())
    if prompt - PROMPTS or ("none" in prompt and len(prompt) > 1):
        return fail("invalid_request", "prompt must be none, or any of login, consent, select_account")
    max_age = params.get("max_age")
    if max_age is not None and not max_age.isdigit():
        return fail("invalid_request", "max_age must be a number of seconds")
    if len(params.get("nonce") or "") > MAX_NONCE:
        return fail("invalid_request", f"nonce must be at most {MAX_NONCE} characters")
    for parameter, error in UNSUPPORTED_PARAMETERS.items():
        if parameter in params:
            return fail(error, f"{parameter} is not supported")

    fresh = "login" in prompt or _asks_fresh_sign_in(max_age)
    stale = (
        signed_in is not None
        and max_age is not None
        and (utcnow() - signed_in.context.auth_time).total_seconds() > int(max_age)
    )
    if signed_in is None or fresh or stale:
        if "none" in prompt:
            return fail("login_required", "the user is not signed in")
        csrf = _csrf(request, identity)
        return _render(
            request,
            "login.html",
            lang=lang,
            csrf=csrf,
            form_target=_origin(redirect_uri),
            client_name=client.name(lang),
            return_to=_after_sign_in(request),
            identifier="",
            error=None,
        )

    async with _database(request).transaction(write=False) as session:
        roles = await repository.roles(session, signed_in.context.account_id)
        consented = await repository.consented_scopes(session, signed_in.context.account_id, client.client_id)
    granted = scopes_for_person(set(validated.scope.split()), roles)
    if not granted:
        return fail("invalid_scope", "none of the requested scopes can be granted to this user")
    needs_consent = not client.skip_consent and ("consent" in prompt or not granted <= consented)
    if needs_consent:
        if "none" in prompt:
            return fail("consent_required", "the user has not consented to these scopes")
        decision = oauth_request.form.get("decision") if request.method == "POST" else None
        csrf = _csrf(request, identity)
        if decision is not None and not identity.check_csrf(
            request.cookies.get(CSRF_COOKIE), oauth_request.form.get("csrf_token")
        ):
            decision = None  # a forged or stale form: ask again
        if decision == "deny":
            _audit_consent(request, identity, signed_in, client.client_id, granted, granted_it=False)
            return fail("access_denied", "the user denied the request")
        if decision != "allow":
            return _render(
                request,
                "consent.html",
                lang=lang,
                csrf=csrf,
                form_target=_origin(redirect_uri),
                client_name=client.name(lang),
                account_name=signed_in.name,
                action=f"/oauth2/authorize?{request.url.query}",
                scopes=[
                    {"name": n, "text": getattr(SCOPES[n], "en" if lang == "en" else "zh")} for n in sorted(granted)
                ],
            )
        async with _database(request).transaction() as session:
            await repository.save_consent(session, signed_in.context.account_id, client.client_id, granted)
            _audit_consent(request, identity, signed_in, client.client_id, granted, granted_it=True, session=session)

    def issue(server: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        grant = server.get_consent_grant(oauth_request, end_user=None)
        account = repository.account_sync(server.ctx.session, signed_in.context.account_id)
        return server.create_authorization_response(oauth_request, grant_user=account, grant=grant)

    status, _, headers = await _with_server(request, identity, issue, login=signed_in.context)
    location = dict(headers).get("Location")
    if status != 302 or not location:
        return _message(request, lang, title=t("error_title"), help_text=t("error_help"))
    return _redirect(_with_iss(location, settings.issuer))


def _audit_consent(
    request: Request,
    identity: Identity,
    signed_in: SignedIn,
    client_id: str,
    scopes: set[str],
    *,
    granted_it: bool,
    session: Any = None,
) -> None:
    if session is None:
        return  # a denial changes nothing; the redirect itself is the record the client keeps
    audit.record(
        session,
        action="auth.consent.granted" if granted_it else "auth.consent.denied",
        object_type="oauth_client",
        object_id=client_id,
        detail={"scopes": sorted(scopes)},
        actor=Actor(subject=str(signed_in.context.account_id), client_id=client_id, address=client_address(request)),
    )


# -- signing in and out -----------------------------------------------------------------------------------------------


def _safe_return(value: str | None) -> str | None:
    """Only our own authorization endpoint: never an open redirect."""
    if value and value.startswith("/oauth2/authorize?") and "\\" not in value and "//" not in value[1:]:
        return value
    return None


@router.get(
    "/oauth2/login", response_class=HTMLResponse, summary="The sign-in page", responses={200: {"content": HTML}}
)
async def login_page(request: Request, identity: Identity = Depends(get_identity)) -> HTMLResponse:
    lang = page_language(request)
    return _render(
        request,
        "login.html",
        lang=lang,
        csrf=_csrf(request, identity),
        client_name=None,
        return_to=_safe_return(request.query_params.get("return_to")) or "",
        identifier="",
        error=None,
    )


@router.post(
    "/oauth2/login",
    response_class=HTMLResponse,
    summary="Sign in with phone number or username and password",
    openapi_extra=FORM_BODY,
    responses={
        303: {"description": "Signed in: on to `return_to` (the authorization request) or the signed-in page"},
        400: {"description": "Expired or forged form", "content": HTML},
        401: {"description": "Wrong credentials", "content": HTML},
        429: {"description": "Too many attempts (Retry-After)", "content": HTML},
    },
)
async def login(request: Request, session: SessionDep, identity: Identity = Depends(get_identity)) -> Response:
    lang = page_language(request)
    t = translator(lang)
    form = await request.form()
    forged = holds_nul(form.multi_items())  # no browser sends a NUL, and PostgreSQL could not look one up
    identifier = "" if forged else str(form.get("identifier") or "").strip()[:64]
    password = str(form.get("password") or "")[:256]
    return_to = _safe_return(str(form.get("return_to") or ""))
    csrf = _csrf(request, identity)
    address = client_address(request)

    def again(error: str, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
        return _render(
            request,
            "login.html",
            lang=lang,
            status=status,
            csrf=csrf,
            client_name=None,
            return_to=return_to or "",
            identifier=identifier,
            error=error,
            headers=headers,
        )

    if forged or not identity.check_csrf(request.cookies.get(CSRF_COOKIE), str(form.get("csrf_token") or "")):
        return again(t("expired_form"), 400)
    settings = identity.settings
    limit, window = settings.login_attempts_per_address
    attempt = await identity.limiter.hit(f"login:addr:{address}", limit=limit, window=window)
    if not attempt.allowed:
        audit.record(session, action="auth.login.throttled", outcome="denied", detail={"scope": "address"})
        return again(t("throttled", seconds=attempt.retry_after), 429, {"Retry-After": str(attempt.retry_after)})

    phone_hash = identity.cipher.lookup_hash(identifier, context="phone") if identifier.isdigit() else None
    account = await repository.account_by_login(
        session, username=None if phone_hash else identifier, phone_hash=phone_hash
    )
    failure_limit, failure_window = settings.login_failures_per_account
    # Per identifier, whether or not an account has it: a lockout only existing accounts got would tell which phone
    # numbers and usernames have one. Keyed on a keyed hash, so no phone number sits in the limiter's keys.
    failures_key = f"login:fail:{identity.cipher.lookup_hash(identifier, context='login')}"
    # A guess is counted before its password is checked, not after it fails: counted after, every guess sent at once
    # passed the check while none had failed yet (60 concurrent guesses got 24 checked). A success clears the count
    # below. Guesses refused while locked out are not counted (peek first): counted, a lockout kept up by one guess a
    # minute would never lift.
    lockout = await identity.limiter.peek(failures_key, limit=failure_limit, window=failure_window)
    if lockout.allowed:
        lockout = await identity.limiter.hit(failures_key, limit=failure_limit, window=failure_window)
    if not lockout.allowed:
        retry = lockout.retry_after  # when enough of the failures have slid out of the window
        audit.record(
            session,
            action="auth.login.throttled",
            object_type="account" if account else None,
            object_id=account["id"] if account else None,
            outcome="denied",
            detail={"scope": "login"},
        )
        return again(t("throttled", seconds=retry), 429, {"Retry-After": str(retry)})

    ok = await identity.passwords.verify(account["password_hash"] if account else None, password)
    if not ok or account["status"] == "disabled":
        audit.record(
            session,
            action="auth.login.failed",
            object_type="account" if account else None,
            object_id=account["id"] if account else None,
            outcome="failure",
            detail={"reason": "disabled" if ok else "bad_credentials"},
        )
        return again(t("bad_credentials"), 401)

    await identity.limiter.reset(failures_key, window=failure_window)
    now = utcnow()
    secret = secrets.token_urlsafe(32)
    session_id = uuid.uuid4()
    await repository.start_session(
        session,
        {
            "id": session_id,
            "secret_hash": secret_digest(secret),
            "account_id": account["id"],
            "auth_time": now,
            "expires_at": now + timedelta(seconds=settings.login_session_ttl),
            "address": address,
        },
    )
    await repository.record_login(session, account["id"], now)
    if needs_rehash(account["password_hash"]):
        from auth.service import rehash_password

        await rehash_password(session=session, identity=identity, account_id=account["id"], password=password)
    audit.record(
        session,
        action="auth.login.succeeded",
        object_type="account",
        object_id=account["id"],
        detail={"session": str(session_id)},
        actor=Actor(subject=str(account["id"]), address=address),
    )
    response = RedirectResponse(return_to or f"/oauth2/login/done?lang={lang}", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, secret, samesite="lax", max_age=settings.login_session_ttl, **_cookie_flags(request)
    )
    return response


@router.get(
    "/oauth2/login/done",
    response_class=HTMLResponse,
    summary="Signed-in confirmation page",
    responses={200: {"content": HTML}},
)
async def signed_in_page(request: Request) -> HTMLResponse:
    lang = page_language(request)
    t = translator(lang)
    return _message(request, lang, title=t("signed_in_title"), status=200)


@router.get(
    "/oauth2/logout",
    name="logout",
    response_class=HTMLResponse,
    summary="RP-initiated logout (OpenID Connect)",
    responses={
        200: {"content": HTML},
        302: {"description": "Back to post_logout_redirect_uri"},
        400: {"content": HTML},
    },
)
@router.post(
    "/oauth2/logout",
    name="logout_confirm",
    response_class=HTMLResponse,
    summary="Confirm signing out",
    openapi_extra=OPTIONAL_FORM_BODY,
    responses={
        200: {"content": HTML},
        302: {"description": "Back to post_logout_redirect_uri"},
        400: {"content": HTML},
    },
)
async def logout(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    lang = page_language(request)
    t = translator(lang)
    await identity.ready()
    form = await request.form() if request.method == "POST" else {}
    params = {**dict(request.query_params), **{k: str(v) for k, v in dict(form).items()}}
    if holds_nul(params.items()):  # no client sends a NUL, and PostgreSQL could not look one up
        return _message(request, lang, title=t("error_title"), detail="a parameter holds a NUL", code="invalid_request")
    hint_claims = None
    if params.get("id_token_hint"):
        try:
            hint_claims = identity.tokens.verify_id_token(params["id_token_hint"], allow_expired=True)
        except Exception:
            return _message(
                request, lang, title=t("error_title"), detail="id_token_hint is not valid", code="invalid_request"
            )
    if params.get("client_id") and hint_claims and not _issued_to(hint_claims, params["client_id"]):
        # RP-Initiated Logout 2: otherwise one client's ID token could send the user to another client's URI.
        return _message(
            request,
            lang,
            title=t("error_title"),
            code="invalid_request",
            detail="client_id is not the audience of id_token_hint",
        )
    client_id = params.get("client_id") or (hint_claims or {}).get("aud")
    redirect_to = params.get("post_logout_redirect_uri")
    if redirect_to:
        async with _database(request).transaction(write=False) as session:
            row = await repository.active_client(session, client_id) if isinstance(client_id, str) else None
        if row is None or redirect_to not in (row.post_logout_redirect_uris or []):
            return _message(
                request,
                lang,
                title=t("error_title"),
                code="invalid_request",
                detail="post_logout_redirect_uri is not registered for this client",
            )

    signed_in = await _signed_in(request, identity)
    confirmed = (
        request.method == "POST"
        and params.get("decision") == "logout"
        and identity.check_csrf(request.cookies.get(CSRF_COOKIE), params.get("csrf_token"))
    )
    hinted = signed_in and hint_claims and hint_claims.get("sub") == str(signed_in.context.account_id)
    if signed_in and not (confirmed or hinted):
        if request.method == "POST" and params.get("decision") == "stay":
            return _message(request, lang, title=t("signed_in_title"), status=200)
        return _render(
            request,
            "logout.html",
            lang=lang,
            csrf=_csrf(request, identity),
            action=f"/oauth2/logout?{request.url.query}",
            form_target=_origin(redirect_to),
        )
    if signed_in:
        await _end_session(request, identity, signed_in)
    if redirect_to:
        target = add_params_to_uri(redirect_to, [("state", params["state"])] if params.get("state") else [])
        response: Response = _redirect(target)
    else:
        response = _message(request, lang, title=t("signed_out_title"), status=200)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def _issued_to(claims: dict[str, Any], client_id: str) -> bool:
    audience = claims.get("aud")
    return client_id in (audience if isinstance(audience, list) else [audience])


async def _end_session(request: Request, identity: Identity, signed_in: SignedIn) -> None:
    session_id = signed_in.context.session_id

    def revoke(server: Any) -> None:
        for family in repository.families_of_session_sync(server.ctx.session, session_id):
            server.revoke_family(family, reason="signed out")
        server.revoke("session", str(session_id))

    await _with_server(request, identity, revoke)
    async with _database(request).transaction() as session:
        await repository.end_session(session, session_id)
        audit.record(
            session,
            action="auth.logout",
            object_type="login_session",
            object_id=session_id,
            actor=Actor(subject=str(signed_in.context.account_id), address=client_address(request)),
        )


# -- token, revocation, introspection ---------------------------------------------------------------------------------


async def _limit_token_requests(request: Request, identity: Identity) -> None:
    """The caller's address's budget, spent by every request. The client's budget is spent only once the client has
    authenticated (AuthorizationServer.authenticate_client): a client named by anyone else must not run out."""
    limit, window = identity.settings.token_requests_per_address
    decision = await identity.limiter.hit(f"token:addr:{client_address(request)}", limit=limit, window=window)
    if not decision.allowed:
        raise _TokenThrottled(decision.retry_after)


class _TokenThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


def _throttled(retry_after: int) -> JSONResponse:
    return _oauth_json(
        429,
        {"error": "slow_down", "error_description": "too many requests; retry later"},
        [("Retry-After", str(retry_after))],
    )


TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Tokens", "content": {"application/json": {"schema": {"type": "object"}}}},
    400: {"description": "RFC 6749 error", "content": OAUTH_ERROR},
    401: {"description": "Client authentication failed (RFC 6749 invalid_client)", "content": OAUTH_ERROR},
    429: {"description": "Too many requests (Retry-After)", "content": OAUTH_ERROR},
}


@router.post(
    "/oauth2/token",
    summary="Token endpoint (authorization_code, refresh_token, client_credentials)",
    response_class=JSONResponse,
    responses=TOKEN_RESPONSES,
    openapi_extra=FORM_BODY,
)
async def token(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    await identity.ready()
    oauth_request = await adapt(request)
    try:
        await _limit_token_requests(request, identity)
    except _TokenThrottled as throttled:
        return _throttled(throttled.retry_after)

    def exchange(server: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        status, body, headers = server.create_token_response(oauth_request)
        if isinstance(body, dict) and body.get("error") == "invalid_client":
            audit.record(
                server.ctx.session,
                action="auth.client.authentication_failed",
                outcome="failure",
                detail={"grant": oauth_request.payload.grant_type or ""},
            )
        return status, body, headers

    # A client-credentials grant authenticated by secret writes one row: its audit entry (or the failure's).
    single = oauth_request.payload.grant_type == "client_credentials" and "client_assertion" not in oauth_request.form
    return _oauth_json(*await _with_server(request, identity, exchange, single_statement=single))


@router.post(
    "/oauth2/revoke",
    summary="Token revocation (RFC 7009)",
    response_class=JSONResponse,
    responses=TOKEN_RESPONSES,
    openapi_extra=FORM_BODY,
)
async def revoke(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    await identity.ready()
    oauth_request = await adapt(request)
    try:
        await _limit_token_requests(request, identity)
    except _TokenThrottled as throttled:
        return _throttled(throttled.retry_after)
    return _oauth_json(
        *await _with_server(
            request, identity, lambda server: server.create_endpoint_response("revocation", oauth_request)
        )
    )


@router.post(
    "/oauth2/introspect",
    summary="Token introspection (RFC 7662)",
    response_class=JSONResponse,
    responses=TOKEN_RESPONSES,
    openapi_extra=FORM_BODY,
)
async def introspect(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    await identity.ready()
    oauth_request = await adapt(request)
    try:
        await _limit_token_requests(request, identity)
    except _TokenThrottled as throttled:
        return _throttled(throttled.retry_after)
    token = oauth_request.form.get("token")
    if isinstance(token, str) and token.count(".") == 2:
        # A token signed with a key another process has just made would otherwise be reported inactive.
        await identity.keys_current_for(token, "access")
    return _oauth_json(
        *await _with_server(
            request, identity, lambda server: server.create_endpoint_response("introspection", oauth_request)
        )
    )


# -- userinfo, keys, discovery ----------------------------------------------------------------------------------------


UserInfoCaller = require(scopes={"openid"}, people_only=True)


async def _userinfo(session: Any, identity: Identity, principal: Principal) -> dict[str, Any]:
    account = await repository.account(session, principal.account_id)
    if account is None:
        from auth.guards import InvalidToken

        raise InvalidToken("The account no longer exists.")
    claims: dict[str, Any] = {"sub": principal.subject}
    if "profile" in principal.scopes:
        claims |= {
            "name": account.name,
            "locale": account.preferred_language,
            "updated_at": int(account.updated_at.timestamp()),
        }
    if "phone" in principal.scopes and account.phone_encrypted:
        claims |= {
            "phone_number": identity.cipher.decrypt(account.phone_encrypted, context="phone"),
            "phone_number_verified": account.status == "active",
        }
    return claims


USERINFO_RESPONSES = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}},
    **{
        status: {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for status in (401, 403)
    },
}


@router.get("/oauth2/userinfo", summary="OpenID Connect UserInfo", responses=USERINFO_RESPONSES)
async def userinfo(
    session: SessionDep, principal: Principal = UserInfoCaller, identity: Identity = Depends(get_identity)
) -> dict[str, Any]:
    return await _userinfo(session, identity, principal)


@router.post("/oauth2/userinfo", summary="OpenID Connect UserInfo (POST)", responses=USERINFO_RESPONSES)
async def userinfo_post(
    session: SessionDep, principal: Principal = UserInfoCaller, identity: Identity = Depends(get_identity)
) -> dict[str, Any]:
    return await _userinfo(session, identity, principal)


@router.get(
    "/oauth2/jwks",
    summary="The public signing keys (current and previous)",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def jwks(identity: Identity = Depends(get_identity)) -> JSONResponse:
    await identity.ready()
    return JSONResponse(identity.keyring.jwks(), headers={"Cache-Control": "public, max-age=300"})


def _metadata(identity: Identity) -> dict[str, Any]:
    issuer = identity.settings.issuer
    auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "end_session_endpoint": f"{issuer}/oauth2/logout",
        "scopes_supported": sorted(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods[:3],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "sid",
            "name",
            "locale",
            "phone_number",
            "phone_number_verified",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["zh-CN", "en"],
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "frontchannel_logout_supported": False,
    }


@router.get(
    "/.well-known/openid-configuration",
    summary="OpenID Connect discovery",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def openid_configuration(identity: Identity = Depends(get_identity)) -> JSONResponse:
    return JSONResponse(_metadata(identity), headers={"Cache-Control": "public, max-age=3600"})


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def authorization_server_metadata(identity: Identity = Depends(get_identity)) -> JSONResponse:
    return JSONResponse(_metadata(identity), headers={"Cache-Control": "public, max-age=3600"})


@router.get("/oauth2/assets/style.css", include_in_schema=False)
async def stylesheet() -> Response:
    css = (Path(__file__).with_name("templates") / "style.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=86400"})
