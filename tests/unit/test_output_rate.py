"""The per-stream output budget at its edges (a manual clock: the budget is about time)."""

from __future__ import annotations

from hub.live.output_rate import OutputRate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_exactly_the_message_budget_passes_then_drops() -> None:
    clock = Clock()
    rate = OutputRate(max_messages_per_s=10, max_bytes_per_s=10_000, clock=clock)
    assert all(rate.admit(1) for _ in range(10))
    assert not rate.admit(1)
    assert rate.dropped_messages == 1 and rate.dropped_bytes == 1


def test_exactly_the_byte_budget_passes_then_drops() -> None:
    clock = Clock()
    rate = OutputRate(max_messages_per_s=1000, max_bytes_per_s=100, clock=clock)
    assert rate.admit(60)
    assert rate.admit(40)
    assert not rate.admit(1)


def test_refills_with_time_up_to_one_second() -> None:
    clock = Clock()
    rate = OutputRate(max_messages_per_s=10, max_bytes_per_s=10_000, clock=clock)
    for _ in range(10):
        rate.admit(1)
    clock.now += 0.1  # one message's worth
    assert rate.admit(1)
    assert not rate.admit(1)
    clock.now += 3600  # a long pause refills only one second's worth
    assert sum(rate.admit(1) for _ in range(20)) == 10


def test_one_message_larger_than_a_second_passes_on_a_full_bucket() -> None:
    clock = Clock()
    rate = OutputRate(max_messages_per_s=10, max_bytes_per_s=100, clock=clock)
    assert rate.admit(5000)
    assert not rate.admit(1)  # and it spent the budget
    clock.now += 1.0
    assert rate.admit(1)


def test_notice_once_per_drop_with_counts() -> None:
    clock = Clock()
    rate = OutputRate(max_messages_per_s=2, max_bytes_per_s=1000, clock=clock)
    assert rate.take_notice() is None
    rate.admit(3)
    rate.admit(3)
    assert not rate.admit(5)
    assert not rate.admit(7)
    notice = rate.take_notice()
    assert notice is not None
    assert notice.startswith("[output truncated: 2 messages (12 bytes) dropped")
    assert "2 messages and 1000 bytes per second" in notice
    assert rate.take_notice() is None
    assert rate.total_dropped_messages == 2 and rate.total_dropped_bytes == 12


def test_zero_is_no_limit_on_that_count() -> None:
    clock = Clock()
    unlimited = OutputRate(max_messages_per_s=0, max_bytes_per_s=0, clock=clock)
    assert unlimited.unlimited and all(unlimited.admit(10**6) for _ in range(10_000))
    bytes_only = OutputRate(max_messages_per_s=0, max_bytes_per_s=100, clock=clock)
    assert sum(bytes_only.admit(10) for _ in range(1000)) == 10
    notice = bytes_only.take_notice()
    assert notice is not None and notice.endswith("the limit is 100 bytes per second]")
