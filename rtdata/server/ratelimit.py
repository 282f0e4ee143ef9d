"""Token buckets keyed by a string (an IP address, an email), as GoTrue limits its endpoints.

Each key has a bucket holding up to ``burst`` tokens that refills at ``per_window`` tokens every
``window_s`` seconds. A request takes one token; with none left it is refused and told how long
until one is back. Pure: time comes from an injected clock, and nothing sleeps, so a refused
request is answered at once and an admitted one is never delayed.

Memory is bounded: at most ``max_keys`` buckets are kept, the least recently used forgotten
first (a forgotten bucket starts full again, as one untouched long enough would have refilled).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["KeyedLimiter", "Rate"]


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket's shape.

    Attributes:
        burst: Tokens a full bucket holds: requests admitted at once after a quiet spell.
        per_window: Tokens added back every ``window_s`` seconds.
        window_s: The refill window, in seconds.
    """

    burst: int
    per_window: float
    window_s: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_window <= 0 or self.window_s <= 0:
            raise ValueError(f"a rate needs burst >= 1 and a positive refill, not {self}")

    @property
    def per_s(self) -> float:
        """Tokens added back per second."""
        return self.per_window / self.window_s


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_s: float


class KeyedLimiter:
    """One token bucket per key, all of one :class:`Rate`.

    Not thread-safe: use it from one thread (the server's event loop).

    Args:
        rate: The buckets' shape.
        max_keys: Buckets kept at most; the least recently used is forgotten past it.
        clock_s: Returns the current time in seconds (monotonic).
    """

    def __init__(
        self, rate: Rate, *, max_keys: int, clock_s: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rate = rate
        self.max_keys = max_keys
        self._clock_s = clock_s
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        """The number of buckets kept."""
        return len(self._buckets)

    def __repr__(self) -> str:
        return f"KeyedLimiter({self.rate}, keys={len(self._buckets)}/{self.max_keys})"

    def admit(self, key: str) -> float:
        """Take a token from ``key``'s bucket and return 0.0; or, with none left, take nothing
        and return the seconds until one is back."""
        wait_s = self.wait_s(key)
        if wait_s == 0.0:
            self._buckets[key].tokens -= 1.0
        return wait_s

    def wait_s(self, key: str) -> float:
        """Return the seconds until ``key``'s bucket holds a token (0.0: it holds one now);
        take nothing."""
        bucket = self._refilled(key)
        if bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self.rate.per_s

    def spend(self, key: str) -> None:
        """Take a token from ``key``'s bucket if it holds one (a failure counted after the
        fact); an empty bucket stays empty."""
        bucket = self._refilled(key)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def _refilled(self, key: str) -> _Bucket:
        now_s = self._clock_s()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.rate.burst), now_s)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed_s = max(0.0, now_s - bucket.at_s)
            bucket.tokens = min(float(self.rate.burst), bucket.tokens + elapsed_s * self.rate.per_s)
            bucket.at_s = now_s
        return bucket
