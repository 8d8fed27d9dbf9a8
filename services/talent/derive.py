"""Derivations: from a person's verified claims to the one value a criterion or a direct-route condition scores.

Each derivation is compiled once per rule set into a closure over its filter. Every one of them grows (or stays)
when a verified claim is added or a verified value rises, except `latest` (a newer, lower salary is the latest) and
`age` (which has no direction); the engine's monotonicity rests on that. Pure: the assessment date is a parameter.
"""

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from operator import attrgetter
from typing import Any

from services.talent.rules import RuleFilter, Source

DAYS_PER_YEAR = 365.25
Claims = dict[str, list[Any]]  # verified claims by kind
Derivation = Callable[[Claims, date], Any]
# One `where` entry: the claims (of one kind) that pass it, in their order.
Step = Callable[[list[Any], date], list[Any]]


def derivation(source: Source, parameters: dict[str, float]) -> tuple[tuple[Any, ...], Derivation]:
    """A key (equal sources share one computation per assessment) and the function computing the value."""
    kind = source.claim
    steps = _filter(source)
    key = (kind, source.derive, source.field, repr(sorted(source.where.items())), source.relative_to)

    def matching(claims: Claims, today: date) -> list[Any]:
        # Read-only: without a filter this is the caller's own list.
        found = claims.get(kind, [])
        for step in steps:
            if not found:
                break
            found = step(found, today)
        return found

    if source.derive == "count":
        return key, lambda claims, today: len(matching(claims, today))
    if source.derive == "best_level":
        read = attrgetter(source.field or "level")

        def levels(claims: Claims, today: date) -> tuple[str, ...]:
            # An optional level (an employment's seniority) that a claim leaves out is no level at all.
            return tuple(sorted({level for c in matching(claims, today) if (level := read(c)) is not None}))

        return key, levels
    if source.derive in ("max", "latest"):
        divisor = parameters[source.relative_to] if source.relative_to else None
        pick = _latest_amount if source.derive == "latest" else _max_amount

        def amount(claims: Claims, today: date) -> float | int | None:
            value = pick(matching(claims, today))
            if value is None or divisor is None:
                return value
            return round(value / divisor, 4)

        return key, amount
    if source.derive in ("total_years", "total_months"):
        months = source.derive == "total_months"

        def employed(claims: Claims, today: date) -> float | int | None:
            found = matching(claims, today)
            if not found:
                return None
            days = _employed_days(found, today)
            return math.floor(days * 12 / DAYS_PER_YEAR) if months else round(days / DAYS_PER_YEAR, 2)

        return key, employed
    if source.derive == "age":
        return key, lambda claims, today: _age(matching(claims, today), today)
    raise AssertionError(f"unknown derivation {source.derive}")  # the Literal type rules it out


def _filter(source: Source) -> tuple[Step, ...]:
    """One step per `where` entry; a claim matches when it passes them all. Each step filters a whole list, so
    reading a field costs an attribute access, not a chain of calls per claim."""
    return tuple(_step(source.claim, name, wanted) for name, wanted in sorted(source.where.items()))


def _step(kind: str, name: str, wanted: Any) -> Step:
    if kind == "employment" and name == "current":
        test = _test(wanted)
        return lambda claims, today: [c for c in claims if test(_is_current(c, today))]
    if isinstance(wanted, RuleFilter):
        test = _test(wanted)
        return lambda claims, today: [c for c in claims if test(getattr(c, name))]
    if isinstance(wanted, list):
        one_of = frozenset(wanted)
        return lambda claims, today: [c for c in claims if getattr(c, name) in one_of]
    return lambda claims, today: [c for c in claims if getattr(c, name) == wanted]


def _is_current(claim: Any, today: date) -> bool:
    """An employment that has begun by `today` and has no end, or ends on or after it."""
    return claim.start <= today and (claim.end is None or claim.end >= today)


def _test(wanted: Any) -> Callable[[Any], bool]:
    if isinstance(wanted, RuleFilter):
        allowed = frozenset(wanted.in_) if wanted.in_ is not None else None
        refused = frozenset(wanted.not_in or ())
        low, high = wanted.min, wanted.max

        def test(value: Any) -> bool:
            # A claim that does not say (no country, no rank) is no evidence either way: it matches no test.
            if value is None or value in refused or (allowed is not None and value not in allowed):
                return False
            return (low is None or value >= low) and (high is None or value <= high)

        return test
    if isinstance(wanted, list):
        one_of = frozenset(wanted)
        return lambda value: value in one_of
    return lambda value: value == wanted


def _max_amount(claims: Sequence[Any]) -> int | None:
    amounts = [c.annual for c in claims if c.annual is not None]
    return max(amounts) if amounts else None


def _latest_amount(claims: Sequence[Any]) -> int | None:
    """The most recent year's annual amount (the highest, if that year has several)."""
    best = max(((c.year, c.annual) for c in claims if c.annual is not None), default=None)
    return best[1] if best else None


def _employed_days(claims: Iterable[Any], today: date) -> int:
    """Days in employment up to `today`; overlapping periods count once."""
    periods = sorted((c.start, min(c.end or today, today)) for c in claims if c.start < today)
    total, current_start, current_end = 0, None, None
    for start, end in periods:
        if current_end is None or start > current_end:
            if current_end is not None:
                total += (current_end - current_start).days
            current_start, current_end = start, end
        elif end > current_end:
            current_end = end
    if current_end is not None:
        total += (current_end - current_start).days
    return total


def _age(claims: Sequence[Any], today: date) -> int | None:
    """Full years at `today`; with several birth dates, the earliest (the engine never guesses in someone's favour)."""
    if not claims:
        return None
    born = min(c.date for c in claims)
    if born > today:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
