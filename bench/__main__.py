"""`python -m bench`: start real servers, drive each scenario with wrk, print one row per scenario.

Every figure is compared with the bare baseline measured in the same run, on the same machine, with the same server
stack and worker count: ratios are what to quote, absolute numbers move with whatever else the machine is doing.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.scenarios import SCENARIOS, Scenario

ROOT = Path(__file__).resolve().parent.parent
WARM_UP_SECONDS = 3
PYTHON = sys.executable


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk from Debian's packages ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        return shutil.which("wrk") or sys.exit("wrk did not install")
    sys.exit("wrk is required: apt-get install wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(commands: list[list[str]], port: int, ready_path: str, env: dict[str, str]):
    """The server processes (one per command), ready: every one answers `ready_path` before the load starts."""
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        for command in commands
    ]
    try:
        deadline = time.monotonic() + 90
        ready = 0
        while ready < 5 * len(processes):  # answers in a row: the kernel has spread them over every process
            for process in processes:
                if process.poll() is not None:
                    raise SystemExit(f"server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200
                ready = ready + 1 if ok else 0
            except httpx.HTTPError:
                ready = 0
            if time.monotonic() > deadline:
                raise SystemExit("server did not become ready")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * _UNITS[unit]


# Counts every response by status in each wrk thread and prints the totals (wrk's own counter lumps 3xx with 2xx),
# and the first unexpected answer's body, so that a rare failure says what it was.
STATUS_COUNTER = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status >= 300) and status ~= expected and not unexpected then
    unexpected = string.format("%d %s", status, string.sub(body or "", 1, 300))
  end
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do total[code] = (total[code] or 0) + n end
    local first = thread:get("unexpected")
    if first then io.write("unexpected " .. string.gsub(first, "\\n", " ") .. "\\n") end
  end
  for code, n in pairs(total) do io.write(string.format("status %d %d\\n", code, n)) end
end
"""


def uvicorn_commands(port: int, workers: int, app: str, *, factory: bool = False) -> list[list[str]]:
    """The same server stack for the baseline and the app: uvicorn (uvloop, httptools), no access log, N worker
    processes, each on its own SO_REUSEPORT socket (bench/serve.py says why)."""
    command = [PYTHON, "-m", "bench.serve", "--port", str(port), *(["--factory"] if factory else []), app]
    return [command] * workers


def run_wrk(wrk: str, base: str, scenario: Scenario, *, duration: int, connections: int, threads: int) -> Result:
    lua_lines = [f'wrk.method = "{scenario.method}"']
    for name, value in scenario.headers.items():
        lua_lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    if scenario.body is not None:
        lua_lines.append(f"wrk.body = {json.dumps(scenario.body)}")
    if scenario.lua:
        lua_lines.append(scenario.lua)
    lua_lines.append(f"expected = {scenario.expect_status or 0}")
    lua_lines.append(STATUS_COUNTER)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua_lines) + "\n")
    try:
        output = subprocess.run(
            [
                wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                script.name,
                base + scenario.path,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    statuses = {int(code): int(n) for code, n in re.findall(r"^status (\d+) (\d+)$", output, re.MULTILINE)}
    # A scenario whose success is a redirect (a login's 303) names it in expect_status.
    non_2xx = sum(n for code, n in statuses.items() if not 200 <= code < 300 and code != scenario.expect_status)
    if non_2xx:
        print(f"  {scenario.name}: statuses {dict(sorted(statuses.items()))}", flush=True)
        for line in re.findall(r"^unexpected (.*)$", output, re.MULTILINE):
            print(f"    first unexpected answer: {line}", flush=True)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return Result(scenario.name, rps, p50, p99, requests, non_2xx, errors)


@contextmanager
def bench_database(kind: str):
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="ti-bench-")
        yield f"sqlite+aiosqlite:///{folder}/bench.db"
        shutil.rmtree(folder, ignore_errors=True)
        return
    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    admin_url = make_url(base).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('DROP DATABASE IF EXISTS "ti_bench" WITH (FORCE)'))
        connection.execute(text('CREATE DATABASE "ti_bench"'))
    try:
        yield make_url(base).set(database="ti_bench").render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text('DROP DATABASE IF EXISTS "ti_bench" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves the cores to the server)")
    parser.add_argument("--only", help="comma-separated scenario names (substring match)")
    args = parser.parse_args()

    wrk = ensure_wrk()
    chosen = [s for s in SCENARIOS if not args.only or any(o.strip() in s.name for o in args.only.split(","))]
    load = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("TI_")}

    def measure_baseline(name: str) -> Result:
        port = free_port()
        with server(uvicorn_commands(port, args.workers, "bench.baseline:app"), port, "/", base_env) as base:
            return run_wrk(wrk, base, Scenario(name, "/"), **load)

    before = measure_baseline("bare baseline (before)")

    results = []
    with bench_database(args.db) as url:
        env = {
            **base_env,
            "TI_DATABASE_URL": url,
            "TI_DEMO": "true",
            "TI_LOG_LEVEL": "WARNING",
            "TI_ENV": "development",
        }
        # The limiters stay in the path (their cost is measured); their limits are raised out of the way.
        unlimited = "[1000000000, 60]"
        for name in (
            "LOGIN_ATTEMPTS_PER_ADDRESS",
            "TOKEN_REQUESTS_PER_CLIENT",
            "TOKEN_REQUESTS_PER_ADDRESS",
            "API_REQUESTS_PER_CALLER",
        ):
            env[f"TI_{name}"] = unlimited
        subprocess.run([PYTHON, "main.py", "migrate"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([PYTHON, "main.py", "seed"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        metrics_dir = tempfile.mkdtemp(prefix="ti-bench-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        for target in dict.fromkeys(scenario.app for scenario in chosen):
            port = free_port()
            with server(uvicorn_commands(port, args.workers, target, factory=True), port, "/healthz", env) as base:
                for scenario in (s for s in chosen if s.app == target):
                    if scenario.prepare:
                        scenario.prepare(url)
                    if scenario.setup:
                        with httpx.Client(base_url=base, timeout=30) as http:
                            scenario.setup(scenario, http)
                    # Unmeasured warm-up: pools filled, caches and plans warm (after a bulk load, too), for every
                    # scenario alike, so the measured seconds compare like with like.
                    run_wrk(wrk, base, scenario, **{**load, "duration": WARM_UP_SECONDS})
                    results.append(run_wrk(wrk, base, scenario, **load))
        shutil.rmtree(metrics_dir, ignore_errors=True)

    # The machine is shared: measuring the floor before and after the scenarios and comparing with the mean keeps a
    # drift during the run from biasing every ratio one way.
    after = measure_baseline("bare baseline (after)")
    baseline = Result(
        "bare baseline (mean)",
        (before.rps + after.rps) / 2,
        (before.p50_ms + after.p50_ms) / 2,
        (before.p99_ms + after.p99_ms) / 2,
        before.requests + after.requests,
        before.non_2xx + after.non_2xx,
        before.errors + after.errors,
    )
    title = (
        f"{args.db}, {args.workers} uvicorn workers, wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(f"\n{title}")
    columns = ("req/s", 9), ("p50 ms", 8), ("p99 ms", 8), ("non-2xx", 8), ("errors", 7), ("vs baseline", 12)
    header = f"{'scenario':34} " + " ".join(f"{name:>{width}}" for name, width in columns)
    print(header)
    print("-" * len(header))
    for result in [before, after, baseline, *results]:
        ratio = result.rps / baseline.rps
        print(
            f"{result.name:34} {result.rps:9.0f} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
            f"{result.non_2xx:8d} {result.errors:7d} {ratio:11.1%}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    record = {
        "title": title,
        "baseline": vars(baseline),
        "baselines": [vars(before), vars(after)],
        "results": [vars(r) for r in results],
    }
    (out / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{args.db}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
