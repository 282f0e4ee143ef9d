"""The keyed token bucket (:mod:`rtdata.server.ratelimit`) on an injected clock: no sockets,
no sleeps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtdata.server.ratelimit import KeyedLimiter, Rate


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_full_bucket_admits_its_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = KeyedLimiter(Rate(3, 30, 300.0), max_keys=10, clock_s=clock)
    assert [limiter.admit("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    # 30 per 300 s is one token every 10 s; the bucket is empty.
    assert limiter.admit("10.0.0.1") == pytest.approx(10.0)
    clock.now_s += 4.0
    assert limiter.admit("10.0.0.1") == pytest.approx(6.0)  # a refused request takes nothing
    clock.now_s += 6.0
    assert limiter.admit("10.0.0.1") == 0.0
    assert limiter.admit("10.0.0.1") == pytest.approx(10.0)


def test_keys_have_their_own_buckets() -> None:
    clock = Clock()
    limiter = KeyedLimiter(Rate(1, 1, 60.0), max_keys=10, clock_s=clock)
    assert limiter.admit("a") == 0.0
    assert limiter.admit("a") > 0.0
    assert limiter.admit("b") == 0.0


def test_a_bucket_refills_no_further_than_its_burst() -> None:
    clock = Clock()
    limiter = KeyedLimiter(Rate(2, 2, 10.0), max_keys=10, clock_s=clock)
    limiter.admit("k")
    clock.now_s += 10_000.0
    assert [limiter.admit("k") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.wait_s("k") == pytest.approx(5.0)


def test_wait_s_takes_nothing_and_spend_stops_at_empty() -> None:
    clock = Clock()
    limiter = KeyedLimiter(Rate(2, 2, 10.0), max_keys=10, clock_s=clock)
    assert [limiter.wait_s("k") for _ in range(5)] == [0.0] * 5
    for _ in range(5):
        limiter.spend("k")
    assert limiter.wait_s("k") == pytest.approx(5.0)  # one token away, not four
    clock.now_s += 5.0
    assert limiter.wait_s("k") == 0.0


def test_memory_is_bounded_and_the_least_recently_seen_key_is_forgotten() -> None:
    clock = Clock()
    limiter = KeyedLimiter(Rate(1, 1, 3600.0), max_keys=3, clock_s=clock)
    for key in ("a", "b", "c"):
        limiter.admit(key)
    limiter.wait_s("a")  # a is seen again: b is now the least recently seen
    limiter.admit("d")
    assert len(limiter) == 3
    assert limiter.wait_s("a") > 0.0  # remembered: still empty
    assert limiter.wait_s("c") > 0.0
    assert limiter.admit("b") == 0.0  # forgotten: a full bucket again


@given(st.lists(st.text(max_size=50), max_size=300), st.integers(1, 20))
def test_no_flood_of_keys_grows_the_limiter_past_max_keys(keys: list[str], max_keys: int) -> None:
    limiter = KeyedLimiter(Rate(1, 1, 60.0), max_keys=max_keys, clock_s=Clock())
    for key in keys:
        limiter.admit(key)
        assert len(limiter) <= max_keys


@pytest.mark.parametrize(
    ("burst", "per_window", "window_s"), [(0, 1, 1.0), (1, 0, 1.0), (1, 1, 0.0), (1, -1, 1.0)]
)
def test_a_rate_that_never_admits_or_never_refills_is_refused(
    burst: int, per_window: float, window_s: float
) -> None:
    with pytest.raises(ValueError, match="burst >= 1"):
        Rate(burst, per_window, window_s)


def test_a_limiter_that_remembers_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        KeyedLimiter(Rate(1, 1, 1.0), max_keys=0)
