"""Routers included through core.http.include_routers answer exactly as FastAPI's own include_router does."""

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.routing import Mount

from core.http import include_routers


def _routers() -> list[APIRouter]:
    health = APIRouter(tags=["health"])
    things = APIRouter(prefix="/api/v1/things", tags=["things"])
    others = APIRouter(prefix="/api/v1", tags=["others"])
    nested = APIRouter()
    inner = APIRouter(prefix="/api/v1/inner", tags=["inner"])

    @health.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @things.get("")
    async def list_things() -> list[str]:
        return ["a"]

    @things.post("/{thing_id}/actions/{action}")
    async def act(thing_id: int, action: str) -> dict[str, object]:
        return {"id": thing_id, "action": action}

    @things.get("/{thing_id}")
    async def read_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @things.get("/slashed/")
    async def slashed() -> str:
        return "slashed"

    @others.get("/me")
    async def me() -> str:
        return "me"

    @others.put("/things/special")  # an earlier router's prefix must not hide a later one's route, nor the reverse
    async def special() -> str:
        return "special"

    @inner.delete("/{name}")
    async def delete_inner(name: str) -> str:
        return name

    nested.include_router(inner)
    return [health, things, others, nested]


def _app(*, gated: bool) -> FastAPI:
    app = FastAPI()
    routers = _routers()
    if gated:
        include_routers(app, routers)
    else:
        for router in routers:
            app.include_router(router)
    mounted = FastAPI()

    @mounted.get("/ping")
    async def ping() -> str:
        return "pong"

    app.router.routes.append(Mount("/mounted", app=mounted))
    # Routes added after inclusion are served too.
    late = routers[1]

    @late.get("/late/{n}")
    async def late_route(n: int) -> int:
        return n

    return app


REQUESTS = [
    ("GET", "/healthz"),
    ("HEAD", "/healthz"),
    ("GET", "/api/v1/things"),
    ("GET", "/api/v1/things/"),  # redirect_slashes
    ("GET", "/api/v1/things/7"),
    ("GET", "/api/v1/things/x"),  # a path parameter that does not convert: 422
    ("DELETE", "/api/v1/things/7"),  # 405 with Allow
    ("POST", "/api/v1/things/7/actions/approve"),
    ("GET", "/api/v1/things/7/actions/approve"),
    ("GET", "/api/v1/things/slashed"),  # redirect to the slashed route
    ("GET", "/api/v1/me"),
    ("PUT", "/api/v1/things/special"),
    ("GET", "/api/v1/things/special"),  # /api/v1/things/{thing_id} comes first: 422 there
    ("DELETE", "/api/v1/inner/x"),
    ("GET", "/api/v1/inner/x"),
    ("GET", "/api/v1/things/late/3"),
    ("GET", "/mounted/ping"),
    ("GET", "/nowhere"),
    ("GET", "/api/v2/things"),
    ("GET", "/"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_gated_inclusion_answers_like_fastapi(method: str, path: str) -> None:
    answers = []
    for gated in (False, True):
        transport = httpx.ASGITransport(app=_app(gated=gated))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.request(method, path, follow_redirects=False)
            answers.append(
                (
                    response.status_code,
                    response.headers.get("allow"),
                    response.headers.get("location"),
                    response.content,
                )
            )
    assert answers[0] == answers[1]


async def test_root_path_is_stripped_before_the_gate() -> None:
    transport = httpx.ASGITransport(app=_app(gated=True), root_path="/prefix")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/prefix/api/v1/things/7")).json() == {"id": 7}


def test_openapi_is_unchanged() -> None:
    assert _app(gated=True).openapi() == _app(gated=False).openapi()
