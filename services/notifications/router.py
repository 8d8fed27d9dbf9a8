"""The signed-in person's inbox. It holds what the city tells them of every matter (applications, payments, cards,
the identity check, password changes), so it takes the `account` scope, which only the city's own apps hold: an app
allowed one matter (`permits:apply`) would otherwise read all of them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from auth.guards import AccountOwner
from core.db import SessionDep
from core.errors import problems
from core.http import ApiRoute
from core.pagination import Cursor, Limit, decode_cursor, encode_cursor
from services.notifications import service
from services.notifications.models import Notification
from services.notifications.schemas import Inbox, NotificationRead

router = APIRouter(prefix="/api/v1/me/notifications", tags=["notifications"], route_class=ApiRoute)


@router.get("", response_model=Inbox, responses=problems(400, 401, 403, 422))
async def list_notifications(
    principal: AccountOwner,
    session: SessionDep,
    limit: Limit = 20,
    cursor: Cursor = None,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only")] = None,
) -> Inbox:
    """Your notifications, newest first, in keyset pages, with the unread count."""
    before = decode_cursor(cursor, [Notification.id])[0] if cursor else None
    items, last, unread_count = await service.inbox(
        session=session, account_id=principal.account_id, limit=limit, before=before, unread=unread
    )
    return Inbox(items=items, next_cursor=encode_cursor([last]) if last else None, unread=unread_count)


@router.post("/{notification_id}/read", response_model=NotificationRead, responses=problems(401, 403, 404, 422))
async def mark_read(
    notification_id: Annotated[uuid.UUID, Path()], principal: AccountOwner, session: SessionDep
) -> NotificationRead:
    """Mark one of your notifications read (marking it again changes nothing)."""
    return await service.mark_read(session=session, account_id=principal.account_id, notification_id=notification_id)
