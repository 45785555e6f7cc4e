"""Per-key rate limiting: a token bucket for each API key.

Each key holds up to ``burst`` tokens, refilled at ``rate`` per second; a
request spends one. An empty bucket answers 429 with the seconds until the
next token. The clock is injected so tests step time instead of sleeping.
Buckets live in this process: with several API replicas each enforces the
limit on its own share of the traffic.

The default suits an ingestion API: a log shipper or a benchmark sending
events one request at a time reaches a few thousand requests per second from
one key, which 100/s (the former default) answered with 429. The limit is a
guard against a runaway client, not a quota: 10,000/s with a burst of 20,000
(``VIGIL_RATE_LIMIT``, ``VIGIL_RATE_BURST``; 0 turns it off).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from vigil.errors import RateLimited

Clock = Callable[[], float]

# Requests per second one key may sustain, and the burst it may spend at once.
DEFAULT_RATE = 10_000.0
DEFAULT_BURST = 20_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by API key id; ``rate`` 0 lets every request through."""

    def __init__(self, rate: float, burst: int, clock: Clock | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock or time.monotonic
        self._buckets: dict[str, _Bucket] = {}
        # Handlers run in a thread pool: two requests of one key may arrive at once.
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Returns whether requests are limited at all."""
        return self.rate > 0

    def check(self, key: str) -> None:
        """Spends one token of ``key``'s bucket, or raises RateLimited with the wait."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / self.rate
        # Whole seconds, rounded up, so the body says what the Retry-After header says.
        seconds = max(1, math.ceil(wait))
        unit = "second" if seconds == 1 else "seconds"
        raise RateLimited(
            f"Too many requests for this API key; retry after {seconds} {unit}.",
            retry_after=float(seconds),
        )
