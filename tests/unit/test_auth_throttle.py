"""The failed sign-in throttle, with an injected clock."""

from __future__ import annotations

from typing import Any

from hub.auth.throttle import RetryBans, SignInThrottle, _email_key
from hub.config import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**overrides: Any) -> tuple[SignInThrottle, Clock]:
    clock = Clock()
    return SignInThrottle(Settings.load(environ={}, **overrides), clock=clock), clock


EMAIL_MIN = 'Too many attempts per minute to sign in as "a@b.c". Wait one minute, then try again.'
EMAIL_HOUR = 'Too many attempts per hour to sign in as "a@b.c". Wait about an hour, then try again.'
IP_MIN = (
    "Too many attempts per minute to sign in from your computer. Wait one minute, then try again."
)
IP_HOUR = (
    "Too many attempts per hour to sign in from your computer. Wait about an hour, then try again."
)


def test_fifth_failure_allowed_sixth_blocked() -> None:
    throttle, _ = make()
    for _ in range(5):
        assert throttle.check("a@b.c", "1.2.3.4") is None
        throttle.record_failure("a@b.c", "1.2.3.4")
    assert throttle.check("a@b.c", "1.2.3.4") == EMAIL_MIN
    # another email from the same address is not blocked by this one
    assert throttle.check("x@b.c", "1.2.3.4") is None


def test_minute_window_slides() -> None:
    throttle, clock = make()
    for i in range(5):
        clock.now = 1000.0 + i * 10  # failures at 1000, 1010, …, 1040
        throttle.record_failure("a@b.c", None)
    clock.now = 1059.9
    assert throttle.check("a@b.c", None) == EMAIL_MIN
    clock.now = 1060.0  # the first failure has left the window
    assert throttle.check("a@b.c", None) is None
    throttle.record_failure("a@b.c", None)
    assert throttle.check("a@b.c", None) == EMAIL_MIN


def test_hour_limit_per_email() -> None:
    throttle, clock = make()
    for i in range(50):
        clock.now = 1000.0 + i * 61  # never 5 in a minute
        assert throttle.check("a@b.c", None) is None, i
        throttle.record_failure("a@b.c", None)
    assert throttle.check("a@b.c", None) == EMAIL_HOUR
    clock.now = 1000.0 + 3600.0  # first failure leaves the hour
    assert throttle.check("a@b.c", None) is None


def test_ip_limits() -> None:
    throttle, _ = make()
    for i in range(30):
        throttle.record_failure(f"user{i}@b.c", "9.9.9.9")
    assert throttle.check("new@b.c", "9.9.9.9") == IP_MIN
    assert throttle.check("new@b.c", "8.8.8.8") is None
    throttle2, clock2 = make()
    for i in range(200):
        clock2.now = 1000.0 + i * 3  # 20 per minute, below the minute limit
        throttle2.record_failure(f"user{i}@b.c", "9.9.9.9")
    assert throttle2.check("new@b.c", "9.9.9.9") == IP_HOUR


def test_limits_come_from_settings() -> None:
    throttle, _ = make(sign_in_fail_per_email_min=2)
    throttle.record_failure("a@b.c", None)
    assert throttle.check("a@b.c", None) is None
    throttle.record_failure("a@b.c", None)
    assert throttle.check("a@b.c", None) == EMAIL_MIN


def test_memory_is_bounded() -> None:
    clock = Clock()
    throttle = SignInThrottle(Settings.load(environ={}), clock=clock, max_keys=100)
    for i in range(1000):
        throttle.record_failure(f"user{i}@b.c", f"10.0.{i // 256}.{i % 256}")
    assert throttle.tracked_keys() <= 200
    # per key, timestamps are capped at the largest limit
    for _ in range(10_000):
        throttle.record_failure("a@b.c", "1.1.1.1")
    assert len(throttle.by_email.failures[_email_key("a@b.c")]) == 50
    assert len(throttle.by_ip.failures["1.1.1.1"]) == 200


def test_idle_keys_are_pruned() -> None:
    throttle, clock = make()
    for i in range(50):
        throttle.record_failure(f"user{i}@b.c", "1.1.1.1")
    clock.now += 3601
    throttle.record_failure("late@b.c", "2.2.2.2")
    assert set(throttle.by_email.failures) == {_email_key("late@b.c")}
    assert set(throttle.by_ip.failures) == {"2.2.2.2"}


def test_email_with_braces_and_quotes() -> None:
    throttle, _ = make(sign_in_fail_per_email_min=1)
    throttle.record_failure('{x}"@b.c', None)
    assert throttle.check('{x}"@b.c', None) == (
        'Too many attempts per minute to sign in as "{x}"@b.c". Wait one minute, then try again.'
    )


def test_retry_bans() -> None:
    clock = Clock()
    bans = RetryBans(60.0, clock=clock, max_entries=3)
    assert not bans.banned("a")
    bans.ban("a")
    assert bans.banned("a")
    clock.now += 59.9
    assert bans.banned("a")
    clock.now += 0.1
    assert not bans.banned("a")


def test_retry_bans_are_bounded() -> None:
    clock = Clock()
    bans = RetryBans(60.0, clock=clock, max_entries=3)
    for i in range(10):
        bans.ban(i)
    assert len(bans) == 3
    assert bans.banned(9) and not bans.banned(0)
    clock.now += 61
    bans.ban("late")
    assert len(bans) == 1


def test_user_auth_bans_use_the_setting() -> None:
    throttle, clock = make(user_auth_retry_s=5)
    throttle.user_auth.ban(("caller", "target"))
    clock.now += 4.9
    assert throttle.user_auth.banned(("caller", "target"))
    clock.now += 0.1
    assert not throttle.user_auth.banned(("caller", "target"))
