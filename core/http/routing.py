"""The route class every API router uses (it completes what dependencies start: idempotent responses), and the
inclusion of routers into the app with a literal-prefix gate that spares each request most of FastAPI's route walk."""

from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response, params
from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _SCOPE_MISSING,
    APIRoute,
    _EffectiveRouteContext,
    _get_fastapi_scope,
    _IncludedRouter,
    _restore_fastapi_scope_key,
)
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Host, Match
from starlette.types import Scope

from core.errors import UnsupportedMediaType
from core.http.body import is_json
from core.http.idempotency import IdempotencyClaim, IdempotentReplay


class ApiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = _takes_json(self)

        async def handle(request: Request) -> Response:
            if takes_json and _has_body(request) and not is_json(request.headers.get("content-type")):
                # FastAPI would validate the bytes as if they were the model and answer 422 about the fields; the
                # fault is the format (RFC 9110 15.5.16).
                raise UnsupportedMediaType(
                    "Send the body as application/json.",
                    headers={"Accept-Patch": "application/json"} if request.method == "PATCH" else None,
                )
            try:
                response = await handler(request)
            except IdempotentReplay as replay:
                return replay.response
            claim: IdempotencyClaim | None = getattr(request.state, "idempotency", None)
            if claim is not None:
                # Still inside the request's transaction: the stored response commits with the work, or neither does.
                await claim.finish(response)
            return response

        return handle


def _takes_json(route: APIRoute) -> bool:
    """Whether the route's body is JSON: a body parameter that is not a form, or a `JsonBody` it reads itself."""
    if route.body_field is not None:
        return not isinstance(route.body_field.field_info, params.Form)
    content = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    return any(is_json(media) for media in content)


def _has_body(request: Request) -> bool:
    headers = request.headers
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


# ---------------------------------------------------------------------------------------------------------------------
# Routing
#
# Since FastAPI 0.16x an included router stays one lazy route (`_IncludedRouter`). For every request the app asks each
# inclusion in turn whether it matches, and each inclusion walks all its routes with bookkeeping per route (scope
# keys set and restored, a routes-version check) even when the route's own regex rejects the path at once; the
# inclusion that matches is walked a second time to handle the request. With a dozen routers included before talent
# that was about a quarter of a what-if assessment's time.
#
# A route's path regex is anchored and its text before the first `{` is literal, so a path that does not start with
# that text can match neither FULL nor PARTIAL (405). `GatedInclusion` checks that first: for the whole inclusion in
# one `str.startswith` over its routes' literal prefixes, then route by route, before FastAPI's own matching, which
# then runs unchanged for the few routes left: first FULL match wins, else the first PARTIAL, in the same order as
# before. FastAPI matches the chosen inclusion twice, to choose it and again to handle the request; the first result
# is kept in the request's scope for the second. The OpenAPI document, url_path_for, redirect_slashes, 404 and 405 are
# FastAPI's own (the gate never changes which route is chosen, only how many are tried, and how often).


def include_routers(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """`app.include_router(router)` for each router, in order, each inclusion gated by the literal prefixes of its
    routes (rebuilt, as FastAPI rebuilds its own candidates, when one of its routers gains routes)."""
    for router in routers:
        app.include_router(router)
        included = app.router.routes[-1]
        if not isinstance(included, _IncludedRouter) or included.original_router is not router:
            raise RuntimeError("FastAPI no longer includes a router as one _IncludedRouter: revisit core.http.routing")
        app.router.routes[-1] = GatedInclusion(original_router=router, include_context=included.include_context)


@dataclass
class GatedInclusion(_IncludedRouter):
    # (literal prefix, candidate) for each of FastAPI's candidates of this inclusion, in its order.
    _gates: list[tuple[str, Any]] = field(default_factory=list, repr=False, compare=False)
    # The candidates' distinct literal prefixes: a path with none of them skips the whole inclusion.
    _prefixes: tuple[str, ...] = ()
    # The routers whose routes this inclusion serves (itself and those it includes), and their versions' sum when the
    # gates were built.
    _routers: list[APIRouter] = field(default_factory=list, repr=False, compare=False)
    _generation: int = -1

    def _current_gates(self) -> list[tuple[str, Any]]:
        # FastAPI rebuilds its candidates when any router of this inclusion gains routes (each has a version counter);
        # summing those counters is the cheap way to notice, instead of its per-call walk over every route.
        if sum(map(_routes_version, self._routers)) != self._generation:
            candidates = self.effective_candidates()
            self._gates = [(_literal_prefix(candidate), candidate) for candidate in candidates]
            self._prefixes = tuple(dict.fromkeys(literal for literal, _ in self._gates))
            self._routers = _routers_in(self.original_router)
            self._generation = sum(map(_routes_version, self._routers))
        return self._gates

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # FastAPI's own `matches` (scope bookkeeping, then the router asking this inclusion's `_match`), minus the
        # bookkeeping: it only tells that router which inclusion asks. Its answer carries no child scope either.
        return self._match(scope)[0], {}

    def _match(self, scope: Scope) -> tuple[Match, Scope, BaseRoute | None, _EffectiveRouteContext | None]:
        """FastAPI's `_IncludedRouter._match`, trying only the candidates whose literal prefix the path has; the
        second call for one request (FastAPI's handling of the inclusion it chose) answers from the first."""
        kept = scope.get(_MATCHED)
        if kept is not None and kept[0] is self:
            return kept[1]
        gates = self._current_gates()
        path = get_route_path(scope)
        if not path.startswith(self._prefixes):
            return _NO_MATCH
        found = self._match_gated(scope, path, gates)
        if found[0] is not Match.NONE:
            scope[_MATCHED] = (self, found)
        return found

    def _match_gated(
        self, scope: Scope, path: str, gates: list[tuple[str, Any]]
    ) -> tuple[Match, Scope, BaseRoute | None, _EffectiveRouteContext | None]:
        partial: tuple[Scope, BaseRoute, _EffectiveRouteContext | None] | None = None
        for literal, candidate in gates:
            if not path.startswith(literal):
                continue
            route_context: _EffectiveRouteContext | None
            if isinstance(candidate, _IncludedRouter):
                match, child_scope = candidate.matches(scope)
                route: BaseRoute = candidate
                route_context = None
            elif isinstance(candidate.original_route, APIRoute):
                route_context = candidate
                fastapi_scope = _get_fastapi_scope(scope)
                previous = fastapi_scope.get(_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, _SCOPE_MISSING)
                fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = route_context
                try:
                    match, child_scope = candidate.original_route.matches(scope)
                finally:
                    _restore_fastapi_scope_key(scope, _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY, previous)
                route = candidate.original_route
            else:
                route_context = candidate
                match, child_scope = candidate.matches(scope)
                route = candidate.starlette_route or candidate.original_route
            if match == Match.FULL:
                return match, child_scope, route, route_context
            if match == Match.PARTIAL and partial is None:
                partial = (child_scope, route, route_context)
        if partial is not None:
            child_scope, route, route_context = partial
            return Match.PARTIAL, child_scope, route, route_context
        return _NO_MATCH


# Where a request's scope keeps the inclusion that matched it, and how.
_MATCHED = "ti.matched_inclusion"
_NO_MATCH: tuple[Match, Scope, None, None] = (Match.NONE, {}, None, None)

_routes_version = attrgetter("_routes_version")


def _routers_in(router: APIRouter) -> list[APIRouter]:
    found = [router]
    for route in router.routes:
        if isinstance(route, _IncludedRouter):
            found.extend(_routers_in(route.original_router))
    return found


def _literal_prefix(candidate: Any) -> str:
    """The text every path a candidate matches starts with ("" when the path is not what decides: hosts, frontends)."""
    if isinstance(candidate, _IncludedRouter):
        return _shared_prefix(_literal_prefix(context) for context in candidate.effective_route_contexts())
    route = candidate.starlette_route or candidate.original_route
    if isinstance(route, Host) or not isinstance(candidate.original_route, BaseRoute):
        return ""
    path = candidate.path if candidate.starlette_route is None else getattr(route, "path", None)
    if not isinstance(path, str) or not path.startswith("/"):
        return ""  # frontend route groups and anything else not matched by an anchored path regex
    return path.split("{", 1)[0]


def _shared_prefix(texts: Iterable[str]) -> str:
    """The longest text all of them start with, compared character by character ("" for none)."""
    texts = list(texts)
    if not texts:
        return ""
    first, last = min(texts), max(texts)
    length = 0
    while length < len(first) and first[length] == last[length]:
        length += 1
    return first[:length]
