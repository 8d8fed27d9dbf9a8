"""The catalogue lifecycle: draft -> published -> deprecated -> withdrawn, taken by publishers."""

from core.events import define_event
from core.workflow import Transition, Workflow

PUBLISHER = {"scopes": frozenset({"catalogue:publish"}), "roles": frozenset({"publisher"})}

SERVICE_LIFECYCLE = Workflow(
    name="catalogue.service",
    states=("draft", "published", "deprecated", "withdrawn"),
    transitions=(
        Transition(
            "publish",
            frozenset({"draft"}),
            "published",
            **PUBLISHER,
            description="Make the draft the version citizens see; the previous version becomes deprecated.",
        ),
        Transition(
            "deprecate",
            frozenset({"published"}),
            "deprecated",
            **PUBLISHER,
            needs_reason=True,
            description="Still valid for applications made against it, no longer offered for new ones.",
        ),
        Transition(
            "withdraw",
            frozenset({"published", "deprecated"}),
            "withdrawn",
            **PUBLISHER,
            needs_reason=True,
            description="No longer offered at all.",
        ),
    ),
    events={"publish": "published", "deprecate": "deprecated", "withdraw": "withdrawn"},
)

SERVICE_DRAFTED = define_event("catalogue.service.drafted", description="An editor created or changed a draft")
for _action, _past in SERVICE_LIFECYCLE.events.items():
    define_event(
        SERVICE_LIFECYCLE.event_name(_action), description=f"A service version was {_past}", partner_visible=True
    )
DEPARTMENT_CHANGED = define_event("catalogue.department.changed", description="A department was created or changed")
