"""The real app plus two bench-only write routes: the same insert with and without its audit entry.

Used by the `write` scenarios to measure what the hash chain costs; never imported by the app or the tests.
"""

from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlmodel import Field

from core import audit
from core.db import SessionDep
from core.http import ApiRoute
from core.models import IdMixin, TimestampMixin
from main import create_app


class BenchNote(IdMixin, TimestampMixin, table=True):
    __tablename__ = "bench_note"
    text: str = Field(max_length=200)


class NoteIn(BaseModel):
    text: str


router = APIRouter(prefix="/bench", tags=["bench"], route_class=ApiRoute)


@router.post("/notes", status_code=201)
async def write_note(body: NoteIn, session: SessionDep) -> dict:
    note = BenchNote(text=body.text)
    session.add(note)
    return {"id": str(note.id)}


@router.post("/audited-notes", status_code=201)
async def write_audited_note(body: NoteIn, session: SessionDep) -> dict:
    note = BenchNote(text=body.text)
    session.add(note)
    audit.record(session, action="bench.note.created", object_type="note", object_id=note.id)
    return {"id": str(note.id)}


def create_bench_app() -> FastAPI:
    app = create_app()
    database = app.state.db
    startup = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI):
        async with database.write_engine.begin() as connection:
            await connection.run_sync(lambda sync: BenchNote.__table__.create(sync, checkfirst=True))
        async with startup(application):
            yield

    app.router.lifespan_context = lifespan
    app.include_router(router)
    return app
