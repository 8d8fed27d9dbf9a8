"""The credential lifecycle: active -> suspended -> active, active | suspended -> revoked, taken by supervisors.

One table per kind, identical but for the scope: a permit is acted on with `permits:process`, a talent card with
`talent:review`, and in both cases only by a supervisor of the issuing department (the department is matched in the
repository query, like every ownership rule). "Expired" is not a state: it follows from `valid_until`.
"""

from core.events import define_event
from core.workflow import Transition, Workflow

KINDS = ("permit", "talent_card")
STATES = ("active", "suspended", "revoked")
# The scope that lets staff of the issuing department see and act on a credential of each kind.
STAFF_SCOPE = {"permit": "permits:process", "talent_card": "talent:review"}
# The scope that shows a holder their own credentials of each kind (the one they applied with); `account`, which only
# the city's own apps hold, shows them all. An app allowed to file talent registrations sees no permit.
HOLDER_SCOPE = {"permit": "permits:apply", "talent_card": "talent:apply"}
HOLDER_ALL_KINDS = "account"
SUPERVISOR = frozenset({"supervisor"})
EVENTS = {"suspend": "suspended", "reinstate": "reinstated", "revoke": "revoked"}


def _lifecycle(scope: str) -> Workflow:
    who = {"scopes": frozenset({scope}), "roles": SUPERVISOR}
    return Workflow(
        name="credentials.credential",
        states=STATES,
        transitions=(
            Transition(
                "suspend",
                frozenset({"active"}),
                "suspended",
                **who,
                needs_reason=True,
                description="Stop it counting for now (verification answers `suspended`); it can be reinstated.",
            ),
            Transition(
                "reinstate",
                frozenset({"suspended"}),
                "active",
                **who,
                description="Lift a suspension.",
            ),
            Transition(
                "revoke",
                frozenset({"active", "suspended"}),
                "revoked",
                **who,
                needs_reason=True,
                description="Withdraw it for good (verification answers `revoked`).",
            ),
        ),
        events=EVENTS,
    )


LIFECYCLES = {kind: _lifecycle(scope) for kind, scope in STAFF_SCOPE.items()}
ACTIONS = LIFECYCLES["permit"].actions

ISSUED = define_event(
    "credentials.credential.issued", description="A permit or talent card was issued", partner_visible=True
)
for _action, _past in EVENTS.items():
    define_event(
        LIFECYCLES["permit"].event_name(_action), description=f"A credential was {_past}", partner_visible=True
    )
