"""The rate limiters' contract, for the in-process counters and (when TEST_REDIS_URL is set) the shared Redis ones:
every hit is counted exactly once, however many arrive at once, and the one past the limit is refused until enough
of the window has slid by."""

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from core.errors import ServiceUnavailable, TooManyRequests
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
    # Until the window has slid far enough: past this slot's end, and then part of the next (at most two windows).
    assert 1 <= retry_after <= 2 * 600
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
    # Two days on, nothing of the first is in the window any more (one day on, part of it still is: see below).
    now[0] += 2 * 86_400
    assert (await limiter.hit("signups", limit=10, window=86_400)).count == 1
    assert len(limiter) == 1


async def test_a_burst_across_a_slots_end_is_still_one_window() -> None:
    """Six sign-in attempts in the last second of a minute and six in the first of the next: counted in fixed slots
    all twelve got through; the window sliding over both refuses the second six."""
    now = [1_800_000_000.0 - 1_800_000_000.0 % 60 + 59.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    assert all([(await limiter.hit("login", limit=6, window=60)).allowed for _ in range(6)])
    now[0] += 1.5  # half a second into the next slot
    late = [await limiter.hit("login", limit=6, window=60) for _ in range(6)]
    assert not any(decision.allowed for decision in late)
    # As the window slides on, the old attempts fade out of it: at 45 s, six of them are a quarter inside.
    now[0] += 44.5
    assert await limiter.count("login", window=60) == 6 + 2  # the refused six count too, and ceil(6 * 0.25)


async def test_retry_after_is_when_the_next_hit_is_allowed() -> None:
    """Whatever the mix of old and new hits, the next hit is refused a second before Retry-After and allowed at it."""
    start = 1_800_000_000.0 - 1_800_000_000.0 % 600
    for before, after, offset in [(0, 5, 10.0), (3, 2, 0.0), (4, 3, 300.0), (10, 4, 599.0), (2, 9, 120.0)]:
        now = [start + offset - 600.0]
        limiter = MemoryRateLimiter(clock=lambda now=now: now[0])
        for _ in range(before):  # in the previous slot
            await limiter.hit("k", limit=4, window=600)
        now[0] = start + offset
        decision = None
        for _ in range(after):
            decision = await limiter.hit("k", limit=4, window=600)
        assert decision is not None
        assert not decision.allowed, (before, after, offset)
        refused_at = now[0]
        # A peek (what the next hit would be told) counts nothing.
        counted = await limiter.count("k", window=600)
        assert not (await limiter.peek("k", limit=4, window=600)).allowed
        assert await limiter.count("k", window=600) == counted
        now[0] = refused_at + decision.retry_after - 1
        assert not (await limiter.peek("k", limit=4, window=600)).allowed, (before, after, offset, decision)
        now[0] = refused_at + decision.retry_after
        assert (await limiter.peek("k", limit=4, window=600)).allowed, (before, after, offset, decision)


async def test_an_accounts_lockout_outlasts_a_slots_end(limiter: RateLimiter) -> None:
    """The failures of the last minutes still count after the slot they fell in has ended (the lockout used to lift
    at the slot's end); a successful sign-in's reset clears them."""
    for _ in range(5):
        await limiter.hit("login:fail:a", limit=5, window=2)
    await asyncio.sleep(2.2 - time.time() % 2)  # into the next slot, 0.2 s in
    assert await limiter.count("login:fail:a", window=2) >= 5
    locked = await limiter.peek("login:fail:a", limit=5, window=2)
    assert not locked.allowed
    assert 1 <= locked.retry_after <= 4
    await limiter.reset("login:fail:a", window=2)
    assert await limiter.count("login:fail:a", window=2) == 0
    assert (await limiter.peek("login:fail:a", limit=5, window=2)).allowed


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs TEST_REDIS_URL")
async def test_more_callers_than_pooled_connections_wait_their_turn() -> None:
    """Past its pool's size a burst waits for a connection (redis-py's default pool refused at once: 500s)."""
    shared = RedisRateLimiter(os.environ["TEST_REDIS_URL"], prefix=f"ti:test:{uuid.uuid4().hex}:")
    try:
        decisions = await asyncio.gather(*(shared.hit("burst", limit=1000, window=60) for _ in range(250)))
    finally:
        await shared.close()
    assert sorted(decision.count for decision in decisions) == list(range(1, 251))


async def test_an_unreachable_counter_is_a_503_not_a_500_and_not_a_pass() -> None:
    gone = RedisRateLimiter("redis://127.0.0.1:1/0", wait=0.5)
    try:
        for attempt in (gone.hit("k", limit=5, window=60), gone.peek("k", limit=5, window=60)):
            with pytest.raises(ServiceUnavailable) as refused:
                await attempt
            assert refused.value.headers == {"Retry-After": "1"}
    finally:
        await gone.close()
