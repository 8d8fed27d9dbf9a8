"""The permit application lifecycle (DESIGN 4), one table: which action moves which state where, and who takes it.

    draft -> submitted -> screening -> under_review <-> awaiting_applicant -> pending_payment -> approved -> issued
    exits: rejected, withdrawn
    a renewal the department has not decided when the renewed permit expires: -> approved (deemed granted)

`actor` says whose action it is: "applicant" (the citizen, or the partner system that applies for them), "officer"
(any officer or supervisor of the service's department; the assignee for the review steps), "supervisor" (the
department's supervisor) or "system" (the worker). Guards that depend on the data (documents, fees, the answer) live
in service.py beside the effects; the table is what `allowed_actions`, the OpenAPI enum and the event names come from.
"""

from core.events import define_event
from core.workflow import Transition, Workflow

ACTIVE = frozenset({"submitted", "screening", "under_review", "awaiting_applicant", "pending_payment"})
# Sent and undecided, and not waiting for the applicant's answer: where the law may grant a renewal the department
# has not decided (unpaid fees, the applicant's to pay, are the guard's to check).
UNDECIDED = frozenset({"submitted", "screening", "under_review", "pending_payment"})
DECIDED = frozenset({"approved", "issued", "rejected"})
STAFF = frozenset({"permits:process"})
APPLICANT, OFFICER, SUPERVISOR, SYSTEM = "applicant", "officer", "supervisor", "system"


def _t(
    action: str, sources: set[str], target: str | None, actor: str, *, reason: bool = False, text: str
) -> Transition:
    roles = {OFFICER: frozenset({"officer", "supervisor"}), SUPERVISOR: frozenset({"supervisor"})}.get(
        actor, frozenset()
    )
    scopes = STAFF if actor in (OFFICER, SUPERVISOR) else frozenset()
    return Transition(
        action,
        frozenset(sources),
        target,
        scopes=scopes,
        roles=roles,
        actor=actor,
        needs_reason=reason,
        description=text,
    )


APPLICATION_LIFECYCLE = Workflow(
    name="permits.application",
    states=(
        "draft",
        "submitted",
        "screening",
        "under_review",
        "awaiting_applicant",
        "pending_payment",
        "approved",
        "issued",
        "rejected",
        "withdrawn",
    ),
    transitions=(
        _t(
            "submit",
            {"draft"},
            "submitted",
            APPLICANT,
            text="Send the application: the form and every required document.",
        ),
        _t("screen", {"submitted"}, "screening", SYSTEM, text="Completeness check passed; waits for an officer."),
        _t("claim", {"screening"}, "under_review", OFFICER, text="Take the application and start the review."),
        _t(
            "reassign",
            {"screening", "under_review", "awaiting_applicant", "pending_payment"},
            None,
            SUPERVISOR,
            text="Give the application to another officer of the department (body: assignee_id).",
        ),
        _t(
            "request_info",
            {"under_review"},
            "awaiting_applicant",
            OFFICER,
            reason=True,
            text="Ask the applicant for information or documents (reason: the question); pauses the SLA clock.",
        ),
        _t(
            "answer",
            {"awaiting_applicant"},
            "under_review",
            APPLICANT,
            reason=True,
            text="Answer the request for information (reason: the answer); the SLA clock runs again.",
        ),
        _t(
            "rfi_timeout",
            {"awaiting_applicant"},
            "withdrawn",
            SYSTEM,
            text="The request for information was not answered in time: the application lapses.",
        ),
        _t(
            "pass",
            {"under_review"},
            "pending_payment",
            OFFICER,
            text="The review found everything in order (every required document accepted); fees fall due.",
        ),
        _t(
            "propose_rejection",
            {"under_review"},
            None,
            OFFICER,
            reason=True,
            text="Recommend rejection to the supervisor, with the grounds.",
        ),
        _t("approve", {"pending_payment"}, "approved", SUPERVISOR, text="Grant the permit (fees paid or none due)."),
        _t(
            "reject",
            {"screening", "under_review", "awaiting_applicant", "pending_payment"},
            "rejected",
            SUPERVISOR,
            reason=True,
            text="Refuse the application, with the grounds (paid fees are refunded).",
        ),
        _t(
            "deem_granted",
            UNDECIDED,
            "approved",
            SYSTEM,
            text=(
                "A renewal of a permit on its terms, sent at least 30 days before the permit expired and not decided "
                "by then, is granted by law (Administrative Licensing Law art. 50)."
            ),
        ),
        _t("issue", {"approved"}, "issued", SYSTEM, text="The signed permit is issued."),
        _t(
            "withdraw",
            {"draft", *ACTIVE},
            "withdrawn",
            APPLICANT,
            text="The applicant withdraws before a decision (paid fees are refunded).",
        ),
    ),
    events={
        "submit": "submitted",
        "screen": "screened",
        "claim": "claimed",
        "reassign": "reassigned",
        "request_info": "information_requested",
        "answer": "answered",
        "rfi_timeout": "lapsed",
        "pass": "passed",
        "propose_rejection": "rejection_proposed",
        "approve": "approved",
        "reject": "rejected",
        "deem_granted": "deemed_granted",
        "issue": "issued",
        "withdraw": "withdrawn",
    },
)

PARTNER_EVENTS = {"submit", "approve", "reject", "deem_granted", "issue", "withdraw"}
for _action, _past in APPLICATION_LIFECYCLE.events.items():
    define_event(
        APPLICATION_LIFECYCLE.event_name(_action),
        description=f"A permit application was {_past.replace('_', ' ')}",
        partner_visible=_action in PARTNER_EVENTS,
    )
APPLICATION_CREATED = define_event("permits.application.created", description="A permit application was drafted")
APPLICATION_PAID = define_event("permits.application.paid", description="A permit application's fees were paid")
APPLICATION_ESCALATED = define_event(
    "permits.application.escalated", description="An application near its deadline was escalated to the supervisor"
)
COMMENT_ADDED = define_event("permits.comment.added", description="A comment was written on a permit application")
