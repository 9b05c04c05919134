"""The token bucket AWS throttles with: a steady rate, and bursts up to a bucket's size."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """API Gateway's throttle: ``rate`` requests a second, bursts of up to ``burst`` ("Protect your WebSocket
    APIs": the token bucket algorithm, per route when the stage sets route settings)."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False
