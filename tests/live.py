"""Real servers for the tests that need one: uvicorn in its own process on 127.0.0.1, on a database of its own."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, keys: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TI_")}
    return env | {
        "TI_DATABASE_URL": database_url,
        "TI_DEMO": "true",
        "TI_ENV": "development",
        "TI_LOG_LEVEL": "WARNING",
        "TI_AUDIT_KEY_FILE": str(keys / "audit.pem"),
        "TI_DATA_KEY_FILE": str(keys / "data.key"),
        **settings,
    }


def prepare(env: dict[str, str]) -> None:
    """Migrate and seed, as `make run` does."""
    for command in ("migrate", "seed"):
        subprocess.run([sys.executable, "main.py", command], cwd=ROOT, env=env, check=True, capture_output=True)


@contextmanager
def live_server(env: dict[str, str], port: int, *, workers: int = 1) -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode()[-3000:])
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
