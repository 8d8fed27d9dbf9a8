"""Liveness, readiness and metrics endpoints for the orchestrator and the scraper."""

import asyncio
import math
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from core.db import Database
from core.errors import ServiceUnavailable, Unauthorized, problems
from core.metrics import render_metrics

router = APIRouter(tags=["health"])

# How long one readiness answer stands: short enough that a balancer probing every few seconds sees the truth.
READINESS_FRESH_SECONDS = 1.0


class Readiness:
    """Whether the database answers, asked of it at most once per `fresh_for` seconds in this process.

    /readyz is open (the balancer calls it without credentials) and a check holds a pool connection for up to 2 s, so a
    flood of probes would starve the requests of connections. One check runs at a time: the probes that arrive while it
    runs wait for its answer (no thundering herd), and the answer stands for `fresh_for` seconds after it came.
    """

    def __init__(self, database: Database, *, fresh_for: float = READINESS_FRESH_SECONDS) -> None:
        self._database = database
        self._fresh_for = fresh_for
        self._answered_at = -math.inf
        self._ready = False
        self._in_flight: asyncio.Task[bool] | None = None

    async def ready(self) -> bool:
        if time.monotonic() - self._answered_at < self._fresh_for:
            return self._ready
        if self._in_flight is None:
            self._in_flight = asyncio.create_task(self._check())
        # Shielded: a probe that hangs up does not cancel the check the others are waiting for.
        return await asyncio.shield(self._in_flight)

    async def _check(self) -> bool:
        try:
            self._ready = await self._database.ping()
            self._answered_at = time.monotonic()
        finally:
            self._in_flight = None
        return self._ready


async def get_readiness(request: Request) -> Readiness:
    return request.app.state.readiness


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problems(503), summary="The database is reachable")
async def readyz(readiness: Annotated[Readiness, Depends(get_readiness)]) -> Health:
    if not await readiness.ready():
        raise ServiceUnavailable("The database is not reachable.", headers={"Retry-After": "5"})
    return Health(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **problems(401)},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    expected = request.app.state.settings.metrics_token
    if expected:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not secrets.compare_digest(supplied.encode(), expected.encode()):
            raise Unauthorized("A metrics token is required.", headers={"WWW-Authenticate": "Bearer"})
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
