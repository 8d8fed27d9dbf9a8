"""Named scenarios. Each issue adds its own; `setup` runs once against the live server (to get a token, ids...)."""

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Scenario:
    name: str
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    # Lua run by wrk for requests that must differ from one another (unique keys, rotating ids).
    lua: str | None = None
    # Called with an httpx client on the running server before the load starts; may fill headers / lua.
    setup: Callable[["Scenario", httpx.Client], None] | None = None
    expect_status: int = 200
    # The ASGI app factory served for this scenario.
    app: str = "main:create_app"


KERNEL_APP = "bench.kernel_app:create_bench_app"
NOTE = '{"text": "a note of ordinary length for a benchmark write"}'
JSON = {"Content-Type": "application/json"}

SCENARIOS: list[Scenario] = [
    Scenario("healthz", "/healthz"),
    # A database round trip on every request (SELECT 1 through the pooled async engine).
    Scenario("readyz (db read)", "/readyz"),
    # The audit chain's cost: one insert per request, then the same insert plus its hash-chained audit entry.
    Scenario("write", "/bench/notes", "POST", JSON, NOTE, app=KERNEL_APP, expect_status=201),
    Scenario("write + audit entry", "/bench/audited-notes", "POST", JSON, NOTE, app=KERNEL_APP, expect_status=201),
]
