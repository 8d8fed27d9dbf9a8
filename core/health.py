"""Liveness, readiness and metrics endpoints for the orchestrator and the scraper."""

import secrets

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from core.db import DatabaseDep
from core.errors import ServiceUnavailable, Unauthorized, problems
from core.metrics import render_metrics

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problems(503), summary="The database is reachable")
async def readyz(database: DatabaseDep) -> Health:
    if not await database.ping():
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
