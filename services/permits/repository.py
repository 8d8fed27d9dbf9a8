"""All SQL of permit applications. Whose rows a caller may see is part of every query (DESIGN 6): an application
outside the caller's reach matches no row, so it is a 404, never a 403 that confirms it exists."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, false, func, insert, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.guards import Principal
from auth.repository import mandate_stands
from core import audit
from core.audit.models import AuditEvent
from core.events import OutboxEvent
from core.pagination import keyset
from services.permits.models import (
    RENEWING,
    InformationRequest,
    PermitApplication,
    PermitDocument,
    PermitHistory,
)

_app = PermitApplication.__table__
_history = PermitHistory.__table__
_outbox = OutboxEvent.__table__
_audit = AuditEvent.__table__


def is_staff(principal: Principal) -> bool:
    return "permits:process" in principal.scopes and principal.has_role("officer", "supervisor")


def reach(principal: Principal) -> ColumnElement[bool]:
    """The applications `principal` may see: a person their own (with permits:apply), and staff also their
    department's; a partner those it filed for a citizen whose mandate still stands."""
    if not principal.is_person:
        if "partner:submit" not in principal.scopes:
            return false()
        return (_app.c.submitted_by_client == principal.client_id) & mandate_stands(
            _app.c.applicant_id, principal.client_id
        )
    own = _app.c.applicant_id == principal.account_id if "permits:apply" in principal.scopes else false()
    return (own | queue(principal)) if is_staff(principal) else own


def queue(principal: Principal) -> ColumnElement[bool]:
    """What was sent to a staff member's department: a draft withdrawn unsent is still the citizen's alone. (Staff
    list only this, by deadline: their own applications they list with a token without the staff scope.)"""
    if principal.department is None:
        return false()
    return (_app.c.department == principal.department) & _app.c.submitted_at.is_not(None)


async def hold(session: AsyncSession, application_id: uuid.UUID) -> None:
    """Hold the application's row until the transaction ends, so steps that must not run side by side (starting a
    payment) take turns (PostgreSQL; SQLite's write transactions take turns already)."""
    await session.execute(select(_app.c.id).where(_app.c.id == application_id).with_for_update())


async def application(
    session: AsyncSession, application_id: uuid.UUID, *, within: ColumnElement[bool] | None = None
) -> PermitApplication | None:
    statement = select(PermitApplication).where(PermitApplication.id == application_id)
    if within is not None:
        statement = statement.where(within)
    return (await session.execute(statement)).scalar()


def _summary_columns() -> list[Any]:
    return [
        _app.c.id,
        _app.c.reference,
        _app.c.service_code,
        _app.c.department,
        _app.c.status,
        _app.c.version,
        _app.c.holder_name,
        _app.c.holder_public,
        _app.c.assignee_id,
        _app.c.submitted_at,
        _app.c.due_at,
        _app.c.risk_at,
        _app.c.paused_at,
        _app.c.decided_at,
        _app.c.paused_seconds,
    ]


async def listing(
    session: AsyncSession,
    *,
    within: ColumnElement[bool],
    staff: bool,
    now: datetime,
    limit: int,
    cursor: str | None,
    status: str | None = None,
    service_code: str | None = None,
    assignee: uuid.UUID | None = None,
    unassigned: bool = False,
    risk: str | None = None,
    submitted_after: datetime | None = None,
    submitted_before: datetime | None = None,
) -> list[Any]:
    """One keyset page (plus one row): staff see the queue by deadline, applicants their own newest first."""
    statement: Select[Any] = select(*_summary_columns()).where(within)
    if status:
        statement = statement.where(_app.c.status == status)
    if service_code:
        statement = statement.where(_app.c.service_code == service_code)
    if assignee:
        statement = statement.where(_app.c.assignee_id == assignee)
    if unassigned:
        statement = statement.where(_app.c.assignee_id.is_(None))
    if submitted_after:
        statement = statement.where(_app.c.submitted_at >= submitted_after)
    if submitted_before:
        statement = statement.where(_app.c.submitted_at < submitted_before)
    if risk == "breached":
        statement = statement.where(_app.c.due_at <= now, _app.c.paused_at.is_(None))
    elif risk == "at_risk":
        statement = statement.where(_app.c.risk_at <= now, _app.c.due_at > now, _app.c.paused_at.is_(None))
    elif risk == "on_track":
        statement = statement.where(_app.c.risk_at > now, _app.c.paused_at.is_(None))
    elif risk == "paused":
        statement = statement.where(_app.c.paused_at.is_not(None), _app.c.status == "awaiting_applicant")
    if risk in ("breached", "at_risk", "on_track"):
        statement = statement.where(_app.c.status.in_(("submitted", "screening", "under_review", "pending_payment")))
    if staff:
        # Decided applications have a deadline too; the queue is ordered by it either way.
        page = keyset(statement, order_by=[_app.c.due_at, _app.c.id], cursor=cursor, limit=limit)
    else:
        page = keyset(statement, order_by=[_app.c.id], cursor=cursor, limit=limit, descending=True)
    return list((await session.execute(page)).mappings())


def _insert_bound(table: Any, prefix: str, *, omit: tuple[str, ...] = ()) -> Any:
    """An INSERT of the columns of `table` (but `omit`), each from the parameter `<prefix>_<column>`."""
    values = {column.name: bindparam(f"{prefix}_{column.name}", type_=column.type) for column in table.c}
    return insert(table).values({name: value for name, value in values.items() if name not in omit})


# Built once: composing the statement from the values on every request costs more than running it. The audit entry
# goes in unchained (no seq or hashes), as every entry does: the sequencer chains it once committed.
_NEW_DRAFT = _insert_bound(_audit, "audit", omit=("seq", "prev_hash", "hash")).add_cte(
    _insert_bound(_app, "application").cte("new_application"),
    _insert_bound(_history, "history").cte("new_history"),
    _insert_bound(_outbox, "event").cte("new_event"),
)


async def insert_draft(
    session: AsyncSession,
    *,
    application: dict[str, Any],
    history: dict[str, Any],
    event: dict[str, Any],
    audit_entry: dict[str, Any],
) -> None:
    """Write a new application with its first history row, its outbox event and its audit entry (rows with every
    column given; the entry from `audit.entry()`).

    On PostgreSQL this is one statement (data-modifying CTEs): each statement is a round trip to the server, which
    costs this request more than the insert it carries, and the history row's foreign key is checked at the end of
    the statement, when the application is there. SQLite has no INSERT inside WITH, and a statement there is a
    function call, so it gets one insert per table; its audit entry goes to the commit, which chains it there.
    """
    if session.bind.dialect.name == "postgresql":
        parameters = {}
        for prefix, row in (
            ("application", application),
            ("history", history),
            ("event", event),
            ("audit", audit_entry),
        ):
            parameters.update({f"{prefix}_{name}": value for name, value in row.items()})
        await session.execute(_NEW_DRAFT, parameters)
        return
    for table, row in ((_app, application), (_history, history), (_outbox, event)):
        await session.execute(insert(table), row)
    audit.append(session, audit_entry)


async def history(session: AsyncSession, application_id: uuid.UUID) -> list[PermitHistory]:
    statement = select(PermitHistory).where(PermitHistory.application_id == application_id).order_by(PermitHistory.id)
    return list((await session.execute(statement)).scalars())


async def documents(session: AsyncSession, application_id: uuid.UUID) -> list[PermitDocument]:
    statement = (
        select(PermitDocument).where(PermitDocument.application_id == application_id).order_by(PermitDocument.id)
    )
    return list((await session.execute(statement)).scalars())


async def document(session: AsyncSession, application_id: uuid.UUID, document_id: uuid.UUID) -> PermitDocument | None:
    statement = select(PermitDocument).where(
        PermitDocument.id == document_id, PermitDocument.application_id == application_id
    )
    return (await session.execute(statement)).scalar()


async def open_request(session: AsyncSession, application_id: uuid.UUID) -> InformationRequest | None:
    statement = select(InformationRequest).where(
        InformationRequest.application_id == application_id, InformationRequest.status == "open"
    )
    return (await session.execute(statement.order_by(InformationRequest.id.desc()))).scalar()


async def overdue_requests(session: AsyncSession, now: datetime, *, limit: int = 200) -> list[InformationRequest]:
    statement = (
        select(InformationRequest)
        .join(PermitApplication, PermitApplication.id == InformationRequest.application_id)
        .where(
            InformationRequest.status == "open",
            InformationRequest.due_at < now,
            PermitApplication.status == "awaiting_applicant",
        )
        .order_by(InformationRequest.due_at)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def decided_durations(session: AsyncSession, since: datetime) -> list[Any]:
    """(service code and version id, submitted, decided, paused seconds) of applications decided since `since`."""
    statement = select(
        _app.c.service_code,
        _app.c.service_id,
        _app.c.submitted_at,
        _app.c.decided_at,
        _app.c.paused_seconds,
        _app.c.paused_clock_seconds,
    ).where(_app.c.decided_at >= since, _app.c.submitted_at.is_not(None))
    return list((await session.execute(statement)).all())


async def issuing(session: AsyncSession, permit_number: str) -> PermitApplication | None:
    """The application that issued this permit."""
    statement = select(PermitApplication).where(PermitApplication.permit_number == permit_number)
    return (await session.execute(statement)).scalar()


async def renewing(session: AsyncSession, permit_number: str) -> bool:
    """Whether an application under way or issued renews this permit (uq_permit_application_renews holds it)."""
    statement = select(_app.c.id).where(_app.c.renews == permit_number, RENEWING)
    return (await session.execute(statement.limit(1))).first() is not None


async def renewals_in(session: AsyncSession, statuses: Iterable[str]) -> list[PermitApplication]:
    """The renewals in these states."""
    statement = select(PermitApplication).where(
        RENEWING,
        PermitApplication.status.in_(sorted(statuses)),  # type: ignore[attr-defined]
    )
    return list((await session.execute(statement)).scalars())


async def service_codes_of(session: AsyncSession, applicant_id: uuid.UUID) -> set[str]:
    """The services a person has ever applied for (in any state)."""
    statement = select(_app.c.service_code).where(_app.c.applicant_id == applicant_id)
    return set((await session.execute(statement)).scalars())


async def issued(
    session: AsyncSession, *, number: str | None, holder: str | None, limit: int, cursor: str | None
) -> list[Any]:
    """The public register: issued permits by number or holder-name prefix (case-insensitive)."""
    statement = select(
        _app.c.permit_number,
        _app.c.holder_name,
        _app.c.holder_public,
        _app.c.service_id,
        _app.c.service_code,
        _app.c.department,
        _app.c.decided_at,
    ).where(_app.c.permit_number.is_not(None))
    if number:
        statement = statement.where(_app.c.permit_number == number)
    if holder:  # only businesses are searchable by name; a person's permit is found by its number alone
        statement = statement.where(_app.c.holder_public.is_(True))
        escaped = holder.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(func.lower(_app.c.holder_name).like(f"{escaped}%", escape="\\"))
    page = keyset(statement, order_by=[_app.c.permit_number], cursor=cursor, limit=limit)
    return list((await session.execute(page)).all())
