"""The one client for the government cloud: signed calls, timeouts, retries with backoff, a breaker per service.

A call is retried only when the failure is retryable (a timeout, a dropped connection, HTTP 5xx, or one of the
cloud's transient codes) and the call is safe to repeat: idempotent by nature, or carrying its own client token, so
the cloud applies it once however often it arrives. Each cloud service (sms, faceid, ...) has its own breaker: after
`breaker_failures` consecutive infrastructure failures it opens and calls fail fast with `CloudUnavailable` for
`breaker_reset` seconds; then one probe call is let through (half-open), and its outcome closes or re-opens it.
Business answers (a mismatch, a declined card, a bad parameter) are not failures of the service.

Logs carry service, action, attempt, error code and the cloud's RequestId, never parameters or keys.
"""

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from prometheus_client import Counter, Gauge, Histogram

from core.breaker import CircuitBreaker
from services.cloud import signing
from services.cloud.exceptions import CloudError, CloudUnavailable

logger = logging.getLogger("ti.cloud")

CALLS = Counter(
    "cloud_calls_total", "Cloud calls by service, action and final outcome.", ["service", "action", "outcome"]
)
ATTEMPTS = Counter(
    "cloud_attempts_total", "Cloud call attempts by service, action and result.", ["service", "action", "result"]
)
LATENCY = Histogram(
    "cloud_call_duration_seconds",
    "Cloud call latency including retries.",
    ["service", "action"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BREAKER_OPEN = Gauge("cloud_breaker_open", "1 while a service's breaker is open.", ["service"], multiprocess_mode="max")

# Error codes of API 3.0 that mean "try again": the request was not applied, or applying it again is harmless.
RETRYABLE_CODES = frozenset(
    {"InternalError", "RequestLimitExceeded", "ResourceUnavailable", "FailedOperation.Timeout", "ServiceUnavailable"}
)


class _Retryable(Exception):
    def __init__(self, reason: str, error: CloudError | None = None) -> None:
        super().__init__(reason)
        self.reason, self.error = reason, error


class CloudClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        secret_id: str,
        secret_key: str,
        region: str,
        host_suffix: str = "tencentcloudapi.com",
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff: float = 0.2,
        breaker_failures: int = 5,
        breaker_reset: float = 30.0,
        breaker_clock: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self._secret_id, self._secret_key = secret_id, secret_key
        self.region, self.host_suffix = region, host_suffix
        self.timeout, self.max_attempts, self.backoff = timeout, max_attempts, backoff
        self.breaker_failures, self.breaker_reset, self.breaker_clock = breaker_failures, breaker_reset, breaker_clock
        self.clock, self.sleep = clock, sleep
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not secrecy)
        self.breakers: dict[str, CircuitBreaker] = {}

    def __repr__(self) -> str:  # never the key
        return f"CloudClient(base_url={str(self.http.base_url)!r}, secret_id={self._secret_id!r})"

    def breaker(self, service: str) -> CircuitBreaker:
        if service not in self.breakers:
            self.breakers[service] = CircuitBreaker(
                service,
                failures=self.breaker_failures,
                reset=self.breaker_reset,
                clock=self.breaker_clock,
                gauge=BREAKER_OPEN,
            )
        return self.breakers[service]

    def presign(self, *, method: str, path: str, expires: int, max_bytes: int = 0, write_once: bool = False) -> str:
        return signing.presign(
            secret_key=self._secret_key,
            method=method,
            path=path,
            expires=expires,
            max_bytes=max_bytes,
            write_once=write_once,
        )

    @property
    def secret_id(self) -> str:
        return self._secret_id

    async def call(
        self, service: str, action: str, version: str, params: dict[str, Any], *, idempotent: bool
    ) -> dict[str, Any]:
        """The `Response` object of a successful call; CloudError or CloudUnavailable otherwise."""
        breaker = self.breaker(service)
        started = time.perf_counter()
        outcome = "error"
        try:
            for attempt in range(1, self.max_attempts + 1):
                if not breaker.admits():
                    raise CloudUnavailable(
                        service=service, action=action, reason="circuit open", retry_after=breaker.retry_after()
                    )
                try:
                    response = await self._attempt(service, action, version, params)
                except _Retryable as failure:
                    breaker.failed()
                    ATTEMPTS.labels(service, action, failure.reason).inc()
                    logger.warning(
                        "cloud call failed",
                        extra={"service": service, "action": action, "attempt": attempt, "reason": failure.reason},
                    )
                    if not idempotent or attempt == self.max_attempts:
                        outcome = "unavailable"
                        raise CloudUnavailable(
                            service=service,
                            action=action,
                            reason=f"{failure.reason} after {attempt} attempt(s)",
                            retry_after=breaker.retry_after() if breaker.state != "closed" else 5,
                        ) from failure.error
                    # Exponential backoff with full jitter: retries of many callers spread out instead of aligning.
                    await self.sleep(self.rng.uniform(0, self.backoff * 2 ** (attempt - 1)))
                    continue
                except CloudError:
                    breaker.succeeded()  # the service answered; the answer was "no"
                    ATTEMPTS.labels(service, action, "refused").inc()
                    outcome = "refused"
                    raise
                breaker.succeeded()
                ATTEMPTS.labels(service, action, "ok").inc()
                outcome = "ok"
                return response
            raise AssertionError("unreachable")  # pragma: no cover
        except CloudUnavailable as exc:
            if exc.reason == "circuit open":
                outcome = "circuit_open"
            raise
        finally:
            CALLS.labels(service, action, outcome).inc()
            LATENCY.labels(service, action).observe(time.perf_counter() - started)

    async def _attempt(self, service: str, action: str, version: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signing.signed_headers(
            secret_id=self._secret_id,
            secret_key=self._secret_key,
            service=service,
            host=f"{service}.{self.host_suffix}",
            timestamp=int(self.clock()),
            body=body,
            extra={"x-tc-action": action},
        )
        headers |= {"x-tc-version": version, "x-tc-region": self.region}
        try:
            # The transport's own timeouts do not cover an in-process (ASGI) cloud; this bounds every attempt.
            async with asyncio.timeout(self.timeout):
                response = await self.http.post("/", content=body, headers=headers)
        except TimeoutError:
            raise _Retryable("timeout") from None
        except httpx.TransportError:
            raise _Retryable("connection") from None
        if response.status_code >= 500:
            raise _Retryable(f"http_{response.status_code}")
        try:
            envelope = response.json()["Response"]
        except (ValueError, KeyError, TypeError):
            raise _Retryable("malformed_response") from None
        error = envelope.get("Error")
        if error:
            failure = CloudError(
                service=service,
                action=action,
                cloud_code=str(error.get("Code")),
                message=str(error.get("Message")),
                request_id=envelope.get("RequestId"),
            )
            if failure.cloud_code in RETRYABLE_CODES:
                raise _Retryable(failure.cloud_code, failure)
            raise failure
        return envelope
