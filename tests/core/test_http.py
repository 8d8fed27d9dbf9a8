"""Request ids, security headers, CORS, metrics and the structured access log."""

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import event

from core.health import Readiness
from core.logging import JsonFormatter
from core.settings import Settings
from main import create_app
from tests.conftest import asgi_client
from tests.helpers import assert_problem


def _app(**overrides: object):
    options = {"database_url": "sqlite+aiosqlite:///:memory:", "log_level": "WARNING", **overrides}
    return create_app(Settings(_env_file=None, **options))


# What production needs besides TI_ENV (see Settings._production_needs_real_parts).
PRODUCTION = {
    "env": "production",
    "cloud_base_url": "https://cloud.example.gov.cn",
    "cloud_secret_key": "production-cloud-key",
    "cloud_callback_secret_key": "production-callback-key",
    "metrics_token": "scrape-secret",
}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(_app(cors_origins="https://app.talent-island.example")) as client:
        yield client


async def test_request_id_is_generated_and_echoed(http: httpx.AsyncClient) -> None:
    generated = (await http.get("/healthz")).headers["x-request-id"]
    assert len(generated) == 32
    assert (await http.get("/healthz")).headers["x-request-id"] != generated
    echoed = await http.get("/healthz", headers={"X-Request-ID": "partner-abc.123"})
    assert echoed.headers["x-request-id"] == "partner-abc.123"


async def test_hostile_request_id_is_replaced(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": "x" * 65})
    assert response.headers["x-request-id"] != "x" * 65
    response = await http.get("/healthz", headers={"X-Request-ID": "a b;c"})
    assert response.headers["x-request-id"] != "a b;c"


async def test_security_headers_on_every_response(http: httpx.AsyncClient) -> None:
    for response in (await http.get("/healthz"), await http.get("/missing")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers


async def test_hsts_in_production() -> None:
    production = _app(**PRODUCTION)
    async with asgi_client(production) as client:
        response = await client.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_docs_page_gets_its_own_csp_and_renders(http: httpx.AsyncClient) -> None:
    response = await http.get("/docs")
    assert response.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in response.text
    assert "'self'" in response.headers["content-security-policy"]
    assert "cdn" not in response.text.lower()


async def test_cors_allows_the_configured_origin_without_credentials(http: httpx.AsyncClient) -> None:
    allowed = await http.get("/healthz", headers={"Origin": "https://app.talent-island.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.talent-island.example"
    assert "access-control-allow-credentials" not in allowed.headers
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    foreign = await http.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers
    preflight = await http.options(
        "/healthz", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    app = _app(database_url="postgresql://postgres@127.0.0.1:1/nowhere", db_connect_timeout=1)
    async with asgi_client(app) as client:
        body = assert_problem(await client.get("/readyz"), 503, "service-unavailable")
        assert "database" in body["detail"]
        # The process stays up and keeps answering.
        assert (await client.get("/healthz")).json() == {"status": "ok"}
    await app.state.db.dispose()


async def test_concurrent_readyz_probes_share_one_database_check(app, client, db) -> None:
    pings: list[str] = []

    def seen(_connection, _cursor, statement, *_args) -> None:
        if statement == "SELECT 1":
            pings.append(statement)

    # The engine the check uses (on PostgreSQL an autocommit view of the one pool): each ping counted once.
    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    own = app.state.readiness  # (put back by hand: monkeypatch would delete it, as State keeps it off __dict__)
    try:
        # A process that has not checked yet (the suite's app is shared), whose answer stands for the whole test.
        app.state.readiness = Readiness(db, fresh_for=60)
        flood = await asyncio.gather(*(client.get("/readyz") for _ in range(50)))
        assert [r.json() for r in flood] == [{"status": "ready"}] * 50
        # All fifty arrived while the first check was running: they waited for its answer instead of each taking a
        # connection for a check of their own.
        assert len(pings) == 1
        again = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
        assert {r.status_code for r in again} == {200}
        assert len(pings) == 1  # answered from the standing result
        # Once the answer is older than it stands for, the database is asked again.
        app.state.readiness = Readiness(db, fresh_for=0.5)
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        assert len(pings) == 2
        await asyncio.sleep(0.55)
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        assert len(pings) == 3
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        app.state.readiness = own


async def test_metrics_count_requests_by_route_template(http: httpx.AsyncClient) -> None:
    await http.get("/docs/assets/favicon-32x32.png")
    text = (await http.get("/metrics")).text
    assert 'route="/docs/assets/{name}",status="200"' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/docs/assets/{name}"}' in text
    assert "favicon-32x32" not in text


async def test_metrics_token_when_configured() -> None:
    async with asgi_client(_app(metrics_token="scrape-secret")) as client:
        assert_problem(await client.get("/metrics"), 401, "unauthorized")
        assert_problem(await client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
        ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert ok.status_code == 200
        assert "http_requests_total" in ok.text


@pytest.mark.parametrize("token", [None, "", "   "])
def test_production_refuses_to_start_without_a_metrics_token(token: str | None) -> None:
    # Unset must not mean "open" where the metrics would be served to anyone who reaches the process.
    with pytest.raises(ValidationError, match="production needs TI_METRICS_TOKEN"):
        Settings(_env_file=None, **{**PRODUCTION, "metrics_token": token})
    # Outside production, unset still means open (the embedded default scraped on the private network).
    assert Settings(_env_file=None, env="development", metrics_token=token).metrics_token == token


async def test_metrics_in_production_take_the_token() -> None:
    async with asgi_client(_app(**PRODUCTION)) as client:
        body = assert_problem(await client.get("/metrics"), 401, "unauthorized")
        assert body["detail"] == "A metrics token is required."
        ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert ok.status_code == 200
        assert "http_requests_total" in ok.text


async def test_access_log_is_json_with_request_id_and_escapes_crlf() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ti.http")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        async with asgi_client(_app()) as client:
            await client.get("/missing%0d%0aforged: yes", headers={"X-Request-ID": "trace-42"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["msg"] == "request"
    assert entry["request_id"] == "trace-42"
    assert entry["status"] == 404
    assert entry["route"] == "<unmatched>"
    assert entry["path"] == "/missing\r\nforged: yes"
