"""Every error the API returns is RFC 9457 `application/problem+json`, rendered here and nowhere else.

Domain exceptions subclass `AppError` (or one of its status classes below) and set `code`; `type` is the stable URN
`urn:talent-island:problem:<code>`. FastAPI's own 404 / 405 / 413 / 422 go through the same renderer.
"""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.context import current_actor, current_request_id

logger = logging.getLogger("ti.errors")
security_log = logging.getLogger("ti.security")

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:talent-island:problem:"


class FieldError(BaseModel):
    location: str = Field(description="body, query, path, header or cookie")
    field: str = Field(description="dotted path of the offending field, e.g. `form.0.code`")
    detail: str
    code: str = Field(description="machine-readable reason, e.g. `missing`, `string_too_long`")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=[f"{PROBLEM_TYPE_PREFIX}not-found"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


class AppError(Exception):
    status_code: int = 500
    code: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(AppError):
    status_code, code, title = 400, "bad-request", "Bad request"


class Unauthorized(AppError):
    status_code, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(AppError):
    status_code, code, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status_code, code, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status_code, code, title = 409, "conflict", "Conflict with the current state"


class PreconditionFailed(AppError):
    status_code, code, title = 412, "precondition-failed", "The resource has changed"


class PayloadTooLarge(AppError):
    status_code, code, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(AppError):
    status_code, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(AppError):
    status_code, code, title = 422, "validation-failed", "The request is not valid"


class PreconditionRequired(AppError):
    status_code, code, title = 428, "precondition-required", "This request must be conditional"


class TooManyRequests(AppError):
    status_code, code, title = 429, "too-many-requests", "Too many requests"


class BadGateway(AppError):
    status_code, code, title = 502, "bad-gateway", "An upstream service failed"


class ServiceUnavailable(AppError):
    status_code, code, title = 503, "service-unavailable", "Service unavailable"


def field_error(field: str, detail: str, *, code: str = "invalid", location: str = "body") -> FieldError:
    """One field-level error for a `ValidationFailed`."""
    return FieldError(location=location, field=field, detail=detail, code=code)


# Codes for statuses Starlette / FastAPI raise themselves (unknown routes, wrong methods, body limits).
_HTTP_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = [error.model_dump() for error in errors]
    if extra:
        body.update(extra)
    body = {key: value for key, value in body.items() if value is not None}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        location, path = (loc[0], loc[1:]) if loc else ("body", [])
        errors.append(
            FieldError(
                location=location,
                field=".".join(path) or location,
                detail=str(error.get("msg", "invalid")),
                code=str(error.get("type", "invalid")),
            )
        )
    return errors


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    if exc.status_code in (401, 403):
        # A structured event for each denied access (ASVS logging): who, with which client, was refused what, and
        # why by code (the detail may quote input; a token is never in it).
        actor = current_actor()
        security_log.warning(
            "access denied",
            extra={
                "status": exc.status_code,
                "code": exc.code,
                "method": request.method,
                "route": getattr(request.scope.get("route"), "path", None),
                "subject": actor.subject,
                "client_id": actor.client_id,
                "client": actor.address,
            },
        )
    return problem_of(request, exc)


def problem_of(request: Request, error: AppError) -> JSONResponse:
    """`error` as the problem+json the handler answers it with: for a route that returns it instead of raising it,
    so what the request wrote (a counted try, an audit entry) commits."""
    return problem_response(
        status=error.status_code,
        code=error.code,
        title=error.title,
        detail=error.detail,
        instance=request.url.path,
        errors=error.errors,
        headers=error.headers,
        extra=error.extra,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    headers = exc.headers
    if status == 405 and (allowed := _allowed_methods(request)):
        headers = {**(headers or {}), "Allow": allowed}
    return problem_response(
        status=status,
        code=_HTTP_CODES.get(status, f"http-{status}"),
        title=phrase,
        detail=detail,
        instance=request.url.path,
        headers=headers,
    )


def _allowed_methods(request: Request) -> str:
    """The methods of the resource at the request's path: of every route with the path template of the first route
    that matched (the one Starlette answered for). A 405 must list them all (RFC 9110, 15.5.6), and Starlette's names
    only that first route's, so a collection served by a GET and a POST route said GET."""
    path = get_route_path(request.scope)
    contexts = [c for c in iter_route_contexts(request.app.routes) if getattr(c, "methods", None)]
    template = next((c.path for c in contexts if c.path_regex.match(path)), None)  # None: keep Starlette's
    return ", ".join(sorted({method for c in contexts if c.path == template for method in c.methods}))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = _field_errors(exc)
    if any(error.code == "json_invalid" for error in errors):
        return problem_response(
            status=400,
            code="malformed-body",
            title="The request body is not valid JSON",
            detail="; ".join(_where_json_broke(e) for e in errors if e.code == "json_invalid"),
            instance=request.url.path,
        )
    return problem_response(
        status=422,
        code=ValidationFailed.code,
        title=ValidationFailed.title,
        detail=f"{len(errors)} field(s) failed validation",
        instance=request.url.path,
        errors=errors,
    )


def _where_json_broke(error: FieldError) -> str:
    # FastAPI's parser reports the offset as the field; pydantic's (core.http.body) says line and column itself.
    return error.detail if error.field == error.location else f"{error.detail} at position {error.field}"


async def _stale_write(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        status=412,
        code=PreconditionFailed.code,
        title=PreconditionFailed.title,
        detail="Someone else changed this resource while your request ran; read it again and retry.",
        instance=request.url.path,
    )


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A constraint caught a race the service checks could not (two creates of one unique thing). No SQL in the body.
    logger.warning("integrity error", extra={"error": type(getattr(exc, "orig", exc)).__name__})
    return problem_response(
        status=409,
        code=Conflict.code,
        title=Conflict.title,
        detail="The change conflicts with data that already exists.",
        instance=request.url.path,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem+json renderers (unhandled exceptions are answered by the request middleware)."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StaleDataError, _stale_write)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting a route's error statuses as problem+json."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
