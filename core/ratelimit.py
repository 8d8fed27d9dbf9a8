"""Rate limits: fixed windows counted in Redis when configured (shared by every process), in memory otherwise."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from core.errors import TooManyRequests


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int
    retry_after: int


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window: int) -> Decision: ...

    async def count(self, key: str, *, window: int) -> int: ...

    async def reset(self, key: str, *, window: int) -> None: ...


class MemoryRateLimiter:
    """Per-process counters (the embedded default)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # slot (key and window number) -> (hits, when the window ends)
        self._counts: dict[str, tuple[int, float]] = {}
        self._last_sweep = 0.0

    def _slot(self, key: str, window: int, now: float) -> tuple[str, int]:
        index = int(now // window)
        return f"{key}:{window}:{index}", math.ceil((index + 1) * window - now)

    async def hit(self, key: str, *, limit: int, window: int) -> Decision:
        now = self._clock()
        slot, remaining = self._slot(key, window, now)
        # No lock: nothing here awaits, so no other task can run between the read and the write.
        self._sweep(now)
        count = self._counts.get(slot, (0, 0.0))[0] + 1
        self._counts[slot] = (count, now + remaining)
        return Decision(count <= limit, count, max(remaining, 1))

    async def count(self, key: str, *, window: int) -> int:
        slot, _ = self._slot(key, window, self._clock())
        return self._counts.get(slot, (0, 0.0))[0]

    async def reset(self, key: str, *, window: int) -> None:
        slot, _ = self._slot(key, window, self._clock())
        self._counts.pop(slot, None)

    def _sweep(self, now: float) -> None:
        # Once a minute, drop the windows that have ended (each slot knows its own end, whatever its length).
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        self._counts = {slot: entry for slot, entry in self._counts.items() if entry[1] > now}

    def __len__(self) -> int:
        return len(self._counts)


class RedisRateLimiter:
    """Counters every app process shares: INCR + EXPIRE on one key per window."""

    def __init__(self, url: str, *, prefix: str = "ti:rl:") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url)
        self._prefix = prefix

    def _slot(self, key: str, window: int, now: float) -> tuple[str, int]:
        index = int(now // window)
        return f"{self._prefix}{key}:{index}", math.ceil((index + 1) * window - now)

    async def hit(self, key: str, *, limit: int, window: int) -> Decision:
        slot, remaining = self._slot(key, window, time.time())
        async with self._redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(slot).expire(slot, window + 1).execute()
        return Decision(count <= limit, count, max(remaining, 1))

    async def count(self, key: str, *, window: int) -> int:
        slot, _ = self._slot(key, window, time.time())
        value = await self._redis.get(slot)
        return int(value or 0)

    async def reset(self, key: str, *, window: int) -> None:
        slot, _ = self._slot(key, window, time.time())
        await self._redis.delete(slot)

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
