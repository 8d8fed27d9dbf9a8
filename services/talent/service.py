"""Talent rule sets (versions written by administrators, one active per scheme) and assessments against them.

A rule set is data, checked when it is written: its shape by the request schema, its meaning by `rules.check`. A
version never changes once written; activating one retires the one before. Scoring goes through `score()` (an
application with its verified claims) or `what_if()` (anyone's hypothetical claims): both read the compiled rule
set from the process's `RuleSetCache`, so an assessment normally touches no database at all.
"""

import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from auth.guards import Principal
from core import audit
from core.db import Database
from core.errors import field_error
from core.events import Event, define_event, emit
from core.http import check_if_match
from core.models import utcnow
from core.sla import CHINA
from services.catalogue import service as catalogue_service
from services.credentials import service as credentials_service
from services.talent import repository
from services.talent.claims import ClaimBase
from services.talent.engine import Assessment, CompiledRuleSet, assess, assess_json, compile_rule_set
from services.talent.exceptions import InvalidRuleSet, RuleSetAlreadyActive, RuleSetNotFound
from services.talent.models import TalentApplication, TalentRuleSet
from services.talent.rules import RuleProblem, RuleSetDocument, check
from services.talent.schemas import DEFAULT_RULE_SET, AssessmentRequest, RuleSetRead, RuleSetSummary

RULE_SET_CREATED = define_event(
    "talent.rule_set.created", description="An administrator wrote a new version of a talent rule set."
)
RULE_SET_ACTIVATED = define_event(
    "talent.rule_set.activated", description="A talent rule set version became the one assessments use."
)

# The schemes under which one applies for a Talent Island talent card. The other schemes (compass-like,
# work-permit-like) are reference examples for the what-if: they say what such a scheme would give, and give nothing
# here. Named by code, not by a flag in the document: a stored version never changes, so a flag would leave every
# database's existing talent-island versions card-less until rewritten.
CARD_SCHEMES = frozenset({DEFAULT_RULE_SET})

PUBLIC_STATUSES = ("active", "retired")
ALL_STATUSES = ("draft", "active", "retired")


def today_in_china() -> date:
    """Today's date in China Standard Time (ages and open employment periods count to the date in Jiangmen)."""
    return datetime.now(CHINA).date()


def is_admin(principal: Principal | None) -> bool:
    """Whether the caller may see drafts and write rule sets (scope admin and role admin)."""
    return principal is not None and "admin" in principal.scopes and principal.has_role("admin")


# -- the per-process cache of compiled rule sets ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    loaded: float
    status: str
    raw: dict[str, Any]
    compiled: CompiledRuleSet


class RuleSetCache:
    """Compiled rule sets of this process, and which version of each code is active.

    Both are kept `ttl` seconds and then read again. Activating a version here forgets its code at once (and again
    when the activation commits), so this process assesses with the new version from the next request; other
    processes go on serving the previous active version for up to `ttl` seconds. That is acceptable for a what-if,
    and an application's scoring stores the version it used, so it is never ambiguous which rules gave its score.
    A document never changes, so reloading one whose document is unchanged keeps its compiled form.
    """

    def __init__(self, *, ttl: float = 5.0, size: int = 256) -> None:
        self.ttl, self.size = ttl, size
        self._versions: dict[tuple[str, int], _Entry] = {}
        self._active: dict[str, tuple[float, int]] = {}

    def get(self, code: str, version: int | None) -> _Entry | None:
        now = time.monotonic()
        if version is None:
            pointer = self._active.get(code)
            if pointer is None or now - pointer[0] > self.ttl:
                return None
            version = pointer[1]
        entry = self._versions.get((code, version))
        if entry is None or now - entry.loaded > self.ttl:
            return None
        return entry

    def put(self, *, status: str, raw: dict[str, Any], version: int, code: str) -> _Entry:
        """Remember a version read from the database (compiling it unless its document is already compiled)."""
        now = time.monotonic()
        known = self._versions.get((code, version))
        if known is not None and known.raw == raw:
            compiled = known.compiled
        else:
            compiled = compile_rule_set(RuleSetDocument.model_validate(raw), version=version)
        if len(self._versions) >= self.size:
            self._versions.clear()
            self._active.clear()
        entry = self._versions[(code, version)] = _Entry(loaded=now, status=status, raw=raw, compiled=compiled)
        if status == "active":
            self._active[code] = (now, version)
        return entry

    def forget(self, code: str) -> None:
        self._active.pop(code, None)
        for key in [key for key in self._versions if key[0] == code]:
            del self._versions[key]

    def clear(self) -> None:
        self._versions.clear()
        self._active.clear()


def _forget_on_commit(session: AsyncSession, cache: RuleSetCache, code: str) -> None:
    # Now, and once more after the commit: a request that read the old active version between the two would
    # otherwise keep it for a whole ttl.
    cache.forget(code)
    event.listen(session.sync_session, "after_commit", lambda _session: cache.forget(code), once=True)


# -- reading and writing rule sets -----------------------------------------------------------------------------------


def allowed_actions(principal: Principal | None, row: TalentRuleSet) -> list[str]:
    return ["activate"] if is_admin(principal) and row.status != "active" else []


def read(row: TalentRuleSet, principal: Principal | None) -> RuleSetRead:
    """The API view of one version."""
    return RuleSetRead(
        id=row.id,
        code=row.code,
        version=row.version,
        status=row.status,  # type: ignore[arg-type]
        name={"zh-CN": row.name_zh, "en": row.name_en},
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        activated_at=row.activated_at,
        retired_at=row.retired_at,
        revision=row.revision,
        document=row.document,
        allowed_actions=allowed_actions(principal, row),
    )


def issues_cards(code: str) -> bool:
    """Whether approval under this scheme issues a Talent Island talent card (so one may apply under it)."""
    return code in CARD_SCHEMES


def problems_of(document: RuleSetDocument) -> list[RuleProblem]:
    """Every problem of meaning; for a scheme issuing cards also tiers the catalogue cannot name, and a tier a person
    with no verified claim at all would reach (a band that pays for a count of none, say)."""
    if not issues_cards(document.code):
        return check(document)
    problems = check(document, card_tiers=catalogue_service.TALENT_TIERS)
    if problems:
        return problems
    empty = assess(compile_rule_set(document, version=1), [], today=today_in_china())
    if empty.tier is not None:
        index = next(i for i, threshold in enumerate(document.thresholds) if threshold.tier == empty.tier)
        problems.append(
            RuleProblem(
                f"thresholds.{index}.min",
                f"a person with no verified claim would get tier {empty.tier} ({empty.score} points, {empty.route})",
                "free_tier",
            )
        )
    return problems


def validate_document(document: RuleSetDocument) -> None:
    """Raise a field-level 422 listing every problem of meaning in the document."""
    problems = problems_of(document)
    if problems:
        raise InvalidRuleSet(
            f"{len(problems)} problem(s) in the rule set",
            errors=[field_error(problem.field, problem.detail, code=problem.code) for problem in problems],
        )


async def create_rule_set(*, session: AsyncSession, principal: Principal, data: RuleSetDocument) -> TalentRuleSet:
    """Write the next version of a scheme (a draft: versions before it stay as they are)."""
    validate_document(data)
    await repository.hold_scheme(session, data.code)
    latest = await repository.latest_version(session, data.code)
    row = TalentRuleSet(
        code=data.code,
        version=(latest or 0) + 1,
        status="draft",
        name_zh=data.name.zh,
        name_en=data.name.en,
        document=data.stored(),
        created_by=principal.subject,
    )
    session.add(row)
    await session.flush()
    detail = {"code": row.code, "version": row.version}
    audit.record(session, action=RULE_SET_CREATED.name, object_type="talent_rule_set", object_id=row.id, detail=detail)
    emit(session, Event(RULE_SET_CREATED.name, subject=f"talent_rule_set:{row.id}", payload=detail))
    return row


async def activate(
    *, session: AsyncSession, cache: RuleSetCache, code: str, version: int, if_match: str | None
) -> TalentRuleSet:
    """Make a version the one assessments use; the version active before it is retired."""
    row = await repository.version(session, code, version)
    if row is None:
        raise RuleSetNotFound()
    check_if_match(if_match, row.revision)
    if row.status == "active":
        raise RuleSetAlreadyActive(f"{code} version {version} is already active.")
    now = utcnow()
    previous = await repository.active(session, code)
    if previous is not None:
        previous.status, previous.retired_at = "retired", now
        session.add(previous)
        await session.flush()  # first: the partial unique index allows one active version per code
    row.status, row.activated_at, row.retired_at = "active", now, None
    session.add(row)
    await session.flush()
    detail = {"code": code, "version": version, "retired_version": previous.version if previous else None}
    audit.record(
        session, action=RULE_SET_ACTIVATED.name, object_type="talent_rule_set", object_id=row.id, detail=detail
    )
    emit(session, Event(RULE_SET_ACTIVATED.name, subject=f"talent_rule_set:{row.id}", payload=detail))
    _forget_on_commit(session, cache, code)
    return row


async def get_version(*, session: AsyncSession, principal: Principal | None, code: str, version: int) -> TalentRuleSet:
    """One version; a draft only for administrators (anyone else is told it does not exist)."""
    row = await repository.version(session, code, version)
    if row is None or (row.status == "draft" and not is_admin(principal)):
        raise RuleSetNotFound()
    return row


async def get_active(*, session: AsyncSession, code: str) -> TalentRuleSet:
    """The version of a scheme that assessments use now."""
    row = await repository.active(session, code)
    if row is None:
        raise RuleSetNotFound(f"{code} has no active version.")
    return row


async def listing(
    *,
    session: AsyncSession,
    principal: Principal | None,
    limit: int,
    cursor: str | None,
    code: str | None,
    status: str | None,
) -> tuple[list[RuleSetSummary], str | None]:
    """Versions by code and number; drafts for administrators only."""
    visible = ALL_STATUSES if is_admin(principal) else PUBLIC_STATUSES
    statuses = tuple(s for s in visible if status is None or s == status)
    if not statuses:
        return [], None
    rows, next_cursor = await repository.listing(session, limit=limit, cursor=cursor, code=code, statuses=statuses)
    items = [
        RuleSetSummary(
            code=row["code"],
            version=row["version"],
            status=row["status"],
            name={"zh-CN": row["name_zh"], "en": row["name_en"]},
            created_at=row["created_at"],
            activated_at=row["activated_at"],
            retired_at=row["retired_at"],
        )
        for row in rows
    ]
    return items, next_cursor


# -- assessing -------------------------------------------------------------------------------------------------------


async def compiled_rule_set(
    *, database: Database, cache: RuleSetCache, code: str, version: int | None = None, drafts: bool = False
) -> CompiledRuleSet:
    """The compiled rule set (the active version unless `version` is given), from the cache or read once."""
    entry = cache.get(code, version)
    if entry is None:
        async with database.transaction(write=False) as session:
            row = await repository.document(session, code, version)
        if row is None:
            raise RuleSetNotFound(f"{code} has no active version." if version is None else None)
        entry = cache.put(status=row.status, raw=row.document, version=row.version, code=code)
    if entry.status == "draft" and not drafts:
        raise RuleSetNotFound()
    return entry.compiled


async def score(
    *,
    database: Database,
    cache: RuleSetCache,
    claims: list[ClaimBase],
    code: str,
    version: int | None = None,
    today: date | None = None,
) -> Assessment:
    """Assess claims (only the verified ones count) against a scheme; the answer names the version it used."""
    rule_set = await compiled_rule_set(database=database, cache=cache, code=code, version=version)
    return assess(rule_set, claims, today=today or today_in_china())


async def what_if(
    *, database: Database, cache: RuleSetCache, principal: Principal, data: AssessmentRequest, language: str
) -> bytes:
    """The tier and breakdown these claims would get, as the JSON of an Assessment in `language`; writes nothing.
    Administrators may try drafts."""
    rule_set = await compiled_rule_set(
        database=database, cache=cache, code=data.rule_set, version=data.version, drafts=is_admin(principal)
    )
    return assess_json(rule_set, data.claims, today=data.as_of or today_in_china(), language=language)


# -- for applications and other domains ------------------------------------------------------------------------------


async def active_rule_set(
    *, session: AsyncSession, cache: RuleSetCache, code: str, version: int | None = None
) -> CompiledRuleSet:
    """The compiled active version of a scheme (or a given version), read in the caller's transaction if not cached."""
    entry = cache.get(code, version)
    if entry is None:
        row = await repository.document(session, code, version)
        if row is None:
            raise RuleSetNotFound(f"{code} has no active version." if version is None else None)
        entry = cache.put(status=row.status, raw=row.document, version=row.version, code=code)
    return entry.compiled


def assess_claims(rule_set: CompiledRuleSet, claims: list[ClaimBase], *, today: date) -> Assessment:
    return assess(rule_set, claims, today=today)


def tiers_of(rule_set: CompiledRuleSet) -> list[str]:
    """The tiers a scheme can give, best first (by threshold or by a direct route)."""
    tiers = [tier for tier, _minimum in rule_set.thresholds]
    return tiers + [route.tier for route in rule_set.routes if route.tier not in tiers]


def criteria_reading(rule_set: CompiledRuleSet, *, kinds: set[str]) -> set[str]:
    """Codes of the criteria (and bonus criteria) whose value is read from claims of these kinds, and of the direct
    routes with a condition that reads one (naming the route taken would tell what a masked line hides)."""
    document = rule_set.document
    criteria = {c.code for c in [*document.criteria, *document.bonus.criteria] if c.claim in kinds}
    return criteria | {r.code for r in document.direct_routes if any(c.claim in kinds for c in r.when)}


@dataclass(frozen=True)
class TalentCard:
    """A talent card in force, as other domains need it (a benefit's eligibility, a fee waiver, benefit drafts)."""

    number: str
    tier: str
    holder_id: uuid.UUID


async def card_of(*, session: AsyncSession, account_id: uuid.UUID) -> TalentCard | None:
    """The person's talent card if one is in force (issued, and neither suspended, revoked nor expired)."""
    return await _in_force(session, await repository.card_holder(session, account_id))


async def card_by_number(*, session: AsyncSession, number: str) -> TalentCard | None:
    return await _in_force(session, await repository.by_card_number(session, number))


async def _in_force(session: AsyncSession, row: TalentApplication | None) -> TalentCard | None:
    # Only a card of a card-issuing scheme, of a tier the catalogue knows, is a talent card to other domains (an
    # approval under a reference scheme, from before applying under one was refused, unlocks nothing).
    if row is None or row.card_number is None or row.approved_tier is None or not has_card_tier(row):
        return None
    credential = await credentials_service.get_by_subject(
        session=session, subject_type="talent_application", subject_id=row.id
    )
    if credential is None or credentials_service.public_status(credential, utcnow()) != "active":
        return None
    return TalentCard(number=row.card_number, tier=row.approved_tier, holder_id=row.applicant_id)


def has_card_tier(row: TalentApplication) -> bool:
    """Whether the application's approved tier is a talent card's: approved under a scheme that issues cards, and
    one the catalogue's benefits and fee waivers can name."""
    return issues_cards(row.rule_set) and row.approved_tier in catalogue_service.TALENT_TIERS
