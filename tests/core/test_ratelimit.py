"""The rate limiters' contract, for the in-process counters and (when TEST_REDIS_URL is set) the shared Redis ones:
every hit is counted exactly once, however many arrive at once, and the one past the limit is refused until the
window ends."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from core.errors import TooManyRequests
from core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, enforce

KINDS = ["memory", *(["redis"] if os.environ.get("TEST_REDIS_URL") else [])]


@pytest.fixture(params=KINDS)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    shared = RedisRateLimiter(os.environ["TEST_REDIS_URL"], prefix=f"ti:test:{uuid.uuid4().hex}:")
    yield shared
    await shared.close()


async def test_hits_arriving_together_are_each_counted_once(limiter: RateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.hit("caller", limit=40, window=600) for _ in range(50)))
    assert sorted(decision.count for decision in decisions) == list(range(1, 51))
    assert sum(decision.allowed for decision in decisions) == 40
    assert await limiter.count("caller", window=600) == 50
    assert await limiter.count("someone else", window=600) == 0


async def test_the_hit_past_the_limit_is_refused_with_retry_after(limiter: RateLimiter) -> None:
    for _ in range(3):
        await enforce(limiter, "login:x", limit=3, window=600, what="sign-in attempts")
    with pytest.raises(TooManyRequests) as refused:
        await enforce(limiter, "login:x", limit=3, window=600, what="sign-in attempts")
    retry_after = int(refused.value.headers["Retry-After"])
    assert 1 <= retry_after <= 600
    assert refused.value.detail == f"Too many sign-in attempts; try again in {retry_after} seconds."
    await limiter.reset("login:x", window=600)
    assert (await enforce(limiter, "login:x", limit=3, window=600, what="sign-in attempts")).count == 1


async def test_in_memory_windows_of_any_length_last_their_length_and_no_longer() -> None:
    now = [1_800_000_000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    for _ in range(3):
        await limiter.hit("signups", limit=10, window=86_400)
        await limiter.hit("api", limit=10, window=60)
    # An hour later (a sweep runs at most once a minute): the day's count stands, the minute's window has ended.
    now[0] += 3_600
    assert (await limiter.hit("signups", limit=10, window=86_400)).count == 4
    assert (await limiter.hit("api", limit=10, window=60)).count == 1
    assert len(limiter) == 2  # the ended minute's counter is gone, not kept forever
    # The next day starts over.
    now[0] += 86_400
    assert (await limiter.hit("signups", limit=10, window=86_400)).count == 1
    assert len(limiter) == 1
