"""The points engine on worked examples: derivations, bands, caps, the bonus cap, direct routes, the seeded schemes,
and its speed. No database: the engine is pure."""

import statistics
import time
from datetime import date

import pytest
from pydantic import TypeAdapter

from services.talent.claims import Claim
from services.talent.engine import RuleSetError, assess, compile_rule_set
from services.talent.rules import RuleSetDocument
from tests.services.talent.conftest import ORDINARY, SEEDED, STRONG

TODAY = date(2026, 11, 24)
CLAIMS = TypeAdapter(list[Claim])
NAME = {"zh-CN": "名称", "en": "Name"}


def claims(*items: dict) -> list:
    return CLAIMS.validate_python(list(items))


def rule_set(criteria: list[dict], **extra) -> object:
    document = {
        "code": "example",
        "name": NAME,
        "criteria": criteria,
        "thresholds": [{"tier": "A", "min": 50}, {"tier": "B", "min": 20}],
        **extra,
    }
    return compile_rule_set(RuleSetDocument.model_validate(document), version=3)


def criterion(code: str, claim: str, derive: str, **extra) -> dict:
    return {"code": code, "name": NAME, "claim": claim, "derive": derive, **extra}


def line(assessment, code: str):
    return next(item for item in assessment.breakdown if item.code == code)


def test_the_seeded_schemes_compile_and_score_the_examples() -> None:
    expected = {
        "talent-island": {"ORDINARY": (67, "B"), "STRONG": (156, "A")},
        "compass-like": {"ORDINARY": (30, None), "STRONG": (90, "PASS")},
        "work-permit-like": {"ORDINARY": (73, "B"), "STRONG": (105, "A")},
    }
    for code, document in SEEDED.items():
        compiled = compile_rule_set(RuleSetDocument.model_validate(document), version=1)
        for label, person in (("ORDINARY", ORDINARY), ("STRONG", STRONG)):
            result = assess(compiled, claims(*person), today=TODAY)
            assert (result.score, result.tier) == expected[code][label], (code, label)
            assert result.route == "points"
            assert result.rule_set.model_dump() == {"code": code, "version": 1}
            assert sum(item.points for item in result.breakdown) == result.score


def test_a_patent_granted_never_costs_the_point_its_application_earned() -> None:
    """Found by the monotonicity property: the Talent Island scheme gave a point for each patent application not yet
    granted, so a pending design patent (a type no criterion rewards once granted) lost its point when granted, and a
    pending utility model lost its point when the granted ones were at their cap. It now counts every patent applied
    for, granted or not; the grant then only adds."""
    compiled = compile_rule_set(RuleSetDocument.model_validate(SEEDED["talent-island"]), version=1)

    def patent(kind: str, granted: bool) -> dict:
        return {"kind": "patent", "type": kind, "granted": granted, "verified": True}

    for held, pending in (([], "design"), ([patent("utility", True)] * 3, "utility"), ([], "invention")):
        before = assess(compiled, claims(*held, patent(pending, False)), today=TODAY)
        after = assess(compiled, claims(*held, patent(pending, True)), today=TODAY)
        assert after.score >= before.score, (held, pending)
        assert line(after, "patent_applications").points == line(before, "patent_applications").points


def test_talent_island_has_thirty_criteria_and_the_breakdown_explains_each() -> None:
    compiled = compile_rule_set(RuleSetDocument.model_validate(SEEDED["talent-island"]), version=1)
    result = assess(compiled, claims(*ORDINARY), today=TODAY)
    assert len(result.breakdown) == 30
    assert line(result, "education_level").model_dump() == {
        "code": "education_level",
        "name": {"zh-CN": "最高学历", "en": "Highest degree"},
        "group": "criterion",
        "value": "master",
        "band": {"index": 1, "label": "master"},
        "earned": 20,
        "points": 20,
    }
    assert line(result, "age").value == 32  # born 1994-03-02: derived from the date, never typed
    assert line(result, "salary_level").value == 2.5  # 240,000 / the local average 96,000
    assert line(result, "salary_level").band.label == "2 ≤ value < 3"
    assert line(result, "experience_years").value == 7.4
    assert line(result, "overseas_degree").points == 0  # a degree with no country is no evidence of one abroad
    assert line(result, "award_level").model_dump() | {"name": None} == {
        "code": "award_level",
        "name": None,
        "group": "criterion",
        "value": None,
        "band": None,
        "earned": 0,
        "points": 0,
    }


def test_only_verified_claims_count() -> None:
    compiled = rule_set([criterion("degrees", "education", "count", per_unit=10)])
    degree = {"kind": "education", "level": "master", "institution": "U", "year": 2010}
    result = assess(compiled, claims({**degree, "verified": True}, {**degree, "verified": False}), today=TODAY)
    assert (result.score, line(result, "degrees").value) == (10, 1)


def test_best_level_is_the_level_that_scores_most() -> None:
    bands = [{"levels": ["HSK5"], "points": 3}, {"levels": ["C1"], "points": 5}]
    compiled = rule_set([criterion("zh", "language", "best_level", field="level", bands=bands)])
    result = assess(
        compiled,
        claims(
            {"kind": "language", "language": "zh", "level": "HSK5", "verified": True},
            {"kind": "language", "language": "zh", "level": "C1", "verified": True},
            {"kind": "language", "language": "zh", "level": "HSK9", "verified": True},  # higher, but scores nothing
        ),
        today=TODAY,
    )
    assert (line(result, "zh").value, line(result, "zh").points) == ("C1", 5)


def test_employment_periods_overlap_once_and_open_ones_run_to_today() -> None:
    compiled = rule_set(
        [
            criterion("years", "employment", "total_years", bands=[{"min": 0, "points": 1}]),
            criterion("months", "employment", "total_months", where={"country": "CN"}, bands=[{"min": 0, "points": 1}]),
            criterion("current", "employment", "count", where={"current": True}, per_unit=7),
        ]
    )
    job = {"kind": "employment", "employer": "E", "role": "R", "verified": True}
    result = assess(
        compiled,
        claims(
            {**job, "start": "2020-01-01", "end": "2022-01-01", "country": "CN"},
            {**job, "start": "2021-01-01", "end": "2023-01-01", "country": "DE"},  # overlaps the first by a year
            {**job, "start": "2026-05-24", "country": "CN"},  # open: six months to the assessment date
            {**job, "start": "2027-01-01", "country": "CN"},  # not begun yet: counts nothing
        ),
        today=TODAY,
    )
    assert line(result, "years").value == round((1096 + 184) / 365.25, 2)
    assert line(result, "months").value == 30  # (731 + 184) days in China
    assert line(result, "current").value == 1  # the open job; the one that has not begun is not current yet


def test_salary_latest_max_relative_and_the_twelve_month_record() -> None:
    compiled = rule_set(
        [
            criterion("latest", "salary", "latest", field="annual_amount", per_unit=1),
            criterion("highest", "salary", "max", field="annual_amount", per_unit=1),
            criterion(
                "relative",
                "salary",
                "latest",
                field="annual_amount",
                relative_to="average",
                bands=[{"min": 0, "points": 0}],
            ),
        ],
        parameters={"average": 100_000},
    )
    result = assess(
        compiled,
        claims(
            {"kind": "salary", "year": 2023, "annual_amount": 900_000, "verified": True},
            {"kind": "salary", "year": 2025, "monthly_amount": 20_000, "months_recorded": 12, "verified": True},
            {"kind": "salary", "year": 2026, "monthly_amount": 90_000, "months_recorded": 3, "verified": True},
        ),
        today=TODAY,
    )
    # 2026 has only three months of records: it scores nothing, so 2025 (12 x 20,000) is the latest.
    assert line(result, "latest").value == 240_000
    assert line(result, "highest").value == 900_000
    assert line(result, "relative").value == 2.4


def test_caps_and_the_bonus_cap_are_handed_out_in_order() -> None:
    compiled = rule_set(
        [criterion("patents", "patent", "count", per_unit=5, cap=10)],
        bonus={
            "cap": 7,
            "criteria": [
                criterion("bonus_one", "patent", "count", bands=[{"min": 1, "points": 5}]),
                criterion("bonus_two", "patent", "count", bands=[{"min": 1, "points": 5}]),
                criterion("bonus_three", "patent", "count", bands=[{"min": 1, "points": 5}]),
            ],
        },
    )
    patent = {"kind": "patent", "type": "invention", "granted": True, "verified": True}
    result = assess(compiled, claims(patent, patent, patent), today=TODAY)
    assert [(item.code, item.earned, item.points) for item in result.breakdown] == [
        ("patents", 15, 10),
        ("bonus_one", 5, 5),
        ("bonus_two", 5, 2),
        ("bonus_three", 5, 0),
    ]
    assert result.score == 17
    assert line(result, "patents").band.label == "3 × 5"


def test_remembered_lines_answer_as_a_fresh_rule_set_does() -> None:
    """A compiled rule set reuses the breakdown lines it built before: the same value with less of the bonus cap left
    must still get a line of its own."""

    def compiled() -> object:
        return rule_set(
            [criterion("patents", "patent", "count", per_unit=5, cap=10)],
            bonus={
                "cap": 7,
                "criteria": [
                    criterion("bonus_one", "patent", "count", bands=[{"min": 1, "points": 5}]),
                    criterion("bonus_two", "publication", "count", bands=[{"min": 1, "points": 5}]),
                ],
            },
        )

    warm = compiled()
    patent = {"kind": "patent", "type": "invention", "granted": True, "verified": True}
    publication = {"kind": "publication", "type": "journal", "indexed": True, "verified": True}
    # One publication earns 2 points after a patent took 5 of the 7, and 5 without one.
    for person in ([patent, publication], [publication], [patent] * 3, [publication], [patent, publication], []):
        assert assess(warm, claims(*person), today=TODAY) == assess(compiled(), claims(*person), today=TODAY)
    seeded = compile_rule_set(RuleSetDocument.model_validate(SEEDED["talent-island"]), version=1)
    for person in (STRONG, ORDINARY, STRONG, [], ORDINARY):
        fresh = compile_rule_set(RuleSetDocument.model_validate(SEEDED["talent-island"]), version=1)
        assert assess(seeded, claims(*person), today=TODAY) == assess(fresh, claims(*person), today=TODAY)


def test_a_direct_route_wins_only_when_its_tier_is_better() -> None:
    routes = [
        {
            "code": "national_award",
            "name": NAME,
            "tier": "A",
            "when": [{"claim": "award", "derive": "best_level", "field": "level", "at_least": "national"}],
        },
        {
            "code": "inventor",
            "name": NAME,
            "tier": "B",
            "when": [{"claim": "patent", "derive": "count", "where": {"granted": True}, "min": 2}],
        },
    ]
    compiled = rule_set([criterion("patents", "patent", "count", per_unit=5)], direct_routes=routes)
    patent = {"kind": "patent", "type": "utility", "granted": True, "verified": True}
    award = {"kind": "award", "name": "Prize", "verified": True}

    only_points = assess(compiled, claims(patent), today=TODAY)
    assert (only_points.score, only_points.tier, only_points.route, only_points.direct_routes) == (
        5,
        None,
        "points",
        [],
    )

    inventor = assess(compiled, claims(patent, patent), today=TODAY)
    assert (inventor.score, inventor.points_tier, inventor.tier, inventor.route) == (10, None, "B", "direct:inventor")

    provincial = assess(compiled, claims({**award, "level": "provincial"}), today=TODAY)
    assert (provincial.tier, provincial.direct_routes) == (None, [])

    # Both routes hold: the better tier wins.
    best = assess(compiled, claims({**award, "level": "international"}, patent, patent), today=TODAY)
    assert (best.score, best.points_tier, best.tier, best.route) == (10, None, "A", "direct:national_award")
    assert best.direct_routes == ["national_award", "inventor"]


def test_points_tier_equal_to_the_route_tier_keeps_the_points_route() -> None:
    routes = [
        {
            "code": "inventor",
            "name": NAME,
            "tier": "B",
            "when": [{"claim": "patent", "derive": "count", "min": 2}],
        }
    ]
    compiled = rule_set([criterion("patents", "patent", "count", per_unit=15)], direct_routes=routes)
    patent = {"kind": "patent", "type": "utility", "granted": True, "verified": True}
    result = assess(compiled, claims(patent, patent), today=TODAY)
    assert (result.score, result.points_tier, result.tier, result.route) == (30, "B", "B", "points")
    assert result.direct_routes == ["inventor"]


def test_age_is_full_years_at_the_assessment_date() -> None:
    compiled = rule_set([criterion("age", "birth_date", "age", bands=[{"min": 18, "below": 40, "points": 20}])])
    born = claims({"kind": "birth_date", "date": "1986-11-25", "verified": True})
    assert line(assess(compiled, born, today=date(2026, 11, 24)), "age").value == 39
    assert line(assess(compiled, born, today=date(2026, 11, 25)), "age").value == 40
    assert assess(compiled, born, today=date(2026, 11, 25)).score == 0


def test_an_invalid_document_does_not_compile() -> None:
    document = RuleSetDocument.model_validate(
        {
            "code": "broken",
            "name": NAME,
            "criteria": [
                criterion(
                    "age", "birth_date", "age", bands=[{"min": 18, "below": 40, "points": 1}, {"min": 30, "points": 2}]
                )
            ],
            "thresholds": [{"tier": "A", "min": 10}],
        }
    )
    with pytest.raises(RuleSetError) as raised:
        compile_rule_set(document, version=1)
    assert [(p.field, p.code) for p in raised.value.problems] == [("criteria.0.bands.1", "overlap")]


def test_a_thirty_criterion_assessment_takes_well_under_a_millisecond() -> None:
    compiled = compile_rule_set(RuleSetDocument.model_validate(SEEDED["talent-island"]), version=1)
    person = claims(*STRONG)
    assert len(compiled.criteria) + len(compiled.bonus) == 30
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(200):
            assess(compiled, person, today=TODAY)
        timings.append((time.perf_counter() - started) / 200)
    assert statistics.median(timings) < 0.0005, f"{statistics.median(timings) * 1e6:.0f} µs per assessment"
