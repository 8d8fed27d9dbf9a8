"""Every failure mode answers RFC 9457 problem+json with the right status, and never leaks internals."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from core.errors import Conflict, ValidationFailed, field_error
from core.http.idempotency import IdempotencyRecord
from core.models import utcnow
from core.settings import Settings
from main import create_app
from tests.conftest import asgi_client
from tests.helpers import assert_problem


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=20)
    count: int = Field(ge=0)


@pytest.fixture(scope="module")
def probe_app() -> FastAPI:
    """The real app plus routes that fail on purpose (no database is touched)."""
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", log_level="CRITICAL", _env_file=None))

    @app.post("/_probe/items", tags=["probe"])
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/_probe/boom", tags=["probe"])
    async def boom() -> None:
        raise RuntimeError("database password=hunter2 leaked in a message")

    @app.get("/_probe/conflict", tags=["probe"])
    async def conflict() -> None:
        raise Conflict("The application was changed by someone else.")

    @app.get("/_probe/invalid", tags=["probe"])
    async def invalid() -> None:
        raise ValidationFailed("bad form", errors=[field_error("form.0.code", "duplicate code", code="duplicate")])

    return app


@pytest.fixture
async def probe(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(probe_app) as http:
        yield http


async def test_unknown_route_is_a_404_problem(probe: httpx.AsyncClient) -> None:
    body = assert_problem(await probe.get("/no/such/route"), 404, "not-found")
    assert body["instance"] == "/no/such/route"


async def test_wrong_method_is_a_405_problem_with_allow(probe: httpx.AsyncClient) -> None:
    response = await probe.delete("/healthz")
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


async def test_head_answers_what_get_would_without_the_body(probe: httpx.AsyncClient) -> None:
    got, head = await probe.get("/healthz"), await probe.head("/healthz")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert head.headers["content-type"] == got.headers["content-type"]
    missing = await probe.head("/no/such/route")
    assert (missing.status_code, missing.content, missing.headers["content-type"]) == (
        404,
        b"",
        "application/problem+json",
    )
    assert (await probe.head("/oauth2/token")).status_code == 405  # a POST-only resource


async def test_a_405_allows_every_method_of_the_resource(probe: httpx.AsyncClient) -> None:
    """Each method of a resource is a route of its own; the Allow of a 405 names them all, not only the first's."""
    collection = await probe.request("OPTIONS", "/api/v1/admin/accounts")
    assert_problem(collection, 405, "method-not-allowed")
    assert collection.headers["allow"] == "GET, POST"
    one = await probe.delete("/api/v1/permits/applications/01a211b1-bc14-7cf9-b233-b22f5788b9ce")
    assert_problem(one, 405, "method-not-allowed")
    assert one.headers["allow"] == "GET, PATCH"
    # A literal path beside a templated one that also matches it (/webhooks/{webhook_id}) is its own resource.
    literal = await probe.request("OPTIONS", "/api/v1/partners/webhooks/events")
    assert_problem(literal, 405, "method-not-allowed")
    assert literal.headers["allow"] == "GET"


async def test_malformed_json_is_a_400_problem(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/_probe/items", content=b'{"name": "x", "count": ', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "malformed-body")
    assert "JSON" in body["title"]


async def test_invalid_fields_are_a_422_problem_naming_each_field(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/_probe/items", json={"name": "", "count": -1, "owner_id": "me"})
    body = assert_problem(response, 422, "validation-failed")
    fields = {(error["field"], error["code"]) for error in body["errors"]}
    assert fields == {
        ("name", "string_too_short"),
        ("count", "greater_than_equal"),
        ("owner_id", "extra_forbidden"),
    }
    assert all(error["location"] == "body" for error in body["errors"])


async def test_oversized_body_is_a_413_problem(probe: httpx.AsyncClient) -> None:
    huge = b'{"name": "' + b"x" * 2_000_000 + b'", "count": 1}'
    response = await probe.post("/_probe/items", content=huge, headers={"content-type": "application/json"})
    assert_problem(response, 413, "payload-too-large")


async def test_a_json_route_sent_another_format_is_a_415_problem(probe: httpx.AsyncClient) -> None:
    """The format is refused before anything else is looked at, rather than read as a body that fails validation."""
    draft = '{"service_code": "business-licence", "form": {}}'
    for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"content-type": media} if media else {}
        refused = await probe.post("/api/v1/permits/applications", content=draft, headers=headers)
        assert assert_problem(refused, 415, "unsupported-media-type")["detail"] == "Send the body as application/json."
    patched = await probe.patch(
        "/api/v1/permits/applications/01a211b1-bc14-7cf9-b233-b22f5788b9ce",
        content="{}",
        headers={"content-type": "text/csv"},
    )
    assert_problem(patched, 415)
    assert patched.headers["accept-patch"] == "application/json"
    # JSON in any of its spellings, or no body at all, goes on to the route (here: its token check).
    for media in (
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ):
        assert_problem(
            await probe.post("/api/v1/permits/applications", content=draft, headers={"content-type": media}), 401
        )
    assert_problem(
        await probe.post("/api/v1/permits/applications/01a211b1-bc14-7cf9-b233-b22f5788b9ce/actions/submit"), 401
    )


async def test_unhandled_error_is_a_500_problem_without_internals(probe: httpx.AsyncClient) -> None:
    response = await probe.get("/_probe/boom")
    body = assert_problem(response, 500, "internal-error")
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert "request id" in body["detail"]
    # The safety net still adds the security headers.
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_domain_errors_carry_their_status_code_and_field_errors(probe: httpx.AsyncClient) -> None:
    body = assert_problem(await probe.get("/_probe/conflict"), 409, "conflict")
    assert body["detail"] == "The application was changed by someone else."
    body = assert_problem(await probe.get("/_probe/invalid"), 422, "validation-failed")
    assert body["errors"] == [
        {"location": "body", "field": "form.0.code", "detail": "duplicate code", "code": "duplicate"}
    ]


async def test_docs_assets_refuse_path_traversal(probe: httpx.AsyncClient) -> None:
    assert_problem(await probe.get("/docs/assets/..%2F..%2Fpyproject.toml"), 404)
    response = await probe.get("/docs/assets/swagger-ui.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")


async def test_a_denied_access_is_a_structured_event_without_the_token(app, client, caplog) -> None:
    from tests.oauth import bearer, token_for

    token = await token_for(app, "13800000001", "openid profile", client_id="demo-web")
    with caplog.at_level("WARNING", logger="ti.security"):
        assert_problem(await client.get("/api/v1/admin/accounts", headers=bearer(token)), 403)
        assert_problem(await client.get("/api/v1/admin/accounts"), 401)
    denied, anonymous = [record for record in caplog.records if record.getMessage() == "access denied"]
    me = (await client.get("/api/v1/me", headers=bearer(token))).json()
    assert (denied.status, denied.code, denied.route, denied.subject, denied.client_id) == (
        403,
        "insufficient-scope",
        "/api/v1/admin/accounts",
        me["id"],
        "demo-web",
    )
    assert (anonymous.status, anonymous.subject) == (401, None)
    assert token not in caplog.text


async def test_a_database_errors_text_carries_none_of_the_statements_values(db) -> None:
    """The text is logged, and kept as a worker event's last error: the values are often a citizen's data."""
    secret = "440703199001010023"
    row = {"owner": "o", "key": "k", "method": "POST", "path": secret, "fingerprint": "f", "expires_at": utcnow()}
    async with db.transaction() as session:
        session.add(IdempotencyRecord(**row))
    with pytest.raises(IntegrityError) as raised:
        async with db.transaction() as session:
            session.add(IdempotencyRecord(**row))
    assert secret not in str(raised.value)
    assert "hidden" in str(raised.value)
