"""Fee lines from the pinned service's costs: which costs apply to this form, and which are waived for this applicant.

A cost applies unless its `applies_when` condition fails on the form (a number within [min, max), or one of the
listed values). A waiver applies when every part of its rule holds for the applicant: their audience, talent tier and
age. What is not known about the applicant (no verified birth date, no talent card) never grants a waiver.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ApplicantProfile:
    audiences: frozenset[str] = field(default_factory=lambda: frozenset({"citizen"}))
    talent_tier: str | None = None
    age: int | None = None


def asks_about(costs: list[dict[str, Any]]) -> frozenset[str]:
    """What the waivers of these costs need to know of the applicant ("age", "talent_tier"); nothing else is read."""
    rules = [waiver["rule"] for cost in costs for waiver in cost.get("waivers", [])]
    needs = set()
    if any(rule.get("min_age") is not None or rule.get("max_age") is not None for rule in rules):
        needs.add("age")
    if any(rule.get("talent_tiers") is not None for rule in rules):
        needs.add("talent_tier")
    return frozenset(needs)


def fee_lines(costs: list[dict[str, Any]], form: dict[str, Any], profile: ApplicantProfile) -> list[dict[str, Any]]:
    lines = []
    for cost in costs:
        if not _applies(cost.get("applies_when"), form):
            continue
        waiver = next((w for w in cost.get("waivers", []) if _waived(w["rule"], profile)), None)
        lines.append(
            {
                "code": cost["code"],
                "description": cost["description"],
                "amount": cost["amount"],
                "currency": cost.get("currency", "CNY"),
                "waived": waiver is not None,
                "waiver": waiver["code"] if waiver else None,
                "due": 0 if waiver else cost["amount"],
            }
        )
    return lines


def total(lines: list[dict[str, Any]]) -> int:
    return sum(line["due"] for line in lines)


def _applies(condition: dict[str, Any] | None, form: dict[str, Any]) -> bool:
    if not condition:
        return True
    value = form.get(condition["field"])
    if condition.get("values") is not None:
        return value in condition["values"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False  # not answered yet: the cost is not shown until the form says which one applies
    low, high = condition.get("min"), condition.get("max")
    return (low is None or value >= low) and (high is None or value < high)


def _waived(rule: dict[str, Any], profile: ApplicantProfile) -> bool:
    checks = []
    if rule.get("audiences") is not None:
        checks.append(bool(profile.audiences & set(rule["audiences"])))
    if rule.get("talent_tiers") is not None:
        checks.append(profile.talent_tier in rule["talent_tiers"])
    if rule.get("min_age") is not None:
        checks.append(profile.age is not None and profile.age >= rule["min_age"])
    if rule.get("max_age") is not None:
        checks.append(profile.age is not None and profile.age <= rule["max_age"])
    return bool(checks) and all(checks)
