"""Shared setup of the talent tests: the people, the seeded schemes, claims a client app would send, and a fresh
rule-set cache per test (the database is reset to the seeded state between tests; the app's cache would not be)."""

import copy
import json

import pytest

from services.talent.dependencies import rule_set_cache
from services.talent.seed import DATA
from tests.oauth import bearer, client_token, token_for

RULE_SETS = "/api/v1/talent/rule-sets"
ASSESSMENTS = "/api/v1/talent/assessments"
SEEDED = {item["code"]: item for item in json.loads(DATA.read_text("utf-8"))["rule_sets"]}

# A strong candidate: doctorate from a top-50 university, ten years of work, 5x the local average salary.
STRONG = [
    {"kind": "birth_date", "date": "1990-05-17", "verified": True},
    {
        "kind": "education",
        "level": "doctorate",
        "institution": "Tsinghua University",
        "institution_rank": 20,
        "country": "CN",
        "discipline": "engineering",
        "year": 2018,
        "verified": True,
    },
    {
        "kind": "education",
        "level": "master",
        "institution": "ETH Zurich",
        "institution_rank": 7,
        "country": "CH",
        "discipline": "engineering",
        "year": 2014,
        "verified": True,
    },
    {
        "kind": "employment",
        "employer": "Jiangmen Battery Co.",
        "role": "Chief engineer",
        "start": "2020-03-01",
        "country": "CN",
        "region": "jiangmen",
        "seniority": "senior",
        "verified": True,
    },
    {
        "kind": "employment",
        "employer": "Siemens",
        "role": "Engineer",
        "start": "2014-09-01",
        "end": "2018-06-30",
        "country": "DE",
        "seniority": "professional",
        "verified": True,
    },
    {"kind": "salary", "year": 2025, "annual_amount": 480000, "verified": True},
    {"kind": "salary", "year": 2024, "monthly_amount": 35000, "months_recorded": 12, "verified": True},
    {"kind": "award", "level": "provincial", "name": "Guangdong Science and Technology Award", "verified": True},
    {"kind": "patent", "type": "invention", "granted": True, "verified": True},
    {"kind": "patent", "type": "invention", "granted": True, "verified": True},
    {"kind": "publication", "type": "journal", "indexed": True, "verified": True},
    {"kind": "language", "language": "en", "level": "C1", "verified": True},
]

# An ordinary one: a master's degree, six years of work, 2.5x the local average; tier B under Talent Island v1.
ORDINARY = [
    {"kind": "birth_date", "date": "1994-03-02", "verified": True},
    {"kind": "education", "level": "master", "institution": "Wuyi University", "year": 2019, "verified": True},
    {
        "kind": "employment",
        "employer": "Jiangmen Foods",
        "role": "Quality manager",
        "start": "2019-07-01",
        "country": "CN",
        "region": "jiangmen",
        "verified": True,
    },
    {"kind": "salary", "year": 2025, "annual_amount": 240000, "verified": True},
    {"kind": "language", "language": "en", "level": "B2", "verified": True},
]


def talent_island(**changes) -> dict:
    """The seeded Talent Island document, deep-copied, with top-level changes."""
    return {**copy.deepcopy(SEEDED["talent-island"]), **changes}


@pytest.fixture(autouse=True)
def fresh_rule_set_cache(request: pytest.FixtureRequest) -> None:
    # Only for tests with an app: the engine's own tests need no database.
    if "app" in request.fixturenames:
        rule_set_cache(request.getfixturevalue("app")).clear()


@pytest.fixture
async def admin(app) -> dict[str, str]:
    return bearer(await token_for(app, "admin", "openid admin"))


@pytest.fixture
async def citizen(app) -> dict[str, str]:
    return bearer(await token_for(app, "13800000001", "openid profile", client_id="demo-web"))


@pytest.fixture
async def talent(app) -> dict[str, str]:
    return bearer(await token_for(app, "13800000003", "openid profile talent:apply", client_id="demo-web"))


@pytest.fixture
async def officer(app) -> dict[str, str]:
    return bearer(await token_for(app, "officer.talent", "talent:review"))


@pytest.fixture
async def partner(app) -> dict[str, str]:
    return bearer(await client_token(app, "demo-partner", "partner:read"))
