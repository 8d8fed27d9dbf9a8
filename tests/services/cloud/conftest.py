"""A mock cloud in-process and clients for it, without the backend (the adapter's own tests)."""

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from core.outbound import guarded_client
from services.cloud.client import CloudClient
from services.cloud.mock_server import MockCloud, create_mock_app

SECRET_ID, SECRET_KEY = "AKIDadaptertest", "adapter-test-key"


@pytest.fixture
def mock(tmp_path: Path) -> MockCloud:
    return MockCloud(
        api_secrets={SECRET_ID: SECRET_KEY},
        callback_secret_id="AKIDcb",
        callback_secret_key="cb",
        data_dir=tmp_path / "mock",
        public_base_url="http://mock-cloud.test",
        hang_seconds=1.0,
    )


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def make_client(mock: MockCloud, sleeps: list[float]) -> AsyncIterator[Callable[..., CloudClient]]:
    made: list[CloudClient] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def make(**options) -> CloudClient:
        transport = httpx.ASGITransport(create_mock_app(mock))
        defaults = {
            "http": guarded_client(base_url="http://mock-cloud.internal", transport=transport),
            "secret_id": SECRET_ID,
            "secret_key": SECRET_KEY,
            "region": "ap-guangzhou",
            "timeout": 0.5,
            "max_attempts": 3,
            "backoff": 0.1,
            "sleep": record_sleep,
        }
        client = CloudClient(**(defaults | options))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.http.aclose()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
