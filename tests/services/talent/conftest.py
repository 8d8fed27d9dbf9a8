"""Shared setup of the talent tests: the people, the seeded schemes, claims a client app would send, and a fresh
rule-set cache per test (the database is reset to the seeded state between tests; the app's cache would not be)."""

import copy
import hashlib
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


# -- talent applications ----------------------------------------------------------------------------------------------

APPLICATIONS = "/api/v1/talent/applications"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
ID_NUMBER = "440703199203150034"  # the mock cloud's registries know it: born 1992-03-15
DEGREE_MASTER_2019 = "1055832019000123"  # Sun Yat-sen University, master, 2019
DEGREE_UNVERIFIABLE = "1055820242024404"  # the mock cloud's persona: no such certificate


@pytest.fixture
async def applicant(app, client) -> dict[str, str]:
    """Talent 13800000003 after the real-name check (the registries look claims up by the ID number)."""
    headers = bearer(
        await token_for(app, "13800000003", "openid profile account talent:apply permits:apply", client_id="demo-web")
    )
    checked = await client.post(
        "/api/v1/me/identity-verification", headers=headers, json={"name": "王磊", "id_number": ID_NUMBER}
    )
    assert checked.status_code == 200, checked.text
    return headers


@pytest.fixture
async def other_applicant(app) -> dict[str, str]:
    return bearer(await token_for(app, "13800000002", "openid profile talent:apply", client_id="demo-web"))


@pytest.fixture
async def supervisor(app) -> dict[str, str]:
    return bearer(await token_for(app, "supervisor.talent", "talent:review"))


@pytest.fixture
async def market_supervisor(app) -> dict[str, str]:
    return bearer(await token_for(app, "supervisor.market", "permits:process"))


@pytest.fixture
async def sponsor(app) -> dict[str, str]:
    return bearer(await client_token(app, "demo-partner", "partner:submit"))


@pytest.fixture
def worker(app, db, quiet_outbox):
    from core.worker import Worker
    from main import worker_settings

    return Worker(db, context=app.state, settings=worker_settings(app.state.settings))


async def fetch(client, headers: dict[str, str], application_id: str):
    return await client.get(f"{APPLICATIONS}/{application_id}", headers=headers)


async def act(client, headers: dict[str, str], application_id: str, action: str, **body):
    """Take an action with the application's current ETag, as `headers` sees it."""
    current = await fetch(client, headers, application_id)
    assert current.status_code == 200, current.text
    return await client.post(
        f"{APPLICATIONS}/{application_id}/actions/{action}",
        json=body or None,
        headers={**headers, "If-Match": current.headers["etag"]},
    )


async def declare(client, headers: dict[str, str], application_id: str, claim: dict, *, evidence: bool = True) -> str:
    """Declare a claim and (unless told not to) upload one PDF behind it; the claim's id."""
    declared = await client.post(f"{APPLICATIONS}/{application_id}/claims", json=claim, headers=headers)
    assert declared.status_code == 201, declared.text
    claim_id = declared.headers["location"].rsplit("/", 1)[-1]
    if evidence:
        started = await client.post(
            f"{APPLICATIONS}/{application_id}/claims/{claim_id}/evidence",
            json={"filename": f"{claim['kind']}.pdf", "media_type": "application/pdf", "size": len(PDF)},
            headers=headers,
        )
        assert started.status_code == 201, started.text
        target = started.json()["upload"]
        put = await client.request(target["method"], target["url"], content=PDF, headers=target["headers"])
        assert put.status_code == 200, put.text
        confirmed = await client.post(
            f"{APPLICATIONS}/{application_id}/evidence/{started.json()['evidence']['id']}/confirm",
            json={"sha256": hashlib.sha256(PDF).hexdigest()},
            headers=headers,
        )
        assert confirmed.status_code == 200, confirmed.text
    return claim_id
