"""Assertions shared by the tests."""

import httpx

from core.errors import PROBLEM_JSON, PROBLEM_TYPE_PREFIX


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is an RFC 9457 problem with this status (and code); returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_TYPE_PREFIX)
    assert body["title"]
    if code is not None:
        assert body["type"] == PROBLEM_TYPE_PREFIX + code, body
    assert body["request_id"] == response.headers["x-request-id"]
    return body
