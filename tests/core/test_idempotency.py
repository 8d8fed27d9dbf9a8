"""Idempotency-Key: one effect per key, the first response replayed, conflicts and misuse refused, both databases."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update

from core.db import SessionDep
from core.errors import Conflict
from core.events import Event, OutboxEvent, define_event, emit
from core.http import ApiRoute, IdempotencyClaim, IdempotencyRecord, idempotency
from core.models import new_id, utcnow
from core.settings import Settings
from main import create_app
from tests.conftest import asgi_client
from tests.helpers import assert_problem

CREATED = define_event("test.thing.created", description="a thing was created")


def caller(x_caller: Annotated[str, Header()] = "anonymous") -> str:
    return x_caller


Idempotent = Annotated[IdempotencyClaim | None, Depends(idempotency(caller))]
IdempotentRequired = Annotated[IdempotencyClaim | None, Depends(idempotency(caller, required=True))]


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    delay: float = 0
    fail: bool = False


@pytest.fixture(scope="module")
def probe_routes() -> APIRouter:
    router = APIRouter(prefix="/_probe", tags=["probe"], route_class=ApiRoute)

    @router.post("/things", status_code=201)
    async def create_thing(body: ThingIn, session: SessionDep, _claim: Idempotent) -> dict:
        thing_id = new_id()
        emit(session, Event(CREATED.name, subject=f"thing:{thing_id}", payload={"name": body.name}))
        await session.flush()
        await asyncio.sleep(body.delay)
        if body.fail:
            raise Conflict("This thing cannot be created now.")
        return {"id": str(thing_id), "name": body.name}

    @router.post("/payments", status_code=201)
    async def pay(session: SessionDep, _claim: IdempotentRequired) -> dict:
        return {"paid": True}

    return router


@pytest.fixture
async def http(settings: Settings, db, probe_routes: APIRouter) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    app.include_router(probe_routes)
    async with asgi_client(app) as client:
        yield client
    await app.state.db.dispose()


async def created(db) -> int:
    async with db.engine.connect() as connection:
        query = select(func.count()).select_from(OutboxEvent.__table__).where(OutboxEvent.name == CREATED.name)
        return (await connection.execute(query)).scalar_one()


async def test_retry_replays_the_first_response(http: httpx.AsyncClient, db) -> None:
    first = await http.post("/_probe/things", json={"name": "permit"}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    # Same JSON, other key order and spacing: the same request.
    retry = await http.post(
        "/_probe/things",
        content=b'{ "name" :"permit" }',
        headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["content-type"] == "application/json"
    assert await created(db) == 1


async def test_without_a_key_every_request_runs(http: httpx.AsyncClient, db) -> None:
    for _ in range(2):
        assert (await http.post("/_probe/things", json={"name": "x"})).status_code == 201
    assert await created(db) == 2


async def test_same_key_other_body_is_422(http: httpx.AsyncClient, db) -> None:
    await http.post("/_probe/things", json={"name": "a"}, headers={"Idempotency-Key": "k-2"})
    response = await http.post("/_probe/things", json={"name": "b"}, headers={"Idempotency-Key": "k-2"})
    body = assert_problem(response, 422, "validation-failed")
    assert body["errors"][0]["code"] == "key_reused"
    assert await created(db) == 1


async def test_keys_are_per_caller(http: httpx.AsyncClient, db) -> None:
    a = await http.post("/_probe/things", json={"name": "a"}, headers={"Idempotency-Key": "shared", "X-Caller": "a"})
    b = await http.post("/_probe/things", json={"name": "a"}, headers={"Idempotency-Key": "shared", "X-Caller": "b"})
    assert a.json()["id"] != b.json()["id"]
    assert await created(db) == 2


async def test_failed_request_stores_nothing_and_can_be_retried(http: httpx.AsyncClient, db) -> None:
    failed = await http.post("/_probe/things", json={"name": "a", "fail": True}, headers={"Idempotency-Key": "k-3"})
    assert_problem(failed, 409)
    assert await created(db) == 0
    async with db.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(IdempotencyRecord.__table__))).scalar() == 0
    again = await http.post("/_probe/things", json={"name": "a", "fail": True}, headers={"Idempotency-Key": "k-3"})
    assert_problem(again, 409)


async def test_expired_key_runs_again(http: httpx.AsyncClient, db) -> None:
    await http.post("/_probe/things", json={"name": "a"}, headers={"Idempotency-Key": "k-4"})
    async with db.write_engine.begin() as connection:
        await connection.execute(update(IdempotencyRecord.__table__).values(expires_at=utcnow()))
    again = await http.post("/_probe/things", json={"name": "a"}, headers={"Idempotency-Key": "k-4"})
    assert "idempotent-replayed" not in again.headers
    assert await created(db) == 2


async def test_concurrent_requests_with_one_key_have_one_effect(http: httpx.AsyncClient, db) -> None:
    body = {"name": "slow", "delay": 0.4}
    responses = await asyncio.gather(
        *(http.post("/_probe/things", json=body, headers={"Idempotency-Key": "k-5"}) for _ in range(3))
    )
    assert await created(db) == 1
    originals = [r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(originals) == 1
    for response in responses:
        if response is originals[0]:
            continue
        # Either the stored response (once it exists) or 409 while the first still runs.
        if response.status_code == 201:
            assert response.json() == originals[0].json()
            assert response.headers["idempotent-replayed"] == "true"
        else:
            assert_problem(response, 409)


async def test_malformed_and_missing_keys(http: httpx.AsyncClient) -> None:
    body = assert_problem(
        await http.post("/_probe/things", json={"name": "a"}, headers={"Idempotency-Key": "has space"}), 422
    )
    assert body["errors"][0]["location"] == "header"
    assert_problem(await http.post("/_probe/things", json={"name": "a"}, headers={"Idempotency-Key": "k" * 256}), 422)
    assert_problem(await http.post("/_probe/payments"), 428, "precondition-required")
    assert (await http.post("/_probe/payments", headers={"Idempotency-Key": "pay-1"})).status_code == 201


async def test_idempotency_needs_the_api_route_class(settings: Settings, db) -> None:
    app: FastAPI = create_app(settings)
    plain = APIRouter(tags=["probe"])

    @plain.post("/_probe/plain")
    async def plain_route(_claim: Idempotent) -> dict:
        return {}

    app.include_router(plain)
    async with asgi_client(app) as client:
        response = await client.post("/_probe/plain", headers={"Idempotency-Key": "k"})
    assert_problem(response, 500)
    await app.state.db.dispose()
