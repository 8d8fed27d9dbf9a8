"""Errors of the talent domain (problem+json through core.errors)."""

from core.errors import Conflict, NotFound, ValidationFailed


class RuleSetNotFound(NotFound):
    code, title = "rule-set-not-found", "No such talent rule set"


class InvalidRuleSet(ValidationFailed):
    code, title = "rule-set-invalid", "The rule set has errors"


class RuleSetAlreadyActive(Conflict):
    code, title = "rule-set-already-active", "This version is already the active one"
