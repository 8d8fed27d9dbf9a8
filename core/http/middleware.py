"""HTTP plumbing every response goes through: request ids, security headers, metrics, access log, last-resort 500."""

import json
import logging
import os
import re
import time
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.context import Actor, bind_actor, bind_request_id, unbind_actor, unbind_request_id
from core.errors import problem_response
from core.metrics import observe_request

logger = logging.getLogger("ti.http")

# An incoming X-Request-ID is kept only if it is short and plain, so it cannot smuggle anything into logs or headers.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

BASE_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    # JSON needs nothing from the page it is in; HTML routes set their own policy.
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    # Personal data must not sit in shared caches; cacheable routes (the public catalogue) say so themselves.
    (b"cache-control", b"no-store"),
)
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` while a route reads its body; FastAPI re-raises HTTPExceptions to the handlers."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds {limit} bytes.")


# U+0000 is text PostgreSQL cannot store, and no field needs: it is refused at the door, whatever the route, instead of
# failing as a 500 where it reaches the database. In a URL it comes percent-encoded; in a body (every API body is JSON:
# documents go to object storage) as a JSON escape, `\u0000` after an even run of backslashes (`\\u0000` is the text
# "\u0000"), or as a raw NUL byte, which UTF-8 JSON never holds (JSON in UTF-16 or UTF-32 is full of them, and
# RFC 8259 asks for UTF-8 between systems: it is refused with the rest).
NUL_DETAIL = "The request holds a NUL (U+0000): no text here may contain one, and a JSON body must be UTF-8."
# OAuth's endpoints and pages answer in their protocol's formats (JSON errors, HTML pages), a NUL included.
OWN_FORMAT_PREFIXES = ("/oauth2/",)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class RefusedBody(StarletteHTTPException):
    """Raised from `receive` once the body is read, as BodyTooLarge is: a 400 saying what no field can take."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


# Two more things a JSON body can hold that no field can take, refused at the door with the NUL. `NaN` and `Infinity`
# are not JSON (RFC 8259 6), but Python's parser takes them: one in a catalogue form's minimum was stored, and the
# public catalogue then answered 500 to everyone. A lone surrogate escape (`\ud800`) is not Unicode text: it could not
# be written back out, and its request answered 500.
NOT_JSON_NUMBER = "JSON has no NaN or Infinity: send a number, or leave the field out."
NOT_UNICODE = "The body is not Unicode text in UTF-8: a lone surrogate (\\ud800-\\udfff), or another encoding."
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class _NonFinite(Exception):
    pass


def _non_finite(_constant: str) -> float:
    raise _NonFinite


def _refusal(body: bytes) -> str | None:
    """Why a body is refused at the door, or None (a malformed body is the route's to describe)."""
    if _body_holds_nul(body):
        return NUL_DETAIL
    if b"\xed" in body:  # UTF-8's lead byte of U+D000-U+DFFF: a surrogate's raw bytes, which json.loads would take
        try:
            body.decode()
        except UnicodeDecodeError:
            return NOT_UNICODE
    if b"NaN" not in body and b"Infinity" not in body and _SURROGATE_ESCAPE.search(body) is None:
        return None  # nearly every body: a few byte searches and a regex scan
    try:
        value = json.loads(body, parse_constant=_non_finite)
    except _NonFinite:
        return NOT_JSON_NUMBER
    except ValueError:
        return None
    return None if _is_text(value) else NOT_UNICODE


def _is_text(value: Any) -> bool:
    if isinstance(value, str):
        return not any("\ud800" <= character <= "\udfff" for character in value)
    if isinstance(value, dict):
        return all(_is_text(key) and _is_text(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_is_text(item) for item in value)
    return True


def _url_holds_nul(scope: Scope) -> bool:
    return "\x00" in scope["path"] or b"%00" in scope["query_string"]


def _body_holds_nul(body: bytes) -> bool:
    return b"\x00" in body or (b"\\u0000" in body and _JSON_NUL.search(body) is not None)


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so it costs microseconds on the hot path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        hsts: bool = False,
        access_log: bool = True,
        unlimited_prefixes: tuple[str, ...] = (),
        own_format_prefixes: tuple[str, ...] = OWN_FORMAT_PREFIXES,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.unlimited_prefixes = unlimited_prefixes
        # Paths that answer in formats other than the API's, and refuse a NUL themselves if they must.
        self.own_format_prefixes = own_format_prefixes
        self.defaults: tuple[tuple[bytes, bytes], ...] = BASE_SECURITY_HEADERS + ((HSTS,) if hsts else ())
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "HEAD":
            # Every resource that answers GET answers HEAD (RFC 9110 9.1): the same status and headers, no body.
            scope = {**scope, "method": "GET"}
        # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID (a microsecond per request).
        request_id = _incoming_request_id(scope["headers"]) or os.urandom(16).hex()
        token = bind_request_id(request_id)
        actor_token = bind_actor(Actor(address=(scope.get("client") or (None,))[0]))
        started = time.perf_counter()
        status = 500
        response_started = False
        defaults = self.defaults

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(item for item in defaults if item[0] not in present)
                message["headers"] = headers
            elif method == "HEAD" and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        limit = self.max_body_bytes
        if self.unlimited_prefixes and scope["path"].startswith(self.unlimited_prefixes):
            limit = 1 << 62  # the mounted app enforces its own cap
        received = 0
        checks_nul = not scope["path"].startswith(self.own_format_prefixes)
        chunks: list[bytes] = []  # kept (not copied) while the route reads them, for the NUL check at the end

        async def receive_checked() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > limit:
                    raise BodyTooLarge(limit)
                if checks_nul:
                    chunks.append(body)
                    if not message.get("more_body", False) and (refusal := _refusal(b"".join(chunks))):
                        raise RefusedBody(refusal)
            return message

        try:
            declared = _content_length(scope["headers"])
            if declared is not None and declared > limit:
                # Refuse before reading a byte of it.
                await _problem(413, "payload-too-large", "Request body too large", BodyTooLarge(limit).detail)(
                    scope, receive, send_with_headers
                )
            elif checks_nul and _url_holds_nul(scope):
                await _problem(400, "bad-request", "Bad Request", NUL_DETAIL, scope["path"])(
                    scope, receive, send_with_headers
                )
            else:
                await self.app(scope, receive_checked, send_with_headers)
        except Exception:
            logger.exception("unhandled error", extra={"path": scope.get("path")})
            if not response_started:
                # No stack trace and no exception text in the body: only the request id to quote to support.
                detail = "An unexpected error occurred; quote the request id when reporting it."
                await _problem(500, "internal-error", "Internal server error", detail, scope.get("path"))(
                    scope, receive, send_with_headers
                )
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            observe_request(method, template, status, elapsed)
            if self.access_log and logger.isEnabledFor(logging.INFO):  # spares building the record's fields
                logger.info(
                    "request",
                    extra={
                        "method": method,
                        "route": template,
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": (scope.get("client") or ("-",))[0],
                    },
                )
            unbind_actor(actor_token)
            unbind_request_id(token)


def _problem(status: int, code: str, title: str, detail: str, instance: str | None = None) -> ASGIApp:
    return problem_response(status=status, code=code, title=title, detail=detail, instance=instance)


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.match(candidate) else None
    return None
