"""Dead letters for administrators: outbox events that exhausted their attempts, and a retry for each."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, params
from pydantic import BaseModel

from core import audit
from core.db import SessionDep
from core.errors import NotFound, problems
from core.events import OutboxEvent
from core.http import ApiRoute
from core.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from core.worker import dead_letters, retry_dead


class DeadLetterRead(BaseModel):
    id: uuid.UUID
    name: str
    subject: str
    occurred_at: datetime
    attempts: int
    last_error: str | None


class DeadLetterNotFound(NotFound):
    code, title = "dead-letter-not-found", "No such dead event"


def build_router(admin: params.Depends) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/admin/outbox",
        tags=["admin"],
        route_class=ApiRoute,
        dependencies=[admin],
        responses=problems(401, 403),
    )

    @router.get("/dead-letters", response_model=Page[DeadLetterRead], responses=problems(422))
    async def list_dead_letters(session: SessionDep, limit: Limit = 20, cursor: Cursor = None) -> Page[DeadLetterRead]:
        """Events whose handlers failed on every attempt, with the last error."""
        after = decode_cursor(cursor, [OutboxEvent.id])[0] if cursor else None
        rows = await dead_letters(session, limit=limit, after=after)
        items = [DeadLetterRead.model_validate(dict(row)) for row in rows[:limit]]
        return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if len(rows) > limit else None)

    @router.post("/dead-letters/{event_id}/retry", status_code=202, responses=problems(404, 422))
    async def retry_dead_letter(event_id: Annotated[uuid.UUID, Path()], session: SessionDep) -> dict[str, str]:
        """Give the event a fresh set of attempts; the worker picks it up on its next round."""
        name = await retry_dead(session, event_id)
        if name is None:
            raise DeadLetterNotFound()
        # Its handlers run again (an SMS, a webhook, a refund may go out a second time): who asked for it is on record.
        audit.record(
            session,
            action="outbox.dead_letter.retried",
            object_type="outbox_event",
            object_id=event_id,
            detail={"name": name},
        )
        return {"status": "pending"}

    return router
