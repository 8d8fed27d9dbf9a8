"""A talent rule set as data: the JSON document an administrator writes, its shape (pydantic) and its meaning checks.

    {
      "code": "talent-island",
      "name": {"zh-CN": "...", "en": "..."},
      "parameters": {"local_average_salary": 96000},
      "criteria": [
        {"code": "education", "name": {...}, "claim": "education", "derive": "best_level", "field": "level",
         "bands": [{"levels": ["doctorate"], "points": 30}, {"levels": ["master"], "points": 20}]},
        {"code": "salary", "name": {...}, "claim": "salary", "derive": "latest", "field": "annual_amount",
         "relative_to": "local_average_salary",
         "bands": [{"min": 2, "below": 4, "points": 10}, {"min": 4, "points": 20}]},
        {"code": "inventions", "name": {...}, "claim": "patent", "derive": "count",
         "where": {"type": "invention", "granted": true}, "per_unit": 5, "cap": 15}
      ],
      "bonus": {"cap": 15, "criteria": [...same shape...]},
      "thresholds": [{"tier": "A", "min": 85}, {"tier": "B", "min": 60}, {"tier": "C", "min": 40}],
      "direct_routes": [
        {"code": "national_award", "name": {...}, "tier": "A",
         "when": [{"claim": "award", "derive": "best_level", "field": "level", "at_least": "national"}]}
      ]
    }

Derivations (`derive`): `best_level` (the level among the matching claims that earns the most points), `count`,
`max` and `latest` (a salary's annual amount: the highest, or the most recent year's), `total_years` and
`total_months` (employment, overlapping periods counted once, open periods up to the assessment date), `age` (from
the birth date at the assessment date). `where` filters the claims first: a value (equal), a list (one of), or
`{"in": [...], "not_in": [...], "min": n, "max": n}` (bounds inclusive); a claim without the field matches no filter
on it. `relative_to` divides a salary by a parameter (6 = six times the local average). A numeric band matches
`min <= value < below` (either bound may be left out); a level band lists its levels. Points are whole numbers.

Pydantic checks the shape; `check()` checks the meaning (codes unique, bands not overlapping, thresholds descending
and within the most points the criteria and the bonus can give, each criterion reading a field its claim kind has)
and returns every problem with the path of its field. A scheme that issues Talent Island cards is held to more: its
tiers are the card's (`card_tiers`, the ones the catalogue's benefits and fee waivers name), and none is had for
nothing (a threshold of 0 would give a card to anyone).
"""

import math
from collections.abc import Collection
from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.talent.claims import FILTER_FIELDS, LEVEL_RANK, LEVEL_SCALE_OF, NUMBER_FIELDS

ClaimKind = Literal["education", "employment", "salary", "award", "patent", "publication", "language", "birth_date"]
Derive = Literal["best_level", "count", "max", "latest", "total_years", "total_months", "age"]
RuleSetCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}$", description="e.g. talent-island")]
ItemCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Tier = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,15}$", description="e.g. A, B, C, PASS")]
ParameterName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Number = Annotated[int | float, Field(ge=-1_000_000_000, le=1_000_000_000)]
Points = Annotated[int, Field(ge=0, le=1000)]
FilterScalar = Annotated[str, Field(max_length=200)] | bool | Annotated[int, Field(ge=-1_000_000, le=1_000_000)]

LEVEL_DERIVATIONS = frozenset({"best_level"})
# What each derivation reads: the claim kinds it applies to, and whether it needs a field (and of which sort).
DERIVATIONS: dict[str, tuple[frozenset[str] | None, str | None]] = {
    "best_level": (None, "level"),
    "count": (None, None),
    "max": (frozenset({"salary"}), "number"),
    "latest": (frozenset({"salary"}), "number"),
    "total_years": (frozenset({"employment"}), None),
    "total_months": (frozenset({"employment"}), None),
    "age": (frozenset({"birth_date"}), None),
}
# Values a filter on an enumerated field may name (a typo would otherwise silently match nothing).
ENUMERATED: dict[tuple[str, str], frozenset[str]] = {
    **{key: frozenset(ranks) for key, ranks in LEVEL_RANK.items()},
    ("patent", "type"): frozenset({"invention", "utility", "design"}),
    ("publication", "type"): frozenset({"journal", "conference", "book", "chapter"}),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class RuleText(Strict):
    zh: str = Field(alias="zh-CN", min_length=1, max_length=300)
    en: str = Field(min_length=1, max_length=300)


class RuleDescription(Strict):
    zh: str = Field(alias="zh-CN", min_length=1, max_length=2000)
    en: str = Field(min_length=1, max_length=2000)


class RuleFilter(Strict):
    in_: list[FilterScalar] | None = Field(default=None, alias="in", min_length=1, max_length=50)
    not_in: list[FilterScalar] | None = Field(default=None, min_length=1, max_length=50)
    min: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    max: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)


FilterValue = FilterScalar | Annotated[list[FilterScalar], Field(min_length=1, max_length=50)] | RuleFilter


class Source(Strict):
    """Which claims are read and how they become one value."""

    claim: ClaimKind
    derive: Derive
    field: str | None = Field(default=None, max_length=40, description="for best_level, max and latest")
    where: dict[str, FilterValue] = Field(default_factory=dict, max_length=10)
    relative_to: ParameterName | None = Field(default=None, description="divide a salary by this parameter")


class RuleBand(Strict):
    min: Number | None = Field(default=None, description="inclusive")
    below: Number | None = Field(default=None, description="exclusive")
    levels: list[Annotated[str, Field(max_length=20)]] | None = Field(default=None, min_length=1, max_length=20)
    points: Points


class RuleCriterion(Source):
    code: ItemCode
    name: RuleText
    description: RuleDescription | None = None
    bands: list[RuleBand] | None = Field(default=None, min_length=1, max_length=50)
    per_unit: int | None = Field(default=None, ge=1, le=1000, description="points per whole unit of the value")
    cap: int | None = Field(default=None, ge=0, le=10_000, description="at most this many points")


class RuleCondition(Source):
    min: Number | None = Field(default=None, description="the value is at least this")
    below: Number | None = Field(default=None, description="the value is less than this")
    at_least: str | None = Field(default=None, max_length=20, description="a matching claim has this level or higher")


class DirectRoute(Strict):
    code: ItemCode
    name: RuleText
    tier: Tier
    when: list[RuleCondition] = Field(min_length=1, max_length=5, description="all must hold")


class RuleThreshold(Strict):
    tier: Tier
    min: int = Field(ge=0, le=100_000, description="the score from which this tier is reached")


class RuleBonus(Strict):
    cap: int | None = Field(default=None, ge=0, le=10_000, description="at most this many bonus points in total")
    criteria: list[RuleCriterion] = Field(default_factory=list, max_length=50)


class RuleSetDocument(Strict):
    code: RuleSetCode
    name: RuleText
    description: RuleDescription | None = None
    parameters: dict[ParameterName, Annotated[int | float, Field(gt=0, le=1_000_000_000)]] = Field(
        default_factory=dict, max_length=20
    )
    criteria: list[RuleCriterion] = Field(min_length=1, max_length=100)
    bonus: RuleBonus = Field(default_factory=RuleBonus)
    thresholds: list[RuleThreshold] = Field(min_length=1, max_length=10, description="best tier first")
    direct_routes: list[DirectRoute] = Field(default_factory=list, max_length=50)

    def stored(self) -> dict:
        """The document as stored and returned: aliases, and nothing that only repeats a default (no nulls, no
        empty filters), so a document reads back as it was written."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


# -- meaning --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleProblem:
    field: str
    detail: str
    code: str = "invalid"


def is_level_source(source: Source) -> bool:
    return source.derive in LEVEL_DERIVATIONS


def check(document: RuleSetDocument, *, card_tiers: Collection[str] | None = None) -> list[RuleProblem]:
    """Every problem of meaning in a well-shaped document, with the dotted path of the field at fault: what a new
    version must satisfy to be written. With `card_tiers`, the document is a scheme that issues talent cards of
    those tiers."""
    problems = consistency(document) + _check_reachable(document)
    if card_tiers is not None:
        problems += _check_card_tiers(document, card_tiers)
    return problems


def consistency(document: RuleSetDocument) -> list[RuleProblem]:
    """The problems that would make a document score wrongly or not at all: what compiling a stored version checks.
    (The rules `check` adds for new versions since, like reachable thresholds, do not stop an older one scoring.)"""
    problems: list[RuleProblem] = []
    seen: dict[str, str] = {}
    groups = (("criteria", document.criteria), ("bonus.criteria", document.bonus.criteria))
    for prefix, criteria in groups:
        for index, criterion in enumerate(criteria):
            path = f"{prefix}.{index}"
            if criterion.code in seen:
                problems.append(
                    RuleProblem(f"{path}.code", f"the code is already used by {seen[criterion.code]}", "duplicate")
                )
            seen.setdefault(criterion.code, path)
            problems += _check_source(criterion, path, document)
            problems += _check_scoring(criterion, path)
    tiers: dict[str, int] = {}
    for index, threshold in enumerate(document.thresholds):
        path = f"thresholds.{index}"
        if threshold.tier in tiers:
            problems.append(RuleProblem(f"{path}.tier", "the tier is listed twice", "duplicate"))
        tiers.setdefault(threshold.tier, index)
        if index and threshold.min >= document.thresholds[index - 1].min:
            problems.append(
                RuleProblem(
                    f"{path}.min",
                    f"thresholds go from the best tier down: {threshold.min} must be below "
                    f"{document.thresholds[index - 1].min} ({document.thresholds[index - 1].tier})",
                    "not_descending",
                )
            )
    routes: set[str] = set()
    for index, route in enumerate(document.direct_routes):
        path = f"direct_routes.{index}"
        if route.code in routes:
            problems.append(RuleProblem(f"{path}.code", "the code is already used by another route", "duplicate"))
        routes.add(route.code)
        if route.tier not in tiers:
            problems.append(RuleProblem(f"{path}.tier", "no threshold defines this tier", "unknown_tier"))
        for position, condition in enumerate(route.when):
            problems += _check_source(condition, f"{path}.when.{position}", document)
            problems += _check_condition(condition, f"{path}.when.{position}")
    return problems


def max_score(document: RuleSetDocument) -> float:
    """The most points the criteria and the bonus can give together (infinite when a per_unit criterion has no cap).
    A number band is taken as reachable: what values a derivation can give is the claims' business, not this one's."""
    bonus = sum(_most(criterion) for criterion in document.bonus.criteria)
    if document.bonus.cap is not None:
        bonus = min(bonus, document.bonus.cap)
    return sum(_most(criterion) for criterion in document.criteria) + bonus


def _most(criterion: RuleCriterion) -> float:
    most = math.inf if criterion.per_unit is not None else max((b.points for b in criterion.bands or ()), default=0)
    return most if criterion.cap is None else min(most, criterion.cap)


def _check_reachable(document: RuleSetDocument) -> list[RuleProblem]:
    """A threshold above the most points there are names a tier nobody reaches by points (a typo, or a tier meant
    for direct routes only, which a threshold cannot say)."""
    most = max_score(document)
    return [
        RuleProblem(
            f"thresholds.{index}.min",
            f"unreachable: the criteria and the bonus give at most {int(most)} points",
            "unreachable",
        )
        for index, threshold in enumerate(document.thresholds)
        if threshold.min > most
    ]


def _check_card_tiers(document: RuleSetDocument, card_tiers: Collection[str]) -> list[RuleProblem]:
    """A talent card's tier must be one the catalogue's benefits and fee waivers can name, and earned: from 0 points
    anyone would hold a card, with no verified claim at all."""
    problems = []
    for index, threshold in enumerate(document.thresholds):
        if threshold.tier not in card_tiers:
            problems.append(
                RuleProblem(
                    f"thresholds.{index}.tier",
                    f"a talent card's tier is one of {', '.join(card_tiers)}",
                    "not_a_card_tier",
                )
            )
        if threshold.min <= 0:
            problems.append(
                RuleProblem(f"thresholds.{index}.min", "a talent card needs points: at least 1", "free_tier")
            )
    return problems


def _check_source(source: Source, path: str, document: RuleSetDocument) -> list[RuleProblem]:
    problems = []
    kinds, needs = DERIVATIONS[source.derive]
    if kinds is not None and source.claim not in kinds:
        allowed = ", ".join(sorted(kinds))
        problems.append(RuleProblem(f"{path}.derive", f"{source.derive} reads {allowed} claims only", "not_applicable"))
    if needs is None and source.field is not None:
        problems.append(RuleProblem(f"{path}.field", f"{source.derive} reads no field", "not_applicable"))
    elif needs == "level" and (source.claim, source.field) not in LEVEL_RANK:
        fields = sorted(field for kind, field in LEVEL_RANK if kind == source.claim)
        hint = f"one of: {', '.join(fields)}" if fields else f"{source.claim} claims have no level field"
        problems.append(RuleProblem(f"{path}.field", f"best_level needs a level field ({hint})", "unknown_field"))
    elif needs == "number" and source.field not in NUMBER_FIELDS.get(source.claim, ()):
        fields = ", ".join(sorted(NUMBER_FIELDS.get(source.claim, ()))) or "none"
        problems.append(
            RuleProblem(f"{path}.field", f"{source.derive} needs a number field ({fields})", "unknown_field")
        )
    if source.relative_to is not None:
        if needs != "number":
            problems.append(RuleProblem(f"{path}.relative_to", "only an amount can be relative", "not_applicable"))
        elif source.relative_to not in document.parameters:
            problems.append(RuleProblem(f"{path}.relative_to", "no such parameter", "unknown_parameter"))
    fields = FILTER_FIELDS[source.claim]
    for name, value in source.where.items():
        at = f"{path}.where.{name}"
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            problems.append(
                RuleProblem(at, f"{source.claim} claims cannot be filtered by it (fields: {known})", "unknown_field")
            )
            continue
        problems += _check_filter(source.claim, name, fields[name], value, at)
    return problems


def _check_filter(kind: str, name: str, expected: type, value: object, path: str) -> list[RuleProblem]:
    if isinstance(value, RuleFilter):
        problems = []
        if value.in_ is None and value.not_in is None and value.min is None and value.max is None:
            problems.append(RuleProblem(path, "give in, not_in, min or max", "empty"))
        if (value.min is not None or value.max is not None) and expected is not int:
            problems.append(RuleProblem(path, "min and max apply to whole-number fields only", "not_applicable"))
        if value.min is not None and value.max is not None and value.min > value.max:
            problems.append(RuleProblem(f"{path}.min", "min is above max", "empty_range"))
        for key, values in (("in", value.in_), ("not_in", value.not_in)):
            for position, item in enumerate(values or ()):
                problems += _check_scalar(kind, name, expected, item, f"{path}.{key}.{position}")
        return problems
    if isinstance(value, list):
        return [
            p
            for position, item in enumerate(value)
            for p in _check_scalar(kind, name, expected, item, f"{path}.{position}")
        ]
    return _check_scalar(kind, name, expected, value, path)


def _check_scalar(kind: str, name: str, expected: type, value: object, path: str) -> list[RuleProblem]:
    # bool is an int in Python: compare the exact types.
    if type(value) is not expected:
        return [RuleProblem(path, f"{name} is a {expected.__name__} field", "wrong_type")]
    allowed = ENUMERATED.get((kind, name))
    if allowed is not None and value not in allowed:
        return [RuleProblem(path, f"not one of: {', '.join(sorted(allowed))}", "unknown_value")]
    return []


def _check_scoring(criterion: RuleCriterion, path: str) -> list[RuleProblem]:
    if (criterion.bands is None) == (criterion.per_unit is None):
        return [RuleProblem(f"{path}.bands", "give either bands or per_unit", "bands_or_per_unit")]
    if criterion.per_unit is not None:
        if is_level_source(criterion):
            return [RuleProblem(f"{path}.per_unit", "a level is not counted in units; use bands", "not_applicable")]
        return []
    assert criterion.bands is not None  # noqa: S101 - one of the two, checked above
    if is_level_source(criterion):
        return _check_level_bands(criterion, criterion.bands, path)
    return _check_number_bands(criterion.bands, path)


def _check_level_bands(source: Source, bands: list[RuleBand], path: str) -> list[RuleProblem]:
    problems = []
    scales = LEVEL_SCALE_OF.get((source.claim, source.field or ""), {})
    owner: dict[str, int] = {}
    for index, band in enumerate(bands):
        at = f"{path}.bands.{index}"
        if band.min is not None or band.below is not None:
            problems.append(RuleProblem(at, "a level band lists levels, not min / below", "not_applicable"))
        if not band.levels:
            problems.append(RuleProblem(f"{at}.levels", "list the levels this band scores", "missing"))
            continue
        for position, level in enumerate(band.levels):
            if scales and level not in scales:
                problems.append(
                    RuleProblem(
                        f"{at}.levels.{position}", f"{level!r} is not a level of {source.field}", "unknown_value"
                    )
                )
            elif level in owner:
                problems.append(
                    RuleProblem(f"{at}.levels.{position}", f"{level} is already in band {owner[level]}", "overlap")
                )
            owner.setdefault(level, index)
    return problems


def _check_number_bands(bands: list[RuleBand], path: str) -> list[RuleProblem]:
    problems = []
    for index, band in enumerate(bands):
        at = f"{path}.bands.{index}"
        if band.levels is not None:
            problems.append(RuleProblem(f"{at}.levels", "a number band has min / below, not levels", "not_applicable"))
        if band.min is None and band.below is None:
            problems.append(RuleProblem(at, "give min, below or both", "missing"))
        elif band.min is not None and band.below is not None and band.min >= band.below:
            problems.append(RuleProblem(f"{at}.below", "below must be greater than min", "empty_range"))
    ordered = sorted(enumerate(bands), key=lambda item: (_low(item[1]), _high(item[1])))
    for (before_index, before), (index, band) in pairwise(ordered):
        if _low(band) < _high(before):
            problems.append(RuleProblem(f"{path}.bands.{index}", f"overlaps band {before_index}", "overlap"))
    return problems


def _low(band: RuleBand) -> float:
    return float("-inf") if band.min is None else band.min


def _high(band: RuleBand) -> float:
    return float("inf") if band.below is None else band.below


def _check_condition(condition: RuleCondition, path: str) -> list[RuleProblem]:
    if is_level_source(condition):
        problems = []
        if condition.min is not None or condition.below is not None:
            problems.append(RuleProblem(path, "a level condition takes at_least, not min / below", "not_applicable"))
        if condition.at_least is None:
            problems.append(RuleProblem(f"{path}.at_least", "name the lowest level that qualifies", "missing"))
        elif condition.at_least not in LEVEL_SCALE_OF.get((condition.claim, condition.field or ""), {}):
            problems.append(RuleProblem(f"{path}.at_least", f"not a level of {condition.field}", "unknown_value"))
        return problems
    if condition.at_least is not None:
        return [RuleProblem(f"{path}.at_least", "at_least applies to levels; use min / below", "not_applicable")]
    if condition.min is None and condition.below is None:
        return [RuleProblem(path, "give min, below or both", "missing")]
    if condition.min is not None and condition.below is not None and condition.min >= condition.below:
        return [RuleProblem(f"{path}.below", "below must be greater than min", "empty_range")]
    return []
