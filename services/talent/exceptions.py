"""Errors of the talent domain (problem+json through core.errors)."""

from core.errors import Conflict, NotFound, ValidationFailed


class RuleSetNotFound(NotFound):
    code, title = "rule-set-not-found", "No such talent rule set"


class InvalidRuleSet(ValidationFailed):
    code, title = "rule-set-invalid", "The rule set has errors"


class RuleSetAlreadyActive(Conflict):
    code, title = "rule-set-already-active", "This version is already the active one"


class ApplicationNotFound(NotFound):
    code, title = "talent-application-not-found", "No such talent application"


class ClaimNotFound(NotFound):
    code, title = "claim-not-found", "No such claim on this application"


class EvidenceNotFound(NotFound):
    code, title = "evidence-not-found", "No such evidence on this application"


class NotDeclarable(Conflict):
    code, title = "claims-not-changeable", "Claims and evidence cannot change now"


class NotReady(Conflict):
    code, title = "talent-action-refused", "The application is not ready for this action"


class CardNotFound(NotFound):
    code, title = "talent-card-not-found", "No such talent card"


class OpenApplicationExists(Conflict):
    code, title = "talent-application-open", "This person already has an open talent application"
