"""Assertions and builders shared by the tests."""

import uuid
from datetime import datetime

import httpx

from core.errors import PROBLEM_JSON, PROBLEM_TYPE_PREFIX
from core.models import first_id_at


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


async def all_pages(client: httpx.AsyncClient, url: str, headers: dict[str, str], *, limit: int = 1) -> list[dict]:
    """Every item of a keyset list, page by page, each next_cursor sent back as the server gave it."""
    items: list[dict] = []
    cursor = None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await client.get(url, headers=headers, params=params)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if not (cursor := page.json()["next_cursor"]):
            return items


def id_made_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 as new_id() would have made it at `moment` (for a row that must look old)."""
    return uuid.UUID(int=first_id_at(moment).int | uuid.uuid4().int & ((1 << 62) - 1))


class Clock:
    """A monotonic clock the test moves by hand (a breaker's reset)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sms_to(app, phone: str) -> list[dict]:
    """What the mock cloud's SMS service sent to `phone` (11 digits), newest first: the test's handset."""
    sent = [message for message in app.state.cloud.mock.sms.values() if message["Phone"] == f"+86{phone}"]
    return sorted(sent, key=lambda message: message["SentAt"], reverse=True)


async def phone_code(client: httpx.AsyncClient, app, phone: str, purpose: str = "sign_up") -> str:
    """Ask for a one-time code for `phone` and read it off the handset."""
    before = len(sms_to(app, phone))
    response = await client.post("/api/v1/accounts/phone-codes", json={"phone": phone, "purpose": purpose})
    assert response.status_code == 202, response.text
    sent = sms_to(app, phone)
    assert len(sent) == before + 1, "no code was sent"
    return sent[0]["Params"][0]


async def sign_up(client: httpx.AsyncClient, app, body: dict, headers: dict[str, str] | None = None) -> httpx.Response:
    """Sign up the way a citizen does: a code to the phone first, then the account with it."""
    code = await phone_code(client, app, body["phone"])
    return await client.post("/api/v1/accounts", json={**body, "phone_code": code}, headers=headers)
