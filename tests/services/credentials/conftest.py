"""Credentials issued straight through the service (the permit and talent flows that call it are tested there)."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from auth.models import Account
from core.models import utcnow
from services.credentials import service
from services.credentials.models import Credential
from tests.oauth import bearer, token_for

CITIZEN, OTHER_CITIZEN = "13800000001", "13800000002"
CREDENTIALS = "/api/v1/credentials"
VERIFY = f"{CREDENTIALS}/verify"

Issue = Callable[..., Awaitable[Credential]]


async def account_id(app, db, login: str) -> uuid.UUID:
    identity = app.state.identity
    condition = (
        Account.phone_hash == identity.cipher.lookup_hash(login, context="phone")
        if login.isdigit()
        else Account.username == login
    )
    async with db.transaction(write=False) as session:
        return (await session.execute(select(Account.id).where(condition))).scalar_one()


@pytest.fixture
async def holder_id(app, db) -> uuid.UUID:
    return await account_id(app, db, CITIZEN)


@pytest.fixture
def issue(app, db, holder_id) -> Issue:
    """Issue a market-regulation permit to the citizen (override any argument)."""
    counter = iter(range(1, 1000))

    async def issue(**overrides: Any) -> Credential:
        now = utcnow()
        arguments: dict[str, Any] = {
            "kind": "permit",
            "number": f"TI-PERMIT-2026-{next(counter):06d}",
            "holder_account_id": holder_id,
            "holder_name": "江门人才岛咖啡有限公司",
            "department": "market",
            "title": {"zh-CN": "食品经营许可证", "en": "Food business licence"},
            "conditions": [{"zh-CN": "仅限堂食", "en": "Dine-in only"}],
            "valid_from": now - timedelta(days=1),
            "valid_until": now + timedelta(days=365),
            "subject_type": "permit_application",
            "subject_id": uuid.uuid4(),
        } | overrides
        arguments.setdefault("identity", app.state.identity)
        async with db.transaction() as session:
            return await service.issue(session=session, **arguments)

    return issue


@pytest.fixture
async def citizen(app) -> dict[str, str]:
    """The holder through the city's portal (`account` shows them every kind of credential they hold)."""
    return bearer(await token_for(app, CITIZEN, "openid profile account", client_id="demo-web"))


@pytest.fixture
async def other_citizen(app) -> dict[str, str]:
    return bearer(await token_for(app, OTHER_CITIZEN, "openid profile account", client_id="demo-web"))


@pytest.fixture
async def supervisor(app) -> dict[str, str]:
    return bearer(await token_for(app, "supervisor.market", "openid permits:process"))


@pytest.fixture
async def officer(app) -> dict[str, str]:
    return bearer(await token_for(app, "officer.market", "openid permits:process"))


@pytest.fixture
async def housing_officer(app) -> dict[str, str]:
    return bearer(await token_for(app, "officer.housing", "openid permits:process"))
