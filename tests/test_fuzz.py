"""Schemathesis over every operation of the app's own OpenAPI document: no 5xx, and every response matches the spec."""

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.settings import Settings
from main import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    allow_header_conformance,
]


# The operations come from the spec of an app built without a database; each case then runs against the app of the
# backend under test.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", log_level="WARNING", _env_file=None)).openapi()
)


@pytest.fixture(scope="session")
def fuzz_app(settings: Settings) -> FastAPI:
    # Its own app instance: schemathesis serves it from its own event loop thread, and asyncpg connections
    # belong to the loop that opened them.
    return create_app(settings)


@schema.parametrize()
@hypothesis_settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
    derandomize=True,
)
def test_api_conforms_to_its_spec(case, fuzz_app: FastAPI, db) -> None:
    case.call_and_validate(checks=CHECKS, app=fuzz_app)


@pytest.fixture
async def signed_in(app: FastAPI) -> dict[str, str]:
    from tests.oauth import bearer, token_for

    return bearer(await token_for(app, "13800000001", "openid profile", client_id="demo-web"))


# The what-if validates its body itself (core.http.JsonBody): fuzzed by a signed-in person, so the body is what
# decides the answer (400 or 422, never a 5xx or an answer outside the spec).
@schema.include(operation_id="talent-assess").parametrize()
@hypothesis_settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
def test_the_what_if_body_conforms_signed_in(case, fuzz_app: FastAPI, db, signed_in: dict[str, str]) -> None:
    case.call_and_validate(checks=CHECKS, app=fuzz_app, headers=signed_in)
