"""The OpenAPI document: readable operation ids and problem+json for every documented error."""

from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import Schema
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic.json_schema import models_json_schema

from core.errors import PROBLEM_JSON, FieldError, Problem, problems
from core.http.body import DOCUMENTED
from core.http.middleware import OWN_FORMAT_PREFIXES


def operation_id(route: APIRoute) -> str:
    """`{tag}-{name}`, e.g. `health-readyz`: stable, readable names for generated clients."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def _problem_components() -> dict[str, Any]:
    _, schema = models_json_schema(
        [(Problem, "serialization"), (FieldError, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    return schema["$defs"]


def _body_components() -> dict[str, Any]:
    """The schemas of bodies routes validate themselves (core.http.body): FastAPI only sees its own parameters."""
    if not DOCUMENTED:
        return {}
    _, schema = models_json_schema(
        [(model, "validation") for model in dict.fromkeys(DOCUMENTED)], ref_template="#/components/schemas/{model}"
    )
    # As FastAPI publishes its own: through the OpenAPI model (integer bounds as numbers, no null defaults).
    return {
        name: jsonable_encoder(Schema(**definition), by_alias=True, exclude_none=True)
        for name, definition in schema["$defs"].items()
    }


def _document_transport_errors(path: str, operation: dict[str, Any]) -> None:
    """Replace FastAPI's default 422 schema with ours, and document what the framework itself may answer: a 400 for
    any request holding a NUL character (core.http.middleware), except where OAuth answers in its own formats, and for
    a JSON body, 413 past the size limit and 415 in another format (core.http.routing)."""
    responses = operation.setdefault("responses", {})
    if "422" in responses:
        responses["422"] = problems(422)[422]
    if not path.startswith(OWN_FORMAT_PREFIXES):
        responses.setdefault("400", problems(400)[400])
    body = operation.get("requestBody", {}).get("content", {})
    if any(media.endswith("json") for media in body):
        responses.setdefault("413", problems(413)[413])
        responses.setdefault("415", problems(415)[415])
        responses.setdefault("422", problems(422)[422])


def _from_dependencies(app: FastAPI) -> dict[tuple[str, str], tuple[set[int], list[list[str]] | None]]:
    """(path, method) -> what a route's dependencies say of it: the statuses they may answer (a dependency with a
    `problems` attribute: the cloud adapter's 502 and 503, the guards' 429), and the scopes of each way through its
    guards (dependencies with `security_alternatives`: auth.guards.Guard; an idempotency key's guard as well as the
    route's, say)."""
    found: dict[tuple[str, str], tuple[set[int], list[list[str]] | None]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path_format is None:
            continue
        statuses: set[int] = set()
        guards: dict[int, list[list[str]]] = {}
        # The context's: a router included in another carries the outer router's dependencies (the audit API's guard)
        # there, not on the route it was declared with.
        pending = [context.dependant]
        while pending:
            dependant = pending.pop()
            statuses.update(getattr(dependant.call, "problems", ()))
            if (alternatives := getattr(dependant.call, "security_alternatives", None)) is not None:
                guards[id(dependant.call)] = alternatives
            pending.extend(dependant.dependencies)
        security = _all_of(list(guards.values())) if guards else None
        for method in route.methods if statuses or security else ():
            found[(context.path_format, method.lower())] = (statuses, security)
    return found


def _all_of(guards: list[list[list[str]]]) -> list[list[str]]:
    """The ways through every one of `guards` (each a list of ways through it, a way being the scopes it needs): one
    way through each, their scopes together; a way that needs more than another is left out."""
    ways = [frozenset()]
    for alternatives in guards:
        ways = [way | frozenset(scopes) for way in ways for scopes in alternatives]
    least = {way for way in ways if not any(other < way for other in ways)}
    return sorted(sorted(way) for way in least)


def install_openapi(app: FastAPI, *, description: str) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas.update(_problem_components())
        for name, definition in _body_components().items():
            if schemas.setdefault(name, definition) != definition:
                raise RuntimeError(f"two different schemas are named {name} in the OpenAPI document")
        declared = _from_dependencies(app)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _document_transport_errors(path, operation)
                statuses, security = declared.get((path, method), ((), None))
                for status, response in problems(*sorted(statuses)).items():
                    operation["responses"].setdefault(str(status), response)
                if security is not None and len(operation.get("security", [])) == 1:
                    [scheme] = operation["security"][0]
                    operation["security"] = [{scheme: scopes} for scopes in security]
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]


__all__ = ["PROBLEM_JSON", "install_openapi", "operation_id"]
