"""Notify an account: the inbox row in the account's language, and an SMS copy through the cloud when the template
has one. The SMS is sent by the worker (event `notification.sms.requested`), never inside the caller's request."""

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from auth import service as auth_service
from auth.identity import Identity
from core.events import Event, OutboxEvent, define_event, emit
from core.sla import china_time
from core.workflow import APPLICANT
from services.cloud import service as cloud_service
from services.cloud.ports import Sms
from services.notifications import repository
from services.notifications.exceptions import NotificationNotFound
from services.notifications.models import Notification
from services.notifications.schemas import NotificationRead
from services.notifications.templates import CODE_SMS_TEMPLATES, TEMPLATES, localise, render

logger = logging.getLogger("ti.notifications")
SMS_REQUESTED = define_event("notification.sms.requested", description="A notification's SMS copy is to be sent.")
SMS_PURPOSE = "notification:"


async def notify(
    *,
    session: AsyncSession,
    identity: Identity,
    account_id: uuid.UUID,
    template: str,
    params: dict[str, Any],
    dedupe_key: str,
) -> Notification:
    """One notification per (account, cause); asking again for the same cause returns the first."""
    existing = await repository.by_dedupe_key(session, account_id, dedupe_key)
    if existing is not None:
        return existing
    chosen = TEMPLATES[template]
    _name, phone, language = await auth_service.contact_of(session=session, identity=identity, account_id=account_id)
    values = {key: str(value) for key, value in params.items()}
    title, body = render(chosen, language, values)
    values = localise(chosen, language, values)  # the SMS carries the words the inbox shows
    row = Notification(
        account_id=account_id,
        template=template,
        language=language,
        params=values,
        title=title,
        body=body,
        dedupe_key=dedupe_key,
        sms_status="queued" if chosen.sms_template_id and phone else None,
    )
    session.add(row)
    await session.flush()
    if row.sms_status == "queued":
        emit(session, Event(SMS_REQUESTED.name, subject=f"notification:{row.id}", payload={"notification_id": row.id}))
    return row


async def tell_applicant_of_status(
    *,
    session: AsyncSession,
    identity: Identity,
    event: OutboxEvent,
    template: str,
    find: Callable[[AsyncSession, OutboxEvent], Awaitable[Any]],
) -> None:
    """An application's change of status (`event`), told to its applicant: inbox and SMS, in their language, once per
    event. Not the changes they made themselves (a submission, an answer, a withdrawal: an SMS costs the city and
    tells them nothing), so `find` (the application) is not even read; a partner's step for them is told."""
    status = event.payload.get("status")
    if status == event.payload.get("from") or status == "submitted" or event.payload.get("by") == APPLICANT:
        return
    row = await find(session, event)
    if row is None:
        return
    await notify(
        session=session,
        identity=identity,
        account_id=row.applicant_id,
        template=template,
        params={"reference": row.reference, "status": status},
        dedupe_key=f"event:{event.id}",
    )


async def tell_of_comment(
    *,
    session: AsyncSession,
    identity: Identity,
    event: OutboxEvent,
    find: Callable[[AsyncSession, OutboxEvent], Awaitable[Any]],
) -> None:
    """A comment on an application (core.comments), told to the other side, once: staff's words to the applicant
    reach the applicant (inbox and SMS, saying only that there is a message); the applicant's (or their partner's)
    reach the officer handling the application, in the inbox. Internal notes are told to nobody."""
    if event.payload.get("visibility") != "applicant":
        return
    row = await find(session, event)
    if row is None:
        return
    staff = bool(event.payload.get("staff"))
    recipient = row.applicant_id if staff else row.assignee_id
    if recipient is None:  # nobody has taken the application yet: the officer who does sees the conversation
        return
    template = "application_message" if staff else "application_reply"
    if await repository.unread_about(session, recipient, template, row.reference):
        return  # the notice they have not read yet already says there are words waiting (three notes, one SMS)
    await notify(
        session=session,
        identity=identity,
        account_id=recipient,
        template=template,
        params={"reference": row.reference},
        dedupe_key=f"comment:{event.payload['comment_id']}",
    )


async def tell_supervisors_of_deadline(
    *, session: AsyncSession, identity: Identity, row: Any, department: str, template: str
) -> None:
    """An application close to its deadline (`row`), told to each active supervisor of `department`, once."""
    params = {"reference": row.reference, "due_at": china_time(row.due_at)}
    for supervisor in await auth_service.staff_of(session=session, department=department, roles=("supervisor",)):
        await notify(
            session=session,
            identity=identity,
            account_id=supervisor,
            template=template,
            params=params,
            dedupe_key=f"escalated:{row.id}",
        )


async def send_sms(*, session: AsyncSession, identity: Identity, sms: Sms, notification_id: uuid.UUID) -> None:
    """Send a queued notification's SMS; the notification id is the client token, so a rerun is the same message."""
    row = await repository.get(session, notification_id)
    if row is None or row.sms_status != "queued":
        return
    template = TEMPLATES[row.template]
    _name, phone, _language = await auth_service.contact_of(
        session=session, identity=identity, account_id=row.account_id
    )
    if phone is None:
        return
    await cloud_service.send_sms(
        session=session,
        sms=sms,
        identity=identity,
        phone=phone,
        template=template.sms_template_id or "",
        params=[row.params[name] for name in template.params],
        purpose=f"{SMS_PURPOSE}{row.id}",
        client_token=f"notification-{row.id}",
    )
    await repository.set_sms_status(session, row.id, status="sent", expected="queued")


async def sms_reported(*, session: AsyncSession, purpose: str, delivered: bool) -> None:
    """A delivery report for a notification's SMS."""
    if not purpose.startswith(SMS_PURPOSE):
        return
    notification_id = uuid.UUID(purpose.removeprefix(SMS_PURPOSE))
    await repository.set_sms_status(
        session, notification_id, status="delivered" if delivered else "failed", expected="sent"
    )


async def inbox(
    *, session: AsyncSession, account_id: uuid.UUID, limit: int, before: uuid.UUID | None, unread: bool | None
) -> tuple[list[NotificationRead], uuid.UUID | None, int]:
    """A page of the account's own inbox, newest first, with the unread count."""
    rows = await repository.inbox(session, account_id, limit=limit, before=before, unread=unread)
    more = len(rows) > limit
    items = [NotificationRead.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return items, items[-1].id if more else None, await repository.unread_count(session, account_id)


async def mark_read(*, session: AsyncSession, account_id: uuid.UUID, notification_id: uuid.UUID) -> NotificationRead:
    if not await repository.mark_read(session, account_id, notification_id):
        raise NotificationNotFound()
    row = await repository.get(session, notification_id)
    await session.refresh(row)
    return NotificationRead.model_validate(row, from_attributes=True)


# -- one-time codes (auth.recovery) ----------------------------------------------------------------------------------

CODE_PURPOSE = "phone-code:"


def code_sender(state: Any) -> Callable[..., Awaitable[None]]:
    """The app's `auth.recovery.service.CodeSender`: sends a code through the cloud's SMS port, recorded like every SMS
    we send (number sealed, template, delivery report) but never with the code. It runs after the answer to the request
    that made the code; a code that fails to go is logged and asked for again, never retried from storage."""

    async def send(*, phone: str, code: str, purpose: str, code_id: uuid.UUID) -> None:
        try:
            async with state.db.transaction() as session:
                await cloud_service.send_sms(
                    session=session,
                    sms=state.cloud.cloud.sms,
                    identity=state.identity,
                    phone=phone,
                    template=CODE_SMS_TEMPLATES[purpose],
                    params=[code],
                    purpose=f"{CODE_PURPOSE}{code_id}",
                    client_token=f"phone-code-{code_id}",
                )
        except Exception as exc:  # after the answer: nobody to tell but the log
            logger.warning("phone code not sent", extra={"code_id": str(code_id), "error": type(exc).__name__})

    return send
