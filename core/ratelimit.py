"""Rate limits: sliding windows counted in Redis when configured (shared by every process), in memory otherwise.

A window is counted in slots of its length aligned to the clock. A hit counts the hits of the current slot and those
of the slot before, weighted by how much of it the window sliding back from now still covers (the approximation
Cloudflare describes for its rate limiting). Counting the current slot alone let twice the limit through around a
slot's end, and lifted an account's lockout the moment a slot ended, however recent the failures.
"""

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from core.errors import ServiceUnavailable, TooManyRequests

logger = logging.getLogger("ti.ratelimit")
T = TypeVar("T")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int
    retry_after: int  # seconds until a hit would be allowed again (when this one is refused)


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window: int) -> Decision: ...

    async def count(self, key: str, *, window: int) -> int: ...

    async def peek(self, key: str, *, limit: int, window: int) -> Decision: ...

    async def reset(self, key: str, *, window: int) -> None: ...


def _slot(now: float, window: int) -> tuple[int, float]:
    """Where `now` falls: the current slot's number and how much of it has gone by (0 to 1)."""
    index = int(now // window)
    return index, now / window - index


def sliding_count(previous: int, current: int, elapsed: float) -> int:
    """The hits of the window ending now: the current slot's, and the previous slot's share still inside it (rounded
    up, so a limit is never passed by a fraction)."""
    # (rounded first: at the very instant a share fades to a whole number, float noise must not add a hit)
    return current + math.ceil(round(previous * (1 - elapsed), 6))


def decide(previous: int, current: int, elapsed: float, *, limit: int, window: int) -> Decision:
    """The decision for a hit already counted in `current`, with how long until one more would be allowed if no other
    came (the slot's remaining share of `previous` has to fade, and once `current` is over the limit on its own, the
    next slot has to carry it as its previous one)."""
    count = sliding_count(previous, current, elapsed)
    if count <= limit:
        return Decision(True, count, 1)
    room = limit - current - 1  # what the previous slot's share may still be for one more hit now
    if room >= 0:
        fade_to = 1 - room / previous if previous else 0.0  # the elapsed share at which it has faded enough
        wait = max(fade_to - elapsed, 0.0) * window
    else:  # the next slot: this one becomes its previous, and must fade until `limit - 1` of it is left
        wait = (1 - elapsed) * window + max(1 - (limit - 1) / current, 0.0) * window
    return Decision(False, count, max(math.ceil(round(wait, 6)), 1))


class MemoryRateLimiter:
    """Per-process counters (the embedded default)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # slot (key, window length and slot number) -> (hits, when it stops mattering: the end of the slot after it)
        self._counts: dict[tuple[str, int, int], tuple[int, float]] = {}
        self._last_sweep = 0.0

    def _hits(self, key: str, window: int, index: int) -> int:
        return self._counts.get((key, window, index), (0, 0.0))[0]

    async def hit(self, key: str, *, limit: int, window: int) -> Decision:
        now = self._clock()
        index, elapsed = _slot(now, window)
        # No lock: nothing here awaits, so no other task can run between the read and the write.
        self._sweep(now)
        current = self._hits(key, window, index) + 1
        self._counts[key, window, index] = (current, (index + 2) * window)
        return decide(self._hits(key, window, index - 1), current, elapsed, limit=limit, window=window)

    async def count(self, key: str, *, window: int) -> int:
        index, elapsed = _slot(self._clock(), window)
        return sliding_count(self._hits(key, window, index - 1), self._hits(key, window, index), elapsed)

    async def peek(self, key: str, *, limit: int, window: int) -> Decision:
        """What a hit now would be told, without counting one."""
        index, elapsed = _slot(self._clock(), window)
        previous, current = self._hits(key, window, index - 1), self._hits(key, window, index)
        return decide(previous, current + 1, elapsed, limit=limit, window=window)

    async def reset(self, key: str, *, window: int) -> None:
        index, _ = _slot(self._clock(), window)
        for slot in (index - 1, index):
            self._counts.pop((key, window, slot), None)

    def _sweep(self, now: float) -> None:
        # Once a minute, drop the slots that no window reaches any more (each knows when, whatever its length).
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        self._counts = {slot: entry for slot, entry in self._counts.items() if entry[1] > now}

    def __len__(self) -> int:
        return len(self._counts)


class RedisRateLimiter:
    """Counters every app process shares: INCR + EXPIRE on one key per slot, read with the slot before it.

    Every API request and sign-in counts here, so the connection pool is bounded and waits: redis-py's default pool
    refuses at once past 100 connections, and a burst of requests got 500s. Redis unreachable (or the wait too long)
    is a 503 with Retry-After, not a 500, and not a pass: the limits guard sign-ins."""

    def __init__(self, url: str, *, prefix: str = "ti:rl:", max_connections: int = 50, wait: float = 5.0) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.exceptions import ConnectionError, TimeoutError

        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait)
        self._redis = Redis.from_pool(pool)  # closed with it
        self._unreachable = (ConnectionError, TimeoutError)  # or no pooled connection free within the wait
        self._prefix = prefix

    async def _shared(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except self._unreachable as exc:
            logger.warning("rate limiter unavailable", extra={"error": type(exc).__name__})
            raise ServiceUnavailable(
                "Request counting is unavailable for a moment; try again shortly.", headers={"Retry-After": "1"}
            ) from None

    def _keys(self, key: str, window: int, index: int) -> tuple[str, str]:
        """(previous, current) slot keys."""
        return f"{self._prefix}{key}:{window}:{index - 1}", f"{self._prefix}{key}:{window}:{index}"

    async def hit(self, key: str, *, limit: int, window: int) -> Decision:
        index, elapsed = _slot(time.time(), window)
        previous_key, current_key = self._keys(key, window, index)
        # A slot is read as the previous one through the next slot, so it lives two windows.
        pipe = self._redis.pipeline(transaction=True).incr(current_key).expire(current_key, 2 * window + 1)
        current, _, previous = await self._shared(pipe.get(previous_key).execute())
        return decide(int(previous or 0), current, elapsed, limit=limit, window=window)

    async def count(self, key: str, *, window: int) -> int:
        index, elapsed = _slot(time.time(), window)
        previous, current = await self._shared(self._redis.mget(self._keys(key, window, index)))
        return sliding_count(int(previous or 0), int(current or 0), elapsed)

    async def peek(self, key: str, *, limit: int, window: int) -> Decision:
        """What a hit now would be told, without counting one."""
        index, elapsed = _slot(time.time(), window)
        previous, current = await self._shared(self._redis.mget(self._keys(key, window, index)))
        return decide(int(previous or 0), int(current or 0) + 1, elapsed, limit=limit, window=window)

    async def reset(self, key: str, *, window: int) -> None:
        await self._shared(self._redis.delete(*self._keys(key, window, _slot(time.time(), window)[0])))

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()


async def enforce(limiter: RateLimiter, key: str, *, limit: int, window: int, what: str) -> Decision:
    """Count one request against `key`; 429 with Retry-After once the window's limit is passed."""
    decision = await limiter.hit(key, limit=limit, window=window)
    if not decision.allowed:
        raise TooManyRequests(
            f"Too many {what}; try again in {decision.retry_after} seconds.",
            headers={"Retry-After": str(decision.retry_after)},
        )
    return decision
