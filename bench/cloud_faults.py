"""The cloud fault drill: many identity checks and SMS sends against a failing, slow mock cloud.

    python -m bench.cloud_faults [--calls 500] [--error-rate 0.3] [--latency-ms 200] [--concurrency 50]

starts the mock cloud as its own process, injects the faults through its admin endpoint, drives the calls through the
real adapter (signing, timeouts, retries, breakers), and then counts on both sides: every call either succeeded or
failed with a clear error, none is lost, and the cloud applied each successful call exactly once (SMS by client
token). The test suite runs the same drill in-process (tests/services/cloud/test_fault_drill.py).
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.outbound import guarded_client
from core.settings import Settings
from services.cloud.adapters import CloudIdentityVerification, CloudSms
from services.cloud.client import CloudClient
from services.cloud.exceptions import CloudError, CloudUnavailable

ROOT = Path(__file__).resolve().parent.parent
VERIFIED_ID = "440703199203150034"


@dataclass
class DrillReport:
    calls: int
    outcomes: Counter = field(default_factory=Counter)
    sms_tokens_ok: set[str] = field(default_factory=set)
    identity_ok: int = 0
    seconds: float = 0.0

    @property
    def accounted(self) -> int:
        return sum(self.outcomes.values())


async def run_drill(client: CloudClient, *, calls: int, concurrency: int) -> DrillReport:
    """Half identity checks, half SMS sends; each call ends as ok, refused (CloudError) or unavailable."""
    identity, sms = CloudIdentityVerification(client), CloudSms(client)
    report = DrillReport(calls=calls)
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            token = uuid.uuid4().hex
            try:
                if index % 2:
                    await sms.send(phone="13800000001", template="100001", params=[str(index)], client_token=token)
                    report.sms_tokens_ok.add(token)
                else:
                    await identity.verify_identity(name="陈明", id_number=VERIFIED_ID)
                    report.identity_ok += 1
                report.outcomes["ok"] += 1
            except CloudUnavailable as exc:
                report.outcomes["circuit_open" if exc.reason == "circuit open" else "unavailable"] += 1
            except CloudError:
                report.outcomes["refused"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    report.seconds = time.perf_counter() - started
    return report


def check(report: DrillReport, *, executed_sms: int, executed_identity: int) -> list[str]:
    """What is wrong with the drill's accounting (empty: nothing lost, nothing duplicated)."""
    problems = []
    if report.accounted != report.calls:
        problems.append(f"{report.calls - report.accounted} calls neither succeeded nor failed")
    if executed_sms != len(report.sms_tokens_ok):
        problems.append(f"cloud sent {executed_sms} SMS, we saw {len(report.sms_tokens_ok)} succeed")
    if executed_identity != report.identity_ok:
        problems.append(f"cloud ran {executed_identity} identity checks, we saw {report.identity_ok} succeed")
    return problems


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mock_process(port: int, data_dir: str, *, faults: str | None = None) -> subprocess.Popen:
    command = [sys.executable, "main.py", "cloud-mock", "--port", str(port), "--callback-url", "http://127.0.0.1:9"]
    if faults:
        command += ["--faults", faults]
    env = {**os.environ, "TI_CLOUD_MOCK_DIR": data_dir, "TI_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the mock cloud did not start")


def client_for(base_url: str, settings: Settings, **options: float) -> CloudClient:
    http = guarded_client(base_url=base_url, trusted_hosts={httpx.URL(base_url).host}, schemes=("http",))
    return CloudClient(
        http=http,
        secret_id=settings.cloud_secret_id,
        secret_key=settings.cloud_secret_key.get_secret_value(),
        region=settings.cloud_region,
        **options,
    )


async def _main(args: argparse.Namespace) -> int:
    settings = Settings()
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        process = start_mock_process(port, data_dir)
        try:
            base = f"http://127.0.0.1:{port}"
            faults = {"*": {"error_rate": args.error_rate, "latency_ms": args.latency_ms}}
            client = client_for(base, settings, timeout=2.0, backoff=0.1)
            async with httpx.AsyncClient(base_url=base) as admin:
                (await admin.put("/_mock/faults", json=faults)).raise_for_status()
                report = await run_drill(client, calls=args.calls, concurrency=args.concurrency)
                stats = (await admin.get("/_mock/stats")).json()
            await client.http.aclose()
        finally:
            process.terminate()
            process.wait(timeout=10)
    executed = stats["executed"]
    problems = check(
        report, executed_sms=executed.get("sms_messages", 0), executed_identity=executed.get("identity_checks", 0)
    )
    print(
        f"{args.calls} calls, {args.error_rate:.0%} errors, {args.latency_ms:.0f} ms latency: {dict(report.outcomes)}"
    )
    print(f"cloud side: received {sum(stats['received'].values())} requests, executed {executed}")
    print(f"our side: {len(report.sms_tokens_ok)} SMS ok, {report.identity_ok} identity checks ok")
    print("OK: nothing lost, nothing duplicated" if not problems else "PROBLEMS: " + "; ".join(problems))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cloud_faults")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--error-rate", type=float, default=0.3)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
