"""The talent registration lifecycle (DESIGN 4), one table: which action moves which state where, and who takes it.

    draft -> submitted -> verifying <-> awaiting_applicant -> scored -> approved(tier) -> card_issued
    exits: rejected, withdrawn

`actor` says whose action it is: "applicant" (the person, or the employer's partner system that sponsors them),
"officer" (a talent officer or supervisor of the talent office; the assignee for the review steps), "supervisor"
or "system" (the worker: registry checks, the card). Guards that depend on the data live in applications.py.
"""

from core.events import define_event
from core.workflow import Transition, Workflow

DEPARTMENT = "talent"  # the talent office: its officers verify, review and approve
ACTIVE = frozenset({"submitted", "verifying", "awaiting_applicant", "scored"})
STAFF = frozenset({"talent:review"})
APPLICANT, OFFICER, SUPERVISOR, SYSTEM = "applicant", "officer", "supervisor", "system"


def _t(
    action: str, sources: set[str], target: str | None, actor: str, *, reason: bool = False, text: str
) -> Transition:
    roles = {OFFICER: frozenset({"talent_officer", "supervisor"}), SUPERVISOR: frozenset({"supervisor"})}.get(
        actor, frozenset()
    )
    return Transition(
        action,
        frozenset(sources),
        target,
        scopes=STAFF if actor in (OFFICER, SUPERVISOR) else frozenset(),
        roles=roles,
        actor=actor,
        needs_reason=reason,
        description=text,
    )


TALENT_LIFECYCLE = Workflow(
    name="talent.application",
    states=(
        "draft",
        "submitted",
        "verifying",
        "awaiting_applicant",
        "scored",
        "approved",
        "card_issued",
        "rejected",
        "withdrawn",
    ),
    transitions=(
        _t("submit", {"draft"}, "submitted", APPLICANT, text="Send the claims, each with its evidence."),
        _t(
            "verify",
            {"submitted"},
            "verifying",
            SYSTEM,
            text="The registries have been asked; claims they cannot answer wait for a talent officer.",
        ),
        _t("claim", {"verifying", "scored"}, None, OFFICER, text="Take the application and start the review."),
        _t(
            "reassign",
            {"verifying", "awaiting_applicant", "scored"},
            None,
            SUPERVISOR,
            text="Give the application to another talent officer (body: assignee_id).",
        ),
        _t(
            "hold",
            {"verifying"},
            "awaiting_applicant",
            SYSTEM,
            reason=True,
            text="A registry could not verify a claim: the applicant corrects it, adds evidence or drops it.",
        ),
        _t(
            "request_info",
            {"verifying", "scored"},
            "awaiting_applicant",
            OFFICER,
            reason=True,
            text="Ask the applicant (reason: the question), e.g. about a claim not verifiable; pauses the clock.",
        ),
        _t(
            "answer",
            {"awaiting_applicant"},
            "verifying",
            APPLICANT,
            reason=True,
            text="Answer (reason: the answer) after correcting claims; changed claims are verified again.",
        ),
        _t(
            "rfi_timeout",
            {"awaiting_applicant"},
            "withdrawn",
            SYSTEM,
            text="The applicant did not answer in time: the application lapses.",
        ),
        _t(
            "score",
            {"verifying"},
            "scored",
            OFFICER,
            text="Every claim is decided: score the verified ones against the active rule set.",
        ),
        _t(
            "review",
            {"scored"},
            None,
            OFFICER,
            text="Review the scored result: recommend a tier (body: tier), or recommend rejection (no tier, a reason).",
        ),
        _t(
            "approve",
            {"scored"},
            "approved",
            SUPERVISOR,
            text="Approve the tier (body: tier, default the recommended one; a different tier needs a reason).",
        ),
        _t(
            "reject",
            {"submitted", "verifying", "awaiting_applicant", "scored"},
            "rejected",
            SUPERVISOR,
            reason=True,
            text="Refuse the registration, with the grounds.",
        ),
        _t("issue_card", {"approved"}, "card_issued", SYSTEM, text="The signed talent card is issued."),
        _t("withdraw", {"draft", *ACTIVE}, "withdrawn", APPLICANT, text="The applicant withdraws before a decision."),
    ),
    events={
        "submit": "submitted",
        "verify": "verification_started",
        "claim": "claimed",
        "reassign": "reassigned",
        "hold": "held",
        "request_info": "information_requested",
        "answer": "answered",
        "rfi_timeout": "lapsed",
        "score": "scored",
        "review": "reviewed",
        "approve": "approved",
        "reject": "rejected",
        "issue_card": "card_issued",
        "withdraw": "withdrawn",
    },
)

PARTNER_EVENTS = {"submit", "approve", "reject", "issue_card", "withdraw"}
for _action, _past in TALENT_LIFECYCLE.events.items():
    define_event(
        TALENT_LIFECYCLE.event_name(_action),
        description=f"A talent application was {_past.replace('_', ' ')}",
        partner_visible=_action in PARTNER_EVENTS,
    )
TALENT_APPLICATION_CREATED = define_event("talent.application.created", description="A talent application was drafted")
TALENT_APPLICATION_ESCALATED = define_event(
    "talent.application.escalated", description="A talent application near its deadline was escalated to the supervisor"
)
COMMENT_ADDED = define_event("talent.comment.added", description="A comment was written on a talent application")
EVIDENCE_RELEASED = define_event(
    "talent.evidence.released",
    description="Evidence files of a dropped claim or a deleted document are to be deleted from storage",
)
