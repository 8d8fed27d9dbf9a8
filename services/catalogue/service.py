"""The catalogue's rules. Editors of a department write drafts of its services; publishers publish, deprecate and
withdraw. A published version never changes: a change is a new version, and applications keep the one they pinned.
Every change is audited and announced in the outbox in the caller's transaction."""

import math
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.guards import Principal
from core import audit
from core.errors import FieldError, Forbidden, ValidationFailed, field_error
from core.events import Event, emit
from core.http import check_if_match
from core.models import utcnow
from core.workflow import Transition
from services.catalogue import repository
from services.catalogue.exceptions import (
    DepartmentNotFound,
    DepartmentTaken,
    DraftExists,
    IncompleteService,
    NotADraft,
    ServiceCodeTaken,
    ServiceNotFound,
)
from services.catalogue.models import Department, ProcessingTimes, ServiceVersion
from services.catalogue.render import first_sentence
from services.catalogue.schemas import Department as DepartmentIn
from services.catalogue.schemas import ServiceContent, ServiceCreate, ServiceUpdate, TalentTier
from services.catalogue.search import index_tokens
from services.catalogue.workflow import DEPARTMENT_CHANGED, SERVICE_DRAFTED, SERVICE_LIFECYCLE

# The columns `_columns` derives from a version's content: a new version copies them as they are.
_COLUMNS = (
    "department",
    "kind",
    "category",
    "audiences",
    "title_zh",
    "title_en",
    "summary_zh",
    "summary_en",
    "content",
    "search_title",
    "search_body",
)


def _columns(content: ServiceContent) -> dict[str, Any]:
    """The denormalized columns a version carries beside its content document."""
    # The code identifies the service, not one version of its content.
    document = content.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"code"})
    keywords = content.keywords
    return {
        "department": content.department,
        "kind": content.kind,
        "category": content.category,
        "audiences": "," + ",".join(sorted(content.audience)) + ",",
        "title_zh": content.title.zh,
        "title_en": content.title.en,
        "summary_zh": first_sentence(content.description.zh),
        "summary_en": first_sentence(content.description.en),
        "content": document,
        "search_title": index_tokens(content.title.zh, content.title.en, *keywords.zh, *keywords.en),
        "search_body": index_tokens(content.description.zh, content.description.en, content.category),
    }


def may(principal: Principal | None, transition: Transition, row: ServiceVersion) -> bool:
    """Whether `principal` may take `transition` on `row` (the workflow table says which scope and role)."""
    return (
        principal is not None
        and transition.scopes <= principal.scopes
        and (not transition.roles or bool(principal.roles & transition.roles))
    )


def is_editor_of(principal: Principal | None, row: ServiceVersion) -> bool:
    return (
        principal is not None
        and "catalogue:write" in principal.scopes
        and principal.has_role("catalogue_editor")
        and principal.department == row.department
    )


def allowed_actions(principal: Principal | None, row: ServiceVersion) -> list[str]:
    actions = SERVICE_LIFECYCLE.allowed(row.status, lambda t: may(principal, t, row))
    if row.status == "draft" and is_editor_of(principal, row):
        actions = sorted([*actions, "edit", "discard"])
    return actions


async def _editable(session: AsyncSession, principal: Principal, code: str) -> ServiceVersion:
    """The newest version of a service of the editor's own department; anyone else's service is a 404."""
    row = await repository.latest(session, code)
    # The same rule as every read of a draft: an editor with no department (an administrator may make one) is the
    # editor of nothing, not of everything.
    if row is None or not is_editor_of(principal, row):
        raise ServiceNotFound()
    return row


def _audit(session: AsyncSession, action: str, row: ServiceVersion, **detail: Any) -> None:
    audit.record(
        session,
        action=f"catalogue.service.{action}",
        object_type="service",
        object_id=row.code,
        detail={"version": row.version, **detail},
    )


async def create_service(*, session: AsyncSession, principal: Principal, data: ServiceCreate) -> ServiceVersion:
    """A new service, as a draft of version 1, in the editor's own department."""
    if data.department != principal.department:
        raise Forbidden("Editors write services of their own department only.")
    if await repository.department(session, data.department) is None:
        raise ValidationFailed("No such department.", errors=[field_error("department", "unknown department")])
    if await repository.latest(session, data.code) is not None:
        raise ServiceCodeTaken(f"The code {data.code} is taken; change that service with a new version.")
    row = ServiceVersion(code=data.code, version=1, status="draft", created_by=principal.account_id, **_columns(data))
    session.add(row)
    await session.flush()
    _audit(session, "drafted", row)
    emit(session, Event(SERVICE_DRAFTED.name, subject=f"service:{row.code}", payload={"version": row.version}))
    return row


async def new_version(*, session: AsyncSession, principal: Principal, code: str) -> ServiceVersion:
    """A draft of the next version, starting from the newest one."""
    latest = await _editable(session, principal, code)
    if latest.status == "draft":
        raise DraftExists(f"Version {latest.version} is still a draft: change that one.")
    # Copied as stored, not validated again: a version written under older rules (a pattern since found too big to
    # compile quickly) must still start the draft that mends it; a draft is checked when written and when published.
    copied = {name: getattr(latest, name) for name in _COLUMNS}
    row = ServiceVersion(
        code=code, version=latest.version + 1, status="draft", created_by=principal.account_id, **copied
    )
    session.add(row)
    await session.flush()
    _audit(session, "drafted", row, based_on=latest.version)
    emit(session, Event(SERVICE_DRAFTED.name, subject=f"service:{row.code}", payload={"version": row.version}))
    return row


async def update_draft(
    *, session: AsyncSession, principal: Principal, code: str, version: int, data: ServiceUpdate, if_match: str | None
) -> ServiceVersion:
    """Replace a draft's content (send If-Match); published versions never change."""
    row = await repository.version(session, code, version)
    if row is None or row.department != principal.department:
        raise ServiceNotFound()
    check_if_match(if_match, row.revision)
    if row.status != "draft":
        raise NotADraft(f"Version {version} is {row.status}; create a new version to change the service.")
    if data.department != row.department:
        raise ValidationFailed(
            "A service stays with its department.",
            errors=[field_error("department", "cannot move to another department")],
        )
    columns = _columns(data)
    if all(getattr(row, name) == value for name, value in columns.items()):
        return row  # nothing changed: no write, no audit entry, same ETag
    for name, value in columns.items():
        setattr(row, name, value)
    session.add(row)
    await session.flush()
    _audit(session, "draft_updated", row)
    emit(session, Event(SERVICE_DRAFTED.name, subject=f"service:{row.code}", payload={"version": row.version}))
    return row


async def discard_draft(
    *, session: AsyncSession, principal: Principal, code: str, version: int, if_match: str | None
) -> None:
    row = await repository.version(session, code, version)
    if row is None or row.department != principal.department:
        raise ServiceNotFound()
    check_if_match(if_match, row.revision)
    if row.status != "draft":
        raise NotADraft("Only drafts can be discarded; withdraw a published version instead.")
    _audit(session, "draft_discarded", row)
    await session.delete(row)


def _check_content(content: dict[str, Any]) -> None:
    """A 422 naming each field when a draft's content breaks the rules a draft is written under: a draft copied from
    a version written under older rules (new_version copies, it does not validate) is mended before it goes out."""
    try:
        ServiceContent.model_validate(content)
    except ValidationError as error:
        errors = [
            field_error(".".join(str(part) for part in detail["loc"]) or "content", str(detail["msg"]))
            for detail in error.errors(include_url=False)
        ]
        raise ValidationFailed("The draft breaks the catalogue's rules: change it first.", errors=errors) from None


def missing_for_publishing(content: dict[str, Any]) -> list[FieldError]:
    """What a citizen would need and the draft does not say yet."""
    missing = []
    if not content.get("channels"):
        missing.append(field_error("channels", "say where the service is delivered", code="missing"))
    if content["kind"] in ("permit", "talent_benefit"):
        for name, what in (
            ("processing_time", "state how long it takes"),
            ("form", "give the application form"),
            ("required_documents", "list the documents to provide"),
            ("eligibility", "say who may apply"),
        ):
            if not content.get(name):
                missing.append(field_error(name, what, code="missing"))
    if content["kind"] == "permit" and not content.get("legal_basis"):
        missing.append(field_error("legal_basis", "cite the legal basis of the permit", code="missing"))
    return missing


async def transition(
    *,
    session: AsyncSession,
    principal: Principal,
    code: str,
    version: int,
    action: str,
    reason: str | None,
    if_match: str | None,
) -> ServiceVersion:
    """Publish, deprecate or withdraw a version, as the lifecycle table allows."""
    row = await repository.version(session, code, version)
    if row is None:
        raise ServiceNotFound()
    step = SERVICE_LIFECYCLE.find(row.status, action)
    if not may(principal, step, row):
        raise Forbidden(f"Only a publisher may {action} a service.")
    check_if_match(if_match, row.revision)
    if step.needs_reason and not reason:
        raise ValidationFailed("Say why.", errors=[field_error("reason", "required for this action", code="missing")])
    if action == "publish":
        _check_content(row.content)
        missing = missing_for_publishing(row.content)
        if missing:
            raise IncompleteService(
                "The draft cannot be published yet: " + ", ".join(e.field for e in missing) + ".", errors=missing
            )
        replaced = await repository.make_current(session, row)
        if replaced is not None and replaced.status == "published":
            # A transition of its own (applications pinned to it stay valid): audited and announced like one.
            replaced.status = "deprecated"
            session.add(replaced)
            _announce(session, "deprecate", replaced, reason=f"replaced by version {row.version}")
        row.published_at = utcnow()
    row.status = step.target
    session.add(row)
    await session.flush()
    _announce(session, action, row, reason=reason)
    return row


def _announce(session: AsyncSession, action: str, row: ServiceVersion, *, reason: str | None) -> None:
    """The audit entry and the outbox event of a lifecycle step taken on `row`."""
    _audit(session, SERVICE_LIFECYCLE.events[action], row, reason=reason)
    emit(
        session,
        Event(
            SERVICE_LIFECYCLE.event_name(action),
            subject=f"service:{row.code}",
            payload={"version": row.version, "reason": reason},
        ),
    )


# -- departments ----------------------------------------------------------------------------------------------------


async def create_department(*, session: AsyncSession, data: DepartmentIn) -> Department:
    """An administrator adds a competent authority."""
    if await repository.department(session, data.code) is not None:
        raise DepartmentTaken(f"The department {data.code} exists.")
    row = Department(
        code=data.code,
        name_zh=data.name.zh,
        name_en=data.name.en,
        contact=data.contact.model_dump(mode="json", by_alias=True, exclude_none=True),
    )
    session.add(row)
    await session.flush()
    audit.record(session, action="catalogue.department.created", object_type="department", object_id=row.code)
    emit(session, Event(DEPARTMENT_CHANGED.name, subject=f"department:{row.code}", payload={"created": True}))
    return row


async def update_department(
    *, session: AsyncSession, code: str, data: DepartmentIn, if_match: str | None
) -> Department:
    row = await repository.department(session, code)
    if row is None:
        raise DepartmentNotFound()
    check_if_match(if_match, row.version)
    if data.code != code:
        raise ValidationFailed(
            "The code of a department never changes.", errors=[field_error("code", "must stay " + code)]
        )
    row.name_zh, row.name_en = data.name.zh, data.name.en
    row.contact = data.contact.model_dump(mode="json", by_alias=True, exclude_none=True)
    session.add(row)
    await session.flush()
    audit.record(session, action="catalogue.department.updated", object_type="department", object_id=row.code)
    emit(session, Event(DEPARTMENT_CHANGED.name, subject=f"department:{row.code}", payload={"created": False}))
    return row


async def get_department(*, session: AsyncSession, code: str) -> Department:
    row = await repository.department(session, code)
    if row is None:
        raise DepartmentNotFound()
    return row


async def published_version(*, session: AsyncSession, code: str, version: int | None = None) -> ServiceVersion:
    """What the public may see: the current version, or a given non-draft version."""
    row = await (repository.current(session, code) if version is None else repository.version(session, code, version))
    if row is None or row.status == "draft":
        raise ServiceNotFound()
    return row


@dataclass(frozen=True)
class PinnedService:
    """What an application needs of the version it pinned. A published version's content never changes, so this
    is cached per process by id (its lifecycle status does change, and is not part of it)."""

    id: uuid.UUID
    code: str
    version: int
    kind: str
    department: str
    title_zh: str
    title_en: str
    content: dict[str, Any]


_PINNED: dict[uuid.UUID, PinnedService] = {}
_PINNED_LIMIT = 2000


async def pinned_version(*, session: AsyncSession, service_id: uuid.UUID) -> PinnedService:
    """The exact version an application was made against (whatever has been published since)."""
    pinned = _PINNED.get(service_id)
    if pinned is None:
        row = await session.get(ServiceVersion, service_id)
        if row is None or row.status == "draft":  # a draft may still change: never cached, never pinned
            raise ServiceNotFound()
        if len(_PINNED) >= _PINNED_LIMIT:
            _PINNED.clear()
        pinned = _PINNED[service_id] = PinnedService(
            id=row.id,
            code=row.code,
            version=row.version,
            kind=row.kind,
            department=row.department,
            title_zh=row.title_zh,
            title_en=row.title_en,
            content=row.content,
        )
    return pinned


async def open_for_applications(*, session: AsyncSession, code: str, kinds: Collection[str]) -> PinnedService | None:
    """The current published version of a service of these kinds, for a new application; None when there is none."""
    found = await repository.current_status(session, code)
    if found is None or found.status != "published" or found.kind not in kinds:
        return None
    return await pinned_version(session=session, service_id=found.id)


# The tiers of a talent card that services can name (eligibility, fee waivers): a scheme issuing cards uses these.
TALENT_TIERS: tuple[str, ...] = get_args(TalentTier)


def talent_tiers(service: PinnedService) -> list[str]:
    """The talent tiers a service is for (its eligibility rule); empty: not restricted to talent tiers."""
    return list(((service.content.get("eligibility") or {}).get("rules") or {}).get("talent_tiers") or [])


async def benefits_for_tier(*, session: AsyncSession, tier: str) -> list[PinnedService]:
    """The published talent benefits (services of kind talent_benefit) that a talent card of `tier` unlocks."""
    if tier not in TALENT_TIERS:
        return []  # not a card's tier: no service can be for it (nothing to read)
    found = [
        await pinned_version(session=session, service_id=service_id)
        for service_id in await repository.current_published_ids(session, kind="talent_benefit")
    ]
    return [service for service in found if tier in talent_tiers(service)]


# Fewer decisions than this show nothing: from one or two, a figure would all but tell one applicant's case.
MIN_SAMPLE = 5


async def record_processing_times(*, session: AsyncSession, durations: dict[str, list[int]]) -> None:
    """Store each service's observed median and 90th percentile (nearest rank) from its processing durations, in
    place of the figures before: a service with fewer than MIN_SAMPLE decisions in the window (all of them aged out,
    say) shows none rather than stale ones."""
    now, shown = utcnow(), {code: sorted(seconds) for code, seconds in durations.items() if len(seconds) >= MIN_SAMPLE}

    def rank(ordered: list[int], share: float) -> int:
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    await repository.keep_processing_times(session, shown)
    for code, ordered in shown.items():
        await repository.save_processing_times(
            session,
            ProcessingTimes(
                code=code,
                median_seconds=rank(ordered, 0.5),
                p90_seconds=rank(ordered, 0.9),
                sample_size=len(ordered),
                measured_at=now,
            ),
        )


async def actual_processing_time(*, session: AsyncSession, code: str) -> dict[str, Any] | None:
    """What the public sees beside the promised time: days, to one decimal, and how many decisions they rest on."""
    row = await repository.processing_times(session, code)
    if row is None:
        return None
    return {
        "median_days": round(row.median_seconds / 86400, 1),
        "p90_days": round(row.p90_seconds / 86400, 1),
        "sample_size": row.sample_size,
        "measured_at": row.measured_at.isoformat(),
    }
