"""An application's conversation, the same for permits and talent: staff write to the applicant, the applicant (or
the partner filing for them) answers, and staff keep internal notes the applicant never sees.

Each domain's comment table adds the reference to its application (as its history table does), and each domain says
who is staff for an application. Every comment is audited and announced by an outbox event, whose handler tells the
other side (services.notifications.tell_of_comment).
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import Field as Column
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit
from core.errors import Forbidden
from core.events import Event, EventType, emit
from core.models import IdMixin, utcnow
from core.pagination import keyset, page_of
from core.workflow import StepActor

APPLICANT_VISIBLE, INTERNAL = "applicant", "internal"


class CommentFields(IdMixin):
    """One comment as its table keeps it."""

    author_subject: str = Column(max_length=100)
    author_role: str = Column(max_length=20, description="applicant | partner | officer | supervisor")
    visibility: str = Column(max_length=20, description="applicant (the applicant sees it) | internal (staff only)")
    body: str = Column(max_length=4000)
    created_at: datetime = Column(default_factory=utcnow)


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    visibility: Literal["applicant", "internal"] = Field(
        default=APPLICANT_VISIBLE,
        description="internal: staff only (applicants may only write applicant-visible comments)",
    )


class CommentRead(BaseModel):
    id: uuid.UUID
    author_role: str
    visibility: str
    body: str
    created_at: datetime


async def thread(
    session: AsyncSession, model: type[CommentFields], application_id: uuid.UUID, *, internal: bool, limit: int, cursor
) -> tuple[list[CommentRead], str | None]:
    """One page of an application's comments, oldest first; `internal`: with staff's notes."""
    statement = select(model).where(model.application_id == application_id)  # type: ignore[attr-defined]
    if not internal:
        statement = statement.where(model.visibility == APPLICANT_VISIBLE)
    statement = keyset(statement, order_by=[model.id], cursor=cursor, limit=limit)  # type: ignore[list-item]
    rows, next_cursor = page_of(list((await session.execute(statement)).scalars()), limit=limit, key=lambda c: [c.id])
    return [CommentRead.model_validate(row, from_attributes=True) for row in rows], next_cursor


async def write(
    session: AsyncSession,
    model: type[CommentFields],
    application: Any,
    *,
    author: StepActor,
    staff: bool,
    data: CommentCreate,
    event: EventType,
) -> CommentRead:
    """Add a comment to `application` (a row with `id`), audited and announced by `event`, in the caller's
    transaction. Only staff write internal notes."""
    if not staff and data.visibility == INTERNAL:
        raise Forbidden("Internal comments are for staff.")
    comment = model(
        application_id=application.id,
        author_subject=author.subject,
        author_role=author.role,
        visibility=data.visibility,
        body=data.body,
    )
    session.add(comment)
    await session.flush()
    audit.record(
        session,
        action=event.name,
        object_type=application.__tablename__,
        object_id=application.id,
        detail={"comment": str(comment.id), "visibility": data.visibility},
    )
    # Who hears of it is decided from the event alone: the application's id, who wrote, and for whom.
    emit(
        session,
        Event(
            event.name,
            subject=f"{application.__tablename__}:{application.id}",
            payload={
                "application_id": str(application.id),
                "comment_id": str(comment.id),
                "visibility": data.visibility,
                "by": author.role,
                "staff": staff,
            },
        ),
    )
    return CommentRead.model_validate(comment, from_attributes=True)
