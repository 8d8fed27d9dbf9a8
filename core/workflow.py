"""Table-driven state machines (DESIGN 4): one table per lifecycle says which action moves which state where, who may
take it and what must hold first. The same table answers `allowed_actions` for a caller, lists the actions for the
OpenAPI enum and names the outbox events.

The table is data; who the caller is and what they own is the domain's business, passed in as `permitted`.
"""

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core import audit, sla
from core.context import Actor as AuditActor
from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed, field_error
from core.events import Event, emit
from core.models import utcnow


class TransitionNotAllowed(Conflict):
    code, title = "transition-not-allowed", "This action is not possible in the current state"


class UnknownAction(NotFound):
    code, title = "unknown-action", "No such action"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str | None  # None: the state stays (an assignment, a proposal), yet history, audit and event are written
    # Who may take it: every scope in `scopes` and one of `roles` (empty: no role needed). `actor` tells the domain
    # which kind of caller this is for: "staff", "owner" (the applicant / the object's owner) or "system".
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    actor: str = "staff"
    needs_reason: bool = False
    description: str = ""


@dataclass(frozen=True)
class StepActor:
    """Who takes a step, as an application's history records it."""

    subject: str | None
    role: str  # applicant | officer | supervisor | partner | system


@dataclass
class Workflow:
    name: str  # e.g. "catalogue.service": events are named f"{name}.{past tense}"
    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    events: dict[str, str] = field(default_factory=dict)  # action -> past tense, e.g. publish -> published

    def __post_init__(self) -> None:
        for transition in self.transitions:
            reached = {transition.target} if transition.target else set()
            unknown = (transition.sources | reached) - set(self.states)
            if unknown:
                raise ValueError(f"{self.name}.{transition.action}: unknown states {sorted(unknown)}")
        self._by_action: dict[str, list[Transition]] = {}
        for transition in self.transitions:
            self._by_action.setdefault(transition.action, []).append(transition)

    @property
    def actions(self) -> list[str]:
        return sorted(self._by_action)

    def event_name(self, action: str) -> str:
        return f"{self.name}.{self.events.get(action, action)}"

    def find(self, state: str, action: str) -> Transition:
        """The transition `action` takes from `state`; 404 for an unknown action, 409 if not from this state."""
        candidates = self._by_action.get(action)
        if not candidates:
            raise UnknownAction(f"{self.name} has no action {action!r}; actions: {', '.join(self.actions)}.")
        for transition in candidates:
            if state in transition.sources:
                return transition
        raise TransitionNotAllowed(f"Cannot {action} a {self.name.rsplit('.', 1)[-1]} that is {state}.")

    def still_possible(self, state: str, action: str) -> Transition | None:
        """The transition `action` takes from `state`, or None: for system steps that may arrive late or twice (a
        redelivered event, a job racing a request), where "no longer possible" means "nothing to do"."""
        return next((t for t in self._by_action.get(action, ()) if state in t.sources), None)

    def allowed(self, state: str, permitted: Callable[[Transition], bool]) -> list[str]:
        """Actions the caller may take now: possible from `state` and `permitted` for them."""
        return sorted({t.action for t in self.transitions if state in t.sources and permitted(t)})

    def from_state(self, state: str) -> Iterable[Transition]:
        return (t for t in self.transitions if state in t.sources)


def describe(workflow: Workflow) -> dict[str, Any]:
    """The table itself, for documentation endpoints and tests."""
    return {
        "name": workflow.name,
        "states": list(workflow.states),
        "transitions": [
            {
                "action": t.action,
                "from": sorted(t.sources),
                "to": t.target,  # null: unchanged
                "roles": sorted(t.roles),
                "scopes": sorted(t.scopes),
                "actor": t.actor,
                "event": workflow.event_name(t.action),
            }
            for t in workflow.transitions
        ],
    }


class HistoryRead(BaseModel):
    """One step of an application's history (core.models.HistoryFields), as the API shows it."""

    id: uuid.UUID
    action: str
    from_status: str
    to_status: str
    actor_role: str
    reason: str | None
    occurred_at: datetime


SYSTEM = "system"
# The role every lifecycle gives the person an application is for (their own steps are theirs to know of).
APPLICANT = "applicant"
WORKER = AuditActor(subject=None, client_id="worker")  # the audit trail's name for the system's own steps


async def take_step(
    session: AsyncSession,
    *,
    workflow: Workflow,
    step: Transition,
    row: Any,
    history: type,
    object_type: str,
    actor: StepActor,
    reason: str | None,
    now: datetime,
    effect: Callable[[], Awaitable[None]] | None,
    payload: Callable[[Any], dict[str, Any]],
) -> None:
    """A step of an application's lifecycle, in the caller's transaction: its reason, its effect (guards included),
    the new state with a version bump (a concurrent step that read the same version then fails), and the trail it
    leaves: a history row (`history`, a table of core.models.HistoryFields), an audit entry and an outbox event."""
    if step.needs_reason and not (reason and reason.strip()):  # blanks are no reason (nor a question to answer)
        raise ValidationFailed("Say why.", errors=[field_error("reason", f"required to {step.action}", code="missing")])
    if effect is not None:
        await effect()
    before = row.status
    if step.target:
        row.status = step.target
    row.updated_at = now
    session.add(row)
    await session.flush()
    add_history(session, history, row, action=step.action, before=before, actor=actor, reason=reason, now=now)
    audit.record(
        session,
        action=workflow.event_name(step.action),
        object_type=object_type,
        object_id=row.id,
        detail={"reference": row.reference, "from": before, "to": row.status, "reason": reason},
        actor=WORKER if actor.role == SYSTEM else None,
    )
    emit(
        session,
        Event(
            workflow.event_name(step.action),
            subject=f"{object_type}:{row.id}",
            payload={**payload(row), "from": before, "action": step.action, "by": actor.role},
        ),
    )


def add_history(
    session: AsyncSession,
    history: type,
    row: Any,
    *,
    action: str,
    before: str,
    actor: StepActor,
    reason: str | None,
    now: datetime,
) -> None:
    """One row of an application's history: the step, who took it, from which state to the row's state now, why."""
    session.add(
        history(
            application_id=row.id,
            action=action,
            from_status=before,
            to_status=row.status,
            actor_subject=actor.subject,
            actor_role=actor.role,
            reason=reason,
            occurred_at=now,
        )
    )


ESCALATION_REASON = "80% of the processing time used"


async def escalate_near_breach(
    db: Database,
    *,
    model: type,
    running: Iterable[str],
    history: type,
    object_type: str,
    event: str,
    tell: Callable[[AsyncSession, Any], Awaitable[None]],
) -> None:
    """The worker's escalation round for one kind of application (rows of `model`): each whose clock is past its
    at-risk instant (core.sla) is marked once, its history says so (the state stays), an audit entry and an outbox
    event (`event`) record it, and `tell` lets the supervisors know, all in one transaction."""
    now = utcnow()
    async with db.transaction() as session:
        for row in await sla.near_breach(session, model, running, now):
            if not await sla.mark_escalated(session, model, row.id, now):
                continue  # another worker got there first
            add_history(
                session,
                history,
                row,
                action="escalate",
                before=row.status,
                actor=StepActor(None, SYSTEM),
                reason=ESCALATION_REASON,
                now=now,
            )
            audit.record(
                session,
                action=event,
                object_type=object_type,
                object_id=row.id,
                detail={"due_at": row.due_at.isoformat() if row.due_at else None},
                actor=WORKER,
            )
            emit(session, Event(event, subject=f"{object_type}:{row.id}", payload={"application_id": row.id}))
            await tell(session, row)
