"""Named scenarios. Each issue adds its own; `setup` runs once against the live server (to get a token, ids...)."""

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx

DEMO_PASSWORD = "TalentIsland-2026!"


@dataclass
class Scenario:
    name: str
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    # Lua run by wrk for requests that must differ from one another (unique keys, rotating ids).
    lua: str | None = None
    # Called with an httpx client on the running server before the load starts; may fill headers / lua.
    setup: Callable[["Scenario", httpx.Client], None] | None = None
    expect_status: int = 200
    # The ASGI app factory served for this scenario.
    app: str = "main:create_app"
    # Run against the bench database (its URL) before the load starts: grow data, say.
    prepare: Callable[[str], None] | None = None


def _csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def login_form(scenario: "Scenario", http: httpx.Client) -> None:
    """A CSRF cookie and its token, then the same valid login posted over and over."""
    page = http.get("/oauth2/login")
    scenario.headers["Cookie"] = f"ti_csrf={http.cookies['ti_csrf']}"
    scenario.body = urlencode(
        {"identifier": "officer.market", "password": DEMO_PASSWORD, "csrf_token": _csrf(page), "return_to": ""}
    )


def signed_in(login: str, scope: str, *, officer: bool = False) -> Callable[["Scenario", httpx.Client], None]:
    """A setup that signs `login` in through the real pages (code + PKCE) and sends the access token: citizens through
    the public demo-web client, staff through the confidential officer console."""
    client_id, redirect = (
        ("officer-console", "http://127.0.0.1:8766/callback")
        if officer
        else (
            "demo-web",
            "http://127.0.0.1:8765/callback",
        )
    )

    def setup(scenario: "Scenario", http: httpx.Client) -> None:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect,
                "scope": scope,
                "state": "bench",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        page = http.get(f"/oauth2/authorize?{query}")
        form = {
            "identifier": login,
            "password": DEMO_PASSWORD,
            "csrf_token": _csrf(page),
            "return_to": f"/oauth2/authorize?{query}",
        }
        signed = http.post("/oauth2/login", data=form)
        step = http.get(signed.headers["location"])  # back at /oauth2/authorize, now signed in
        if step.status_code == 200:  # a consent page (first-party staff clients skip it and redirect at once)
            step = http.post(f"/oauth2/authorize?{query}", data={"decision": "allow", "csrf_token": _csrf(step)})
        code = parse_qs(urlsplit(step.headers["location"]).query)["code"][0]
        exchange = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": redirect,
            "code_verifier": verifier,
        }
        auth = ("officer-console", "officer-console-secret") if officer else None
        tokens = http.post("/oauth2/token", data=exchange, auth=auth).json()
        scenario.headers["Authorization"] = f"Bearer {tokens['access_token']}"

    return setup


person_token = signed_in("13800000001", "openid profile")


def permit_applications(total: int) -> Callable[[str], None]:
    def prepare(database_url: str) -> None:
        from bench.permits_data import grow

        grow(database_url, total)

    return prepare


def catalogue_size(total: int) -> Callable[[str], None]:
    def prepare(database_url: str) -> None:
        from bench.catalogue_data import grow

        grow(database_url, total)

    return prepare


# Searches a citizen would type, each matching the same few real services whatever the catalogue's size.
SEARCHES = [
    "营业执照",
    "食品经营",
    "户外广告",
    "施工许可",
    "工作许可",
    "居留许可",
    "住房补贴",
    "创业资助",
    "人才子女",
    "business licence",
    "work permit",
    "residence permit",
    "food business",
    "outdoor advertising",
]
SEARCH_LUA = (
    "local queries = {" + ", ".join(f'"{quote(q)}"' for q in SEARCHES) + "}\n"
    "local n = 0\n"
    "request = function()\n"
    "  n = n + 1\n"
    '  return wrk.format("GET", "/api/v1/catalogue/services?q=" .. queries[(n % #queries) + 1])\n'
    "end"
)

PARTNER_BASIC = "Basic " + base64.b64encode(b"demo-partner:demo-partner-secret").decode()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
KERNEL_APP = "bench.kernel_app:create_bench_app"
NOTE = '{"text": "a note of ordinary length for a benchmark write"}'
JSON = {"Content-Type": "application/json"}

SCENARIOS: list[Scenario] = [
    Scenario("healthz", "/healthz"),
    # A database round trip on every request (SELECT 1 through the pooled async engine).
    Scenario("readyz (db read)", "/readyz"),
    # The audit chain's cost: one insert per request, then the same insert plus its hash-chained audit entry.
    Scenario("write", "/bench/notes", "POST", JSON, NOTE, app=KERNEL_APP, expect_status=201),
    Scenario("write + audit entry", "/bench/audited-notes", "POST", JSON, NOTE, app=KERNEL_APP, expect_status=201),
    # Identity: a partner's token (client auth, JWT signing, audit entry), a password login (argon2id, session row,
    # audit entry), and an authenticated read of the caller's own account.
    Scenario(
        "client_credentials token",
        "/oauth2/token",
        "POST",
        {**FORM, "Authorization": PARTNER_BASIC},
        "grant_type=client_credentials&scope=partner%3Aread",
    ),
    Scenario("password login", "/oauth2/login", "POST", dict(FORM), setup=login_form, expect_status=303),
    Scenario("GET /api/v1/me", "/api/v1/me", setup=person_token),
    # The catalogue at 100 and at 100,000 services: the anonymous list (cached per process) and search (never
    # cached: the index does the work).
    Scenario("catalogue list @100", "/api/v1/catalogue/services?limit=20", prepare=catalogue_size(100)),
    Scenario("catalogue search @100", "/api/v1/catalogue/services", lua=SEARCH_LUA),
    Scenario("catalogue list @100k", "/api/v1/catalogue/services?limit=20", prepare=catalogue_size(100_000)),
    Scenario("catalogue search @100k", "/api/v1/catalogue/services", lua=SEARCH_LUA),
    # Permits: a citizen applies (a draft: reference number, row, history, audit entry, outbox event in one
    # transaction), and the market officer's queue at 1,000 and at 1,000,000 applications in all departments.
    Scenario(
        "permits apply",
        "/api/v1/permits/applications",
        "POST",
        JSON,
        '{"service_code": "business-licence", "form": {"entity_type": "llc", "planned_employees": 3}}',
        setup=signed_in("13800000001", "openid permits:apply"),
        expect_status=201,
    ),
    Scenario(
        "officer queue @1k",
        "/api/v1/permits/applications?limit=20",
        setup=signed_in("officer.market", "permits:process", officer=True),
        prepare=permit_applications(1_000),
    ),
    Scenario(
        "officer queue @1M",
        "/api/v1/permits/applications?limit=20",
        setup=signed_in("officer.market", "permits:process", officer=True),
        prepare=permit_applications(1_000_000),
    ),
    # Talent: a what-if of twelve claims against the 30-criterion Talent Island scheme (compiled and cached per
    # process: no database round trip once warm, nothing written).
    Scenario(
        "talent what-if (30 criteria)",
        "/api/v1/talent/assessments",
        "POST",
        JSON,
        (
            '{"rule_set":"talent-island","claims":[{"kind":"birth_date","date":"1990-05-17","verified":true},'
            '{"kind":"education","level":"doctorate","institution":"Tsinghua University","institution_rank":20,'
            '"country":"CN","discipline":"engineering","year":2018,"verified":true},{"kind":"education",'
            '"level":"master","institution":"ETH Zurich","institution_rank":7,"country":"CH",'
            '"discipline":"engineering","year":2014,"verified":true},{"kind":"employment",'
            '"employer":"Jiangmen Battery Co.","role":"Chief engineer","start":"2020-03-01","country":"CN",'
            '"region":"jiangmen","seniority":"senior","verified":true},{"kind":"employment","employer":"Siemens",'
            '"role":"Engineer","start":"2014-09-01","end":"2018-06-30","country":"DE","seniority":"professional",'
            '"verified":true},{"kind":"salary","year":2025,"annual_amount":480000,"verified":true},'
            '{"kind":"salary","year":2024,"monthly_amount":35000,"months_recorded":12,"verified":true},'
            '{"kind":"award","level":"provincial","name":"Guangdong Science and Technology Award",'
            '"verified":true},{"kind":"patent","type":"invention","granted":true,"verified":true},'
            '{"kind":"patent","type":"invention","granted":true,"verified":true},{"kind":"publication",'
            '"type":"journal","indexed":true,"verified":true},{"kind":"language","language":"en","level":"C1",'
            '"verified":true}]}'
        ),
        setup=signed_in("13800000003", "openid profile"),
    ),
]
