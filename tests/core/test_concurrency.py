"""Optimistic concurrency: versions on rows, ETag on responses, If-Match on writes (412 / 428), on both databases."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Field

from core.db import SessionDep
from core.errors import NotFound
from core.http import ApiRoute, IfMatch, check_if_match, etag, set_etag
from core.models import IdMixin, VersionMixin, metadata
from core.settings import Settings
from main import create_app
from tests.conftest import asgi_client
from tests.helpers import assert_problem


class ProbeDocument(IdMixin, VersionMixin, table=True):
    __tablename__ = "probe_document"
    title: str = Field(max_length=100)


# A test-only table: kept out of the shared metadata so the migration drift check never sees it.
metadata.remove(ProbeDocument.__table__)


class TitleIn(BaseModel):
    title: str
    delay: float = 0


@pytest.fixture
async def document(db) -> AsyncIterator[uuid.UUID]:
    async with db.write_engine.begin() as connection:
        await connection.run_sync(ProbeDocument.__table__.create)
    async with db.transaction() as session:
        row = ProbeDocument(title="draft")
        session.add(row)
    yield row.id
    async with db.write_engine.begin() as connection:
        await connection.run_sync(ProbeDocument.__table__.drop)


@pytest.fixture
async def http(settings: Settings, document) -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter(prefix="/_probe", tags=["probe"], route_class=ApiRoute)

    @router.get("/documents/{document_id}")
    async def read(document_id: uuid.UUID, session: SessionDep, response: Response) -> dict:
        row = await session.get(ProbeDocument, document_id)
        if row is None:
            raise NotFound()
        set_etag(response, row.version)
        return {"title": row.title, "version": row.version}

    @router.put("/documents/{document_id}")
    async def write(
        document_id: uuid.UUID, body: TitleIn, session: SessionDep, response: Response, if_match: IfMatch = None
    ) -> dict:
        row = await session.get(ProbeDocument, document_id)
        if row is None:
            raise NotFound()
        check_if_match(if_match, row.version)
        await asyncio.sleep(body.delay)
        row.title = body.title
        await session.flush()
        set_etag(response, row.version)
        return {"title": row.title, "version": row.version}

    app = create_app(settings)
    app.include_router(router)
    async with asgi_client(app) as client:
        yield client
    await app.state.db.dispose()


async def test_etag_is_the_version_and_if_match_guards_writes(http: httpx.AsyncClient, document) -> None:
    read = await http.get(f"/_probe/documents/{document}")
    assert read.headers["etag"] == '"1"'
    written = await http.put(f"/_probe/documents/{document}", json={"title": "v2"}, headers={"If-Match": '"1"'})
    assert written.status_code == 200
    assert written.headers["etag"] == '"2"'
    stale = await http.put(f"/_probe/documents/{document}", json={"title": "v3"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    assert stale.headers["etag"] == '"2"'
    assert (await http.get(f"/_probe/documents/{document}")).json() == {"title": "v2", "version": 2}


async def test_missing_if_match_is_428(http: httpx.AsyncClient, document) -> None:
    response = await http.put(f"/_probe/documents/{document}", json={"title": "x"})
    assert_problem(response, 428, "precondition-required")
    assert response.headers["etag"] == '"1"'


async def test_weak_and_wildcard_tags(http: httpx.AsyncClient, document) -> None:
    weak = await http.put(f"/_probe/documents/{document}", json={"title": "x"}, headers={"If-Match": 'W/"1"'})
    assert_problem(weak, 412)
    listed = await http.put(f"/_probe/documents/{document}", json={"title": "x"}, headers={"If-Match": '"7", "1"'})
    assert listed.status_code == 200
    anything = await http.put(f"/_probe/documents/{document}", json={"title": "y"}, headers={"If-Match": "*"})
    assert anything.json()["version"] == 3


async def test_concurrent_writers_with_the_same_version_one_wins(http: httpx.AsyncClient, document) -> None:
    responses = await asyncio.gather(
        *(
            http.put(
                f"/_probe/documents/{document}", json={"title": f"w{i}", "delay": 0.2}, headers={"If-Match": '"1"'}
            )
            for i in range(2)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 412], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200)
    assert (await http.get(f"/_probe/documents/{document}")).json() == {"title": winner.json()["title"], "version": 2}


async def test_version_column_refuses_a_lost_update(db, document) -> None:
    async with db.transaction(write=False) as session:
        stale = await session.get(ProbeDocument, document)
    async with db.transaction() as session:
        (await session.get(ProbeDocument, document)).title = "first"
    with pytest.raises(StaleDataError):
        async with db.transaction() as session:
            session.add(stale)
            stale.title = "second"  # based on version 1, which is gone
            await session.flush()
    async with db.transaction(write=False) as session:
        current = await session.get(ProbeDocument, document)
    assert (current.title, current.version) == ("first", 2)


def test_etag_format() -> None:
    assert etag(12) == '"12"'
    check_if_match('"12"', 12)
    check_if_match(None, 12, required=False)
