"""The adapter against the mock cloud as a separate process, and the fault drill (30% errors, 200 ms latency)."""

import asyncio
import os

import httpx
import pytest

from bench.cloud_faults import _free_port, check, client_for, run_drill, start_mock_process
from core.outbound import BlockedDestination, guarded_client
from core.settings import Settings
from services.cloud.adapters import CloudIdentityVerification, CloudObjectStorage, CloudSms
from services.cloud.mock_server import PERSONAS, MockCloud
from services.cloud.ports import IdentityMatch
from tests.services.cloud.conftest import sha256_hex


@pytest.fixture(scope="module")
def mock_process(tmp_path_factory):
    port = _free_port()
    process = start_mock_process(port, str(tmp_path_factory.mktemp("mock-process")))
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


async def test_the_adapter_against_the_mock_as_its_own_process(mock_process: str) -> None:
    settings = Settings(_env_file=None)
    client = client_for(mock_process, settings, timeout=2.0, backoff=0.05)
    try:
        identity = CloudIdentityVerification(client)
        assert await identity.verify_identity(name="陈明", id_number="440703199203150034") is IdentityMatch.MATCH
        mismatch = await identity.verify_identity(name="陈明", id_number=PERSONAS["id_mismatch"])
        assert mismatch is IdentityMatch.MISMATCH
        sent = await CloudSms(client).send(phone="13800000001", template="100001", params=["1"], client_token="p-1")
        assert sent.serial_no

        storage = CloudObjectStorage(client, public_base_url=mock_process, bucket="docs", ttl=300)
        upload = await storage.presign_upload("a/scan.png", content_type="image/png", max_bytes=1000)
        async with httpx.AsyncClient() as browser:
            assert (await browser.put(upload.url, content=b"\x89PNG....", headers=upload.headers)).status_code == 200
        head = await storage.head("a/scan.png")
        assert head.sha256 == sha256_hex(b"\x89PNG....")
        assert head.size == 8

        # Faults set through the mock's admin endpoint apply across the network too: retried, then fine.
        async with httpx.AsyncClient() as admin:
            await admin.put(f"{mock_process}/_mock/faults", json={"IdCardVerification": {"fail_next": 2}})
            assert await identity.verify_identity(name="陈明", id_number="440703199203150034") is IdentityMatch.MATCH
            stats = (await admin.get(f"{mock_process}/_mock/stats")).json()
        assert stats["received"]["faceid.IdCardVerification"] == 2 + 3
    finally:
        await client.http.aclose()


async def test_the_guard_refuses_loopback_unless_it_is_the_configured_cloud(mock_process: str) -> None:
    async with guarded_client(schemes=("http",)) as untrusted:
        with pytest.raises(BlockedDestination):
            await untrusted.get(f"{mock_process}/healthz")


async def test_the_fault_drill_loses_and_duplicates_nothing(mock: MockCloud, make_client) -> None:
    mock.set_faults({"*": {"error_rate": 0.3, "latency_ms": 200}})
    client = make_client(timeout=2.0, backoff=0.05, sleep=asyncio.sleep)
    report = await run_drill(client, calls=500, concurrency=100)
    assert report.accounted == 500
    assert report.outcomes["ok"] > 250  # retries turn most of the 30% failures into successes
    executed = mock.executed
    assert check(report, executed_sms=executed["sms_messages"], executed_identity=executed["identity_checks"]) == []
    assert sum(mock.received.values()) > 500  # the failures really happened and were retried


def test_the_drill_script_runs_against_a_separate_mock() -> None:
    """`python -m bench.cloud_faults` with a small run: it exits 0 only when both sides' counts agree."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "bench.cloud_faults", "--calls", "60", "--latency-ms", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing lost, nothing duplicated" in result.stdout
