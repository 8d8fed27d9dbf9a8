"""Properties of the points engine (hypothesis), over the seeded schemes and over generated ones:

- more verified points (a higher verified value, or an extra verified claim) never lower the tier or the score;
- the result depends only on the verified claims and the rule set: unverified claims can be added, changed or
  removed, and the claims reordered, without changing a thing;
- the breakdown's points add up to the score, and respect every cap;
- the same input gives the same output, byte for byte.

"More verified points" is meant as the issue means it: evidence of more, under bands whose points grow with the
value. A birth date is therefore never "raised" (age bands have no direction) and no salary record is added (the
latest salary is the latest, not the best); a salary is raised instead.
"""

import random
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.http.language import LANGUAGES, localize
from services.talent.claims import (
    AWARD_LEVELS,
    CEFR_LEVELS,
    EDUCATION_LEVELS,
    HSK_LEVELS,
    SENIORITY_LEVELS,
    AwardClaim,
    BirthDateClaim,
    EducationClaim,
    EmploymentClaim,
    LanguageClaim,
    PatentClaim,
    PublicationClaim,
    SalaryClaim,
)
from services.talent.engine import CompiledRuleSet, assess, assess_json, compile_rule_set
from services.talent.rules import RuleSetDocument, check, max_score
from tests.services.talent.conftest import SEEDED

SEEDED_RULE_SETS = [
    compile_rule_set(RuleSetDocument.model_validate(document), version=1) for document in SEEDED.values()
]
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAME = {"zh-CN": "名称", "en": "Name"}

# -- claims ------------------------------------------------------------------------------------------------------------

days = st.dates(min_value=date(1985, 1, 1), max_value=date(2030, 12, 31))
todays = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
countries = st.sampled_from([None, "CN", "US", "GB", "DE", "SG"])
regions = st.sampled_from([None, "jiangmen", "shenzhen", "xinjiang", "hong_kong"])
disciplines = st.sampled_from([None, "engineering", "computer_science", "medicine", "law", "arts"])
languages = st.sampled_from(["zh", "en", "fr", "de", "ja"])
language_levels = st.sampled_from(CEFR_LEVELS + HSK_LEVELS)


def education(verified: Any = st.booleans()) -> st.SearchStrategy:
    return st.builds(
        EducationClaim,
        verified=verified,
        level=st.sampled_from(EDUCATION_LEVELS),
        institution=st.just("University"),
        institution_rank=st.none() | st.integers(1, 500),
        country=countries,
        discipline=disciplines,
        year=st.integers(1980, 2030),
    )


@st.composite
def employment(draw: st.DrawFn, verified: Any = st.booleans()) -> EmploymentClaim:
    start = draw(days)
    end = draw(st.none() | st.integers(0, 6000).map(lambda n: start + timedelta(days=n)))
    return EmploymentClaim(
        verified=draw(verified),
        employer="Employer",
        role="Role",
        start=start,
        end=end,
        country=draw(countries),
        region=draw(regions),
        seniority=draw(st.sampled_from([None, "junior", "professional", "senior", "executive"])),
    )


@st.composite
def salary(draw: st.DrawFn, verified: Any = st.booleans()) -> SalaryClaim:
    year = draw(st.integers(2015, 2030))
    if draw(st.booleans()):
        return SalaryClaim(verified=draw(verified), year=year, annual_amount=draw(st.integers(0, 3_000_000)))
    return SalaryClaim(
        verified=draw(verified),
        year=year,
        monthly_amount=draw(st.integers(0, 250_000)),
        months_recorded=draw(st.integers(1, 12)),
    )


def award(verified: Any = st.booleans()) -> st.SearchStrategy:
    return st.builds(AwardClaim, verified=verified, level=st.sampled_from(AWARD_LEVELS), name=st.just("Prize"))


def patent(verified: Any = st.booleans()) -> st.SearchStrategy:
    return st.builds(
        PatentClaim, verified=verified, type=st.sampled_from(["invention", "utility", "design"]), granted=st.booleans()
    )


def publication(verified: Any = st.booleans()) -> st.SearchStrategy:
    return st.builds(
        PublicationClaim,
        verified=verified,
        type=st.sampled_from(["journal", "conference", "book", "chapter"]),
        indexed=st.booleans(),
    )


def language(verified: Any = st.booleans()) -> st.SearchStrategy:
    return st.builds(LanguageClaim, verified=verified, language=languages, level=language_levels)


def birth_date(verified: Any = st.booleans()) -> st.SearchStrategy:
    return st.builds(
        BirthDateClaim, verified=verified, date=st.dates(min_value=date(1950, 1, 1), max_value=date(2010, 12, 31))
    )


def any_claim(verified: Any = st.booleans()) -> st.SearchStrategy:
    return st.one_of(
        education(verified),
        employment(verified),
        salary(verified),
        award(verified),
        patent(verified),
        publication(verified),
        language(verified),
        birth_date(verified),
    )


claim_lists = st.lists(any_claim(), max_size=25)
# Kinds whose every derivation only grows when a verified claim of theirs is added.
growing_claims = st.one_of(
    education(st.just(True)),
    employment(st.just(True)),
    award(st.just(True)),
    patent(st.just(True)),
    publication(st.just(True)),
    language(st.just(True)),
)

# -- generated rule sets whose points grow with the value (age excepted: it has no direction) -------------------------

NUMBER_SOURCES = [
    {"claim": "education", "derive": "count"},
    {"claim": "education", "derive": "count", "where": {"institution_rank": {"max": 200}}},
    {"claim": "education", "derive": "count", "where": {"level": ["master", "doctorate"]}},
    {"claim": "employment", "derive": "total_years"},
    {"claim": "employment", "derive": "total_months", "where": {"country": "CN"}},
    {"claim": "employment", "derive": "total_years", "where": {"country": {"not_in": ["CN"]}}},
    {"claim": "employment", "derive": "count", "where": {"current": True, "region": "jiangmen"}},
    {"claim": "salary", "derive": "latest", "field": "annual_amount"},
    {"claim": "salary", "derive": "max", "field": "annual_amount", "relative_to": "average"},
    {"claim": "award", "derive": "count"},
    {"claim": "patent", "derive": "count", "where": {"type": "invention", "granted": True}},
    {"claim": "publication", "derive": "count", "where": {"indexed": True}},
    {"claim": "language", "derive": "count", "where": {"level": ["C1", "C2", "HSK6"]}},
]
LEVEL_SOURCES = [
    ({"claim": "education", "derive": "best_level", "field": "level"}, [EDUCATION_LEVELS]),
    ({"claim": "award", "derive": "best_level", "field": "level"}, [AWARD_LEVELS]),
    ({"claim": "language", "derive": "best_level", "field": "level", "where": {"language": "zh"}}, [HSK_LEVELS]),
    ({"claim": "language", "derive": "best_level", "field": "level"}, [CEFR_LEVELS, HSK_LEVELS]),
    ({"claim": "employment", "derive": "best_level", "field": "seniority"}, [SENIORITY_LEVELS]),
]


@st.composite
def growing_bands(draw: st.DrawFn) -> list[dict]:
    cuts = sorted(draw(st.sets(st.integers(0, 800_000) | st.floats(0, 50, allow_nan=False), min_size=1, max_size=5)))
    points = sorted(draw(st.lists(st.integers(0, 30), min_size=len(cuts), max_size=len(cuts))))
    bands = [
        {"min": low, "below": high, "points": p} for low, high, p in zip(cuts[:-1], cuts[1:], points, strict=False)
    ]
    return [*bands, {"min": cuts[-1], "points": points[-1]}]


@st.composite
def level_bands(draw: st.DrawFn, scales: list[tuple[str, ...]]) -> list[dict]:
    bands = []
    for scale in scales:
        points = sorted(draw(st.lists(st.integers(0, 30), min_size=len(scale), max_size=len(scale))))
        bands += [{"levels": [level], "points": p} for level, p in zip(scale, points, strict=True)]
    return bands


@st.composite
def generated_criterion(draw: st.DrawFn, code: str) -> dict:
    item: dict[str, Any] = {"code": code, "name": NAME}
    shape = draw(st.sampled_from(["number", "level", "age"]))
    if shape == "level":
        source, scales = draw(st.sampled_from(LEVEL_SOURCES))
        item |= source | {"bands": draw(level_bands(scales))}
    elif shape == "age":
        cuts = sorted(draw(st.sets(st.integers(0, 90), min_size=2, max_size=5)))
        points = draw(st.lists(st.integers(0, 30), min_size=len(cuts) - 1, max_size=len(cuts) - 1))
        item |= {"claim": "birth_date", "derive": "age"}
        item["bands"] = [
            {"min": low, "below": high, "points": p} for low, high, p in zip(cuts[:-1], cuts[1:], points, strict=True)
        ]
    else:
        item |= draw(st.sampled_from(NUMBER_SOURCES))
        if draw(st.booleans()):
            item["bands"] = draw(growing_bands())
        else:
            item["per_unit"] = draw(st.integers(1, 10))
    if draw(st.booleans()):
        item["cap"] = draw(st.integers(0, 40))
    return item


@st.composite
def generated_route(draw: st.DrawFn, code: str, tiers: list[str]) -> dict:
    conditions = []
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.booleans()):
            source, scales = draw(st.sampled_from(LEVEL_SOURCES))
            scale = draw(st.sampled_from(scales))
            conditions.append(source | {"at_least": draw(st.sampled_from(scale))})
        else:
            source = draw(st.sampled_from(NUMBER_SOURCES))
            conditions.append(source | {"min": draw(st.integers(0, 20) | st.integers(100_000, 1_000_000))})
    return {"code": code, "name": NAME, "tier": draw(st.sampled_from(tiers)), "when": conditions}


@st.composite
def generated_rule_set(draw: st.DrawFn) -> CompiledRuleSet:
    count = draw(st.integers(1, 12))
    bonus = draw(st.integers(0, 4))
    document = {
        "code": "generated",
        "name": NAME,
        "parameters": {"average": 100_000},
        "criteria": [draw(generated_criterion(f"c{n}")) for n in range(count)],
        "bonus": {
            "cap": draw(st.none() | st.integers(0, 30)),
            "criteria": [draw(generated_criterion(f"b{n}")) for n in range(bonus)],
        },
        "thresholds": [{"tier": "A", "min": 0}],
    }
    # Thresholds within the points there are (a valid document has no tier out of reach).
    most = int(min(150, max_score(RuleSetDocument.model_validate(document))))
    tiers = ["A", "B", "C"][: min(most + 1, draw(st.integers(1, 3)))]
    minimums = sorted(draw(st.sets(st.integers(0, most), min_size=len(tiers), max_size=len(tiers))), reverse=True)
    document["thresholds"] = [{"tier": tier, "min": low} for tier, low in zip(tiers, minimums, strict=True)]
    document["direct_routes"] = [draw(generated_route(f"r{n}", tiers)) for n in range(draw(st.integers(0, 3)))]
    parsed = RuleSetDocument.model_validate(document)
    assert check(parsed) == [], check(parsed)
    return compile_rule_set(parsed, version=draw(st.integers(1, 9)))


rule_sets = st.sampled_from(SEEDED_RULE_SETS) | generated_rule_set()

# -- improvements: more verified points --------------------------------------------------------------------------------

LEVEL_FIELDS = {"education": EDUCATION_LEVELS, "award": AWARD_LEVELS}


@st.composite
def improved(draw: st.DrawFn, claims: list) -> list:
    """The claims with more verified evidence: an extra verified claim, an unverified one now verified, a verified
    salary raised, a verified degree or award at a higher level, or a granted patent or indexed publication."""
    claims = list(claims)
    moves = ["add"]
    verifiable = [i for i, c in enumerate(claims) if not c.verified and c.kind not in ("salary", "birth_date")]
    salaries = [i for i, c in enumerate(claims) if c.verified and c.kind == "salary"]
    levelled = [i for i, c in enumerate(claims) if c.verified and c.kind in LEVEL_FIELDS]
    pending = [i for i, c in enumerate(claims) if c.verified and c.kind in ("patent", "publication")]
    moves += ["verify"] * bool(verifiable) + ["raise"] * bool(salaries) + ["level"] * bool(levelled)
    moves += ["grant"] * bool(pending)
    move = draw(st.sampled_from(moves))
    if move == "add":
        claims.insert(draw(st.integers(0, len(claims))), draw(growing_claims))
    elif move == "verify":
        index = draw(st.sampled_from(verifiable))
        claims[index] = claims[index].model_copy(update={"verified": True})
    elif move == "raise":
        index = draw(st.sampled_from(salaries))
        field = "annual_amount" if claims[index].annual_amount is not None else "monthly_amount"
        raised = getattr(claims[index], field) + draw(st.integers(1, 500_000))
        claims[index] = claims[index].model_copy(update={field: raised})
    elif move == "level":
        index = draw(st.sampled_from(levelled))
        scale = LEVEL_FIELDS[claims[index].kind]
        higher = scale[scale.index(claims[index].level) :]
        claims[index] = claims[index].model_copy(update={"level": draw(st.sampled_from(higher))})
    else:
        index = draw(st.sampled_from(pending))
        flag = "granted" if claims[index].kind == "patent" else "indexed"
        claims[index] = claims[index].model_copy(update={flag: True})
    return claims


def tier_rank(rule_set: CompiledRuleSet, tier: str | None) -> int:
    """0 for the best tier, higher for worse; no tier is the worst of all."""
    names = [name for name, _ in rule_set.thresholds]
    return names.index(tier) if tier is not None else len(names)


# -- the properties ----------------------------------------------------------------------------------------------------


@PROPERTY
@given(rule_set=rule_sets, today=todays, data=st.data())
def test_more_verified_points_never_lower_the_tier(rule_set: CompiledRuleSet, today: date, data: st.DataObject) -> None:
    claims = data.draw(claim_lists)
    before = assess(rule_set, claims, today=today)
    after = assess(rule_set, data.draw(improved(claims)), today=today)
    assert tier_rank(rule_set, after.tier) <= tier_rank(rule_set, before.tier)
    assert tier_rank(rule_set, after.points_tier) <= tier_rank(rule_set, before.points_tier)
    assert after.score >= before.score
    assert set(before.direct_routes) <= set(after.direct_routes)


@PROPERTY
@given(
    rule_set=rule_sets,
    today=todays,
    claims=claim_lists,
    unverified=st.lists(any_claim(st.just(False)), max_size=10),
    other_unverified=st.lists(any_claim(st.just(False)), max_size=10),
    seed=st.integers(0, 2**32),
)
def test_only_verified_claims_and_the_rule_set_decide(
    rule_set: CompiledRuleSet, today: date, claims: list, unverified: list, other_unverified: list, seed: int
) -> None:
    expected = assess(rule_set, [c for c in claims if c.verified], today=today).model_dump_json()
    mixed = [*claims, *unverified]
    random.Random(seed).shuffle(mixed)
    assert assess(rule_set, mixed, today=today).model_dump_json() == expected
    assert assess(rule_set, [*claims, *other_unverified], today=today).model_dump_json() == expected
    result = assess(rule_set, mixed, today=today)
    assert result.rule_set.model_dump() == {"code": rule_set.code, "version": rule_set.version}


@PROPERTY
@given(rule_set=rule_sets, today=todays, claims=claim_lists)
def test_the_breakdown_adds_up_to_the_score(rule_set: CompiledRuleSet, today: date, claims: list) -> None:
    result = assess(rule_set, claims, today=today)
    assert sum(line.points for line in result.breakdown) == result.score
    caps = {item.code: item.cap for item in (*rule_set.criteria, *rule_set.bonus)}
    for line in result.breakdown:
        assert 0 <= line.points <= line.earned
        assert caps[line.code] is None or line.points <= caps[line.code]
    bonus = sum(line.points for line in result.breakdown if line.group == "bonus")
    assert rule_set.bonus_cap is None or bonus <= rule_set.bonus_cap
    assert [line.code for line in result.breakdown] == list(caps)  # every criterion, in rule-set order
    reached = [tier for tier, minimum in rule_set.thresholds if result.score >= minimum]
    assert result.points_tier == (reached[0] if reached else None)


@PROPERTY
@given(rule_set=rule_sets, today=todays, claims=claim_lists)
def test_the_same_input_gives_the_same_output(rule_set: CompiledRuleSet, today: date, claims: list) -> None:
    first = assess(rule_set, claims, today=today).model_dump_json()
    assert assess(rule_set, claims, today=today).model_dump_json() == first
    recompiled = compile_rule_set(rule_set.document, version=rule_set.version)
    assert assess(recompiled, list(claims), today=today).model_dump_json() == first
    # The what-if's JSON, joined from each line's cached JSON, is the model's own serialization byte for byte (cold
    # lines, then warm ones), in both languages and in each one.
    assert assess_json(recompiled, claims, today=today) == first.encode()
    assert assess_json(rule_set, claims, today=today) == first.encode()
    for language in LANGUAGES:
        localized = localize(assess(rule_set, claims, today=today), language).model_dump_json()
        assert assess_json(rule_set, claims, today=today, language=language) == localized.encode()
        assert '"zh-CN"' not in localized
