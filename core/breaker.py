"""A circuit breaker for calls to something outside that may be down (a cloud service, a partner's receiver).

closed -> (N consecutive failures) -> open: calls are refused at once for `reset` seconds -> half-open: one probe is
let through, and its outcome closes or re-opens it. Each process keeps its own breakers: each learns on its own, at
the cost of at most N failed calls, and none waits on shared state to decide.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("ti.breaker")


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failures: int,
        reset: float,
        clock: Callable[[], float] = time.monotonic,
        gauge: Any = None,
    ) -> None:
        """`gauge`: a Prometheus gauge with one label, set to 1 for `name` while open (omit it for names without
        bound, such as receivers' addresses)."""
        self.name, self.threshold, self.reset, self.clock, self.gauge = name, failures, reset, clock, gauge
        self.consecutive = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.reset else "open"

    def retry_after(self) -> int:
        """Whole seconds until a probe may go (1 when closed)."""
        if self.opened_at is None:
            return 1
        return max(1, int(self.reset - (self.clock() - self.opened_at)) + 1)

    def admits(self) -> bool:
        """Whether a call may go now; in half-open, the call admitted is the probe (and the only one)."""
        state = self.state
        if state == "open" or (state == "half-open" and self.probing):
            return False
        if state == "half-open":
            self.probing = True
        return True

    def succeeded(self) -> None:
        self.consecutive, self.opened_at, self.probing = 0, None, False
        self._show(0)

    def abandoned(self) -> None:
        """A call cut short before it could tell (its task cancelled): no verdict, but a probe's place is free."""
        self.probing = False

    def failed(self) -> None:
        self.consecutive += 1
        if self.probing or self.consecutive >= self.threshold:
            if self.opened_at is None or self.probing:
                logger.warning("breaker opened", extra={"breaker": self.name, "failures": self.consecutive})
            self.opened_at, self.probing = self.clock(), False
            self._show(1)

    def _show(self, value: int) -> None:
        if self.gauge is not None:
            self.gauge.labels(self.name).set(value)
