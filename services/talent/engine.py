"""The talent points engine: pure and deterministic. No I/O and no clock; the assessment date is a parameter.

`compile_rule_set()` turns a checked rule-set document (services/talent/rules.py) into closures once; `assess()` runs
them over a person's claims:

1. Only verified claims are read. Each criterion filters them (`where`), derives one value (the best level, a count,
   the latest salary, years of employment, the age at the assessment date) and scores it: the band the value falls
   in, or `per_unit` points per whole unit, then the criterion's `cap`.
2. Bonus criteria are scored the same way; their total is capped by the bonus cap, handed out in rule-set order, so
   the breakdown's points always add up to the score exactly.
3. The score reaches the best tier whose threshold it meets. A direct route whose conditions all hold gives its tier
   without points; the best such tier wins when it is better than the points tier (route `direct:<code>`).

The result depends on the verified claims (as a set: their order does not matter) and the rule set only. Every
derivation only grows when a verified claim is added or a verified value rises (the `latest` salary excepted, by its
nature; `age` has no direction), so with bands whose points grow with the value, more verified points never lower
the tier; `best_level` picks the level that scores most, not the highest one, so it never falls either.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from core.http.language import BOTH, LANGUAGES, Localized, localize
from services.talent.claims import LEVEL_RANK, LEVEL_SCALE_OF, ClaimBase
from services.talent.derive import Claims, Derivation, derivation
from services.talent.rules import (
    RuleBand,
    RuleCondition,
    RuleCriterion,
    RuleProblem,
    RuleSetDocument,
    Source,
    consistency,
    is_level_source,
)

Value = int | float | str | None


class RuleSetError(ValueError):
    """The document has problems of meaning; a stored rule set never does (it was checked when it was written)."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.detail}" for p in problems))
        self.problems = problems


# -- what an assessment answers --------------------------------------------------------------------------------------


class RuleSetRef(BaseModel):
    code: str
    version: int


class BandMatch(BaseModel):
    # Frozen: a compiled rule set hands the same instance to every assessment that matches the band.
    model_config = ConfigDict(frozen=True)

    index: int | None = Field(description="the band's position in the criterion's bands; null for per_unit scoring")
    label: str = Field(examples=["2 ≤ value < 5", "doctorate", "3 × 5"])


class BreakdownLine(BaseModel):
    # Frozen: equal lines are shared between assessments (see `_Scored.line`).
    model_config = ConfigDict(frozen=True)

    code: str
    name: Localized
    group: Literal["criterion", "bonus"]
    value: int | float | str | None = Field(description="what the claims gave: a level, a count, years, an amount...")
    band: BandMatch | None = Field(description="the band that matched; null when none did")
    earned: int = Field(description="points of the band, before any cap")
    points: int = Field(description="points counted in the score (after the criterion's and the bonus cap)")


class Assessment(BaseModel):
    rule_set: RuleSetRef
    as_of: date = Field(description="the date ages and open employment periods were counted to")
    score: int = Field(description="the sum of the breakdown's points")
    tier: str | None = Field(description="the tier reached (by points or by a direct route); null if none")
    route: str = Field(description="points, or direct:<route code>", examples=["points", "direct:national_award"])
    points_tier: str | None = Field(description="the tier the score alone reaches")
    direct_routes: list[str] = Field(description="codes of the direct routes the claims satisfy")
    breakdown: list[BreakdownLine]


# -- compiled form ---------------------------------------------------------------------------------------------------


# Lines remembered per criterion; a criterion whose value is continuous (years, a salary ratio) starts over when full.
LINES_PER_CRITERION = 512


@dataclass(frozen=True, slots=True)
class _Line:
    model: BreakdownLine
    json: dict[str, bytes]  # the model's JSON by response language (see core.http.language), made once with it
    points: int  # the model's, read without going through it


@dataclass(frozen=True, slots=True)
class _Scored:
    code: str
    name: dict[str, str]
    group: str
    slot: int  # where its value is in the assessment's list of derived values
    score: Callable[[Any], tuple[Value, BandMatch | None, int]]
    cap: int | None
    lines: dict[tuple[Any, ...], _Line] = field(default_factory=dict, compare=False)

    def line(self, derived: Any, left: int | None = None) -> _Line:
        """The line for this derived value, earning at most `left` points (what the bonus cap leaves) when given.

        A line is a function of those two, so each distinct one is built (and serialized) once: validating and
        serializing thirty lines for every assessment costs more than the rest of the engine, and most people share
        most lines (no claim of the kind, nothing earned). The type is part of the key, so 1 and 1.0 stay apart."""
        key = (derived.__class__, derived, left)
        found = self.lines.get(key)
        if found is None:
            value, band, earned = self.score(derived)
            points = earned if self.cap is None else min(earned, self.cap)
            if left is not None:
                points = min(points, left)
            if len(self.lines) >= LINES_PER_CRITERION:
                self.lines.clear()
            model = BreakdownLine.model_validate(
                {
                    "code": self.code,
                    "name": self.name,
                    "group": self.group,
                    "value": value,
                    "band": band,
                    "earned": earned,
                    "points": points,
                }
            )
            found = self.lines[key] = _Line(model, _line_json(model), points)
        return found


def _line_json(model: BreakdownLine) -> dict[str, bytes]:
    serialize = BreakdownLine.__pydantic_serializer__.to_json
    return {language: serialize(localize(model, language)) for language in (BOTH, *LANGUAGES)}


@dataclass(frozen=True, slots=True)
class _Route:
    code: str
    tier: str
    conditions: tuple[tuple[int, Callable[[Any], bool]], ...]  # (slot of the value, test)


@dataclass(frozen=True)
class CompiledRuleSet:
    code: str
    version: int
    document: RuleSetDocument
    derivations: tuple[Derivation, ...]  # one per distinct source: equal sources share a computation
    criteria: tuple[_Scored, ...]
    bonus: tuple[_Scored, ...]
    bonus_cap: int | None
    thresholds: tuple[tuple[str, int], ...]
    routes: tuple[_Route, ...]
    ref: dict[str, Any]  # the answer's rule_set: code and version

    def __repr__(self) -> str:
        return f"<CompiledRuleSet {self.code} v{self.version}>"


def compile_rule_set(document: RuleSetDocument, *, version: int) -> CompiledRuleSet:
    """Check the document and turn it into closures, once per (code, version); raises RuleSetError."""
    problems = consistency(document)
    if problems:
        raise RuleSetError(problems)
    parameters = document.parameters
    slots: dict[tuple[Any, ...], int] = {}
    derivations: list[Derivation] = []

    def slot(source: Source) -> int:
        key, derive = derivation(source, parameters)
        if key not in slots:
            slots[key] = len(derivations)
            derivations.append(derive)
        return slots[key]

    criteria = tuple(_criterion(c, "criterion", slot(c)) for c in document.criteria)
    bonus = tuple(_criterion(c, "bonus", slot(c)) for c in document.bonus.criteria)
    routes = tuple(
        _Route(code=route.code, tier=route.tier, conditions=tuple((slot(c), _test(c)) for c in route.when))
        for route in document.direct_routes
    )
    return CompiledRuleSet(
        code=document.code,
        version=version,
        document=document,
        derivations=tuple(derivations),
        criteria=criteria,
        bonus=bonus,
        bonus_cap=document.bonus.cap,
        thresholds=tuple((t.tier, t.min) for t in document.thresholds),
        routes=routes,
        ref={"code": document.code, "version": version},
    )


def _criterion(criterion: RuleCriterion, group: str, slot: int) -> _Scored:
    if is_level_source(criterion):
        score = _level_scorer(criterion, criterion.bands or [])
    elif criterion.per_unit is not None:
        score = _unit_scorer(criterion.per_unit)
    else:
        score = _band_scorer(criterion.bands or [])
    return _Scored(
        code=criterion.code,
        name={"zh-CN": criterion.name.zh, "en": criterion.name.en},
        group=group,
        slot=slot,
        score=score,
        cap=criterion.cap,
    )


# -- scoring: one value -> a band and points -------------------------------------------------------------------------


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _band_label(band: RuleBand) -> str:
    if band.min is not None and band.below is not None:
        return f"{_number(band.min)} ≤ value < {_number(band.below)}"
    if band.min is not None:
        return f"value ≥ {_number(band.min)}"
    return f"value < {_number(band.below)}"  # type: ignore[arg-type]


def _band_scorer(bands: list[RuleBand]) -> Callable[[Any], tuple[Value, BandMatch | None, int]]:
    table = [
        (
            float("-inf") if band.min is None else band.min,
            float("inf") if band.below is None else band.below,
            BandMatch(index=index, label=_band_label(band)),
            band.points,
        )
        for index, band in enumerate(bands)
    ]

    def score(value: Any) -> tuple[Value, BandMatch | None, int]:
        if value is None:
            return None, None, 0
        for low, high, match, points in table:
            if low <= value < high:
                return value, match, points
        return value, None, 0

    return score


def _unit_scorer(per_unit: int) -> Callable[[Any], tuple[Value, BandMatch | None, int]]:
    matches: dict[int, BandMatch] = {}

    def score(value: Any) -> tuple[Value, BandMatch | None, int]:
        if value is None:
            return None, None, 0
        units = max(0, math.floor(value))
        match = matches.get(units)
        if match is None:
            if len(matches) >= LINES_PER_CRITERION:
                matches.clear()
            match = matches[units] = BandMatch(index=None, label=f"{units} × {per_unit}")
        return value, match, units * per_unit

    return score


def _level_scorer(source: Source, bands: list[RuleBand]) -> Callable[[Any], tuple[Value, BandMatch | None, int]]:
    ranks = LEVEL_RANK.get((source.claim, source.field or ""), {})
    points_of = {
        level: (band.points, BandMatch(index=index, label=level))
        for index, band in enumerate(bands)
        for level in band.levels or ()
    }

    def score(levels: Any) -> tuple[Value, BandMatch | None, int]:
        if not levels:
            return None, None, 0
        # The level that scores most (then the higher-ranked one, then by name, so the choice never depends on order).
        best = max(levels, key=lambda level: (points_of.get(level, (-1, None))[0], ranks.get(level, -1), level))
        if best not in points_of:
            return best, None, 0
        points, match = points_of[best]
        return best, match, points

    return score


def _test(condition: RuleCondition) -> Callable[[Any], bool]:
    if is_level_source(condition):
        scale = LEVEL_SCALE_OF.get((condition.claim, condition.field or ""), {})
        ranks = LEVEL_RANK.get((condition.claim, condition.field or ""), {})
        target_scale = scale.get(condition.at_least or "")
        floor = ranks.get(condition.at_least or "", 0)
        return lambda levels: any(scale.get(level) is target_scale and ranks[level] >= floor for level in levels)
    low = float("-inf") if condition.min is None else condition.min
    high = float("inf") if condition.below is None else condition.below
    return lambda value: value is not None and low <= value < high


# -- assessing -------------------------------------------------------------------------------------------------------


def verified_by_kind(claims: Iterable[ClaimBase]) -> Claims:
    """The verified claims, by kind: all the engine ever reads."""
    grouped: Claims = {}
    for claim in claims:
        if claim.verified:
            grouped.setdefault(claim.kind, []).append(claim)  # type: ignore[attr-defined]
    return grouped


@dataclass(frozen=True, slots=True)
class _Outcome:
    """An assessment's fields but its breakdown, in the Assessment's order, and the breakdown's lines."""

    head: dict[str, Any]
    lines: list[_Line]


def assess(rule_set: CompiledRuleSet, claims: Iterable[ClaimBase], *, today: date) -> Assessment:
    """The score, tier, route and per-criterion breakdown the verified claims earn under this rule set on `today`."""
    outcome = _assess(rule_set, claims, today)
    # The lines are models already, so this validates the top level only.
    return Assessment.model_validate({**outcome.head, "breakdown": [line.model for line in outcome.lines]})


def assess_json(rule_set: CompiledRuleSet, claims: Iterable[ClaimBase], *, today: date, language: str = BOTH) -> bytes:
    """`localize(assess(...), language).model_dump_json()`, byte for byte, in a fraction of the time: no Assessment
    is built, and the breakdown is joined from each line's JSON in that language, made when the line was (the
    what-if's answer is mostly its thirty lines). A property test holds the two to the same bytes."""
    outcome = _assess(rule_set, claims, today)
    head = to_json(outcome.head)
    lines = b",".join(line.json[language] for line in outcome.lines)
    return b"".join((head[:-1], b',"breakdown":[', lines, b"]}"))


def _assess(rule_set: CompiledRuleSet, claims: Iterable[ClaimBase], today: date) -> _Outcome:
    verified = verified_by_kind(claims)
    values = [derive(verified, today) for derive in rule_set.derivations]

    lines: list[_Line] = []
    score = 0
    for item in rule_set.criteria:
        line = item.line(values[item.slot])
        score += line.points
        lines.append(line)
    remaining = rule_set.bonus_cap  # handed out in rule-set order
    for item in rule_set.bonus:
        line = item.line(values[item.slot], remaining)
        if remaining is not None:
            remaining -= line.points
        score += line.points
        lines.append(line)

    points_tier = next((tier for tier, minimum in rule_set.thresholds if score >= minimum), None)
    matched = [route for route in rule_set.routes if all(test(values[slot]) for slot, test in route.conditions)]
    tier, route_name = points_tier, "points"
    if matched:
        rank = {name: position for position, (name, _) in enumerate(rule_set.thresholds)}
        best = min(matched, key=lambda route: rank[route.tier])  # the first route of the best tier
        if points_tier is None or rank[best.tier] < rank[points_tier]:
            tier, route_name = best.tier, f"direct:{best.code}"
    head = {
        "rule_set": rule_set.ref,
        "as_of": today,
        "score": score,
        "tier": tier,
        "route": route_name,
        "points_tier": points_tier,
        "direct_routes": [route.code for route in matched],
    }
    return _Outcome(head, lines)
