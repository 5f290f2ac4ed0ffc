"""Throttling of failed sign-ins, in memory, per hub process.

Failures are counted per email address and per IP address in sliding windows of
one minute and one hour; the limits are `Settings.sign_in_fail_*`. With a limit
of 5 per minute, five failures in a minute are answered normally and the sixth
attempt is refused with a reason, before any password is checked. Only failures
count: a correct password is never blocked by someone else's successes.

Memory is bounded: each key keeps at most as many timestamps as its largest
limit (more are never needed to decide), keys idle for an hour are dropped, and
at most `max_keys` keys per kind are tracked (the least recently failed go
first). As in CoCalc, each hub counts on its own; sticky sessions at the load
balancer keep one client on one hub.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from hub.config import Settings

MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class _Rule:
    window_s: float
    limit: int
    reason: str  # may contain {email}


class _Windows:
    """Failure timestamps per key for one kind of key (email or IP)."""

    def __init__(self, rules: tuple[_Rule, ...], max_keys: int) -> None:
        self.rules = rules
        self.max_keys = max_keys
        self.keep = max(1, *(rule.limit for rule in rules))
        self.horizon = max(rule.window_s for rule in rules)
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, key: str, now: float) -> _Rule | None:
        stamps = self.failures.get(key)
        if not stamps:
            return None
        for rule in self.rules:
            since = now - rule.window_s
            # stamps are in order; count from the newest back
            count = 0
            for stamp in reversed(stamps):
                if stamp <= since:
                    break
                count += 1
            if count >= rule.limit:
                return rule
        return None

    def record(self, key: str, now: float) -> None:
        stamps = self.failures.get(key)
        if stamps is None:
            stamps = self.failures[key] = deque(maxlen=self.keep)
        else:
            self.failures.move_to_end(key)
        stamps.append(now)
        self.prune(now)

    def prune(self, now: float) -> None:
        # least recently failed first: stop at the first key still inside the horizon
        cutoff = now - self.horizon
        while self.failures:
            key, stamps = next(iter(self.failures.items()))
            if stamps[-1] > cutoff and len(self.failures) <= self.max_keys:
                break
            del self.failures[key]

    def __len__(self) -> int:
        return len(self.failures)


class SignInThrottle:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.clock = clock
        self.by_email = _Windows(
            (
                _Rule(
                    MINUTE,
                    settings.sign_in_fail_per_email_min,
                    'Too many attempts per minute to sign in as "{email}". '
                    "Wait one minute, then try again.",
                ),
                _Rule(
                    HOUR,
                    settings.sign_in_fail_per_email_hour,
                    'Too many attempts per hour to sign in as "{email}". '
                    "Wait about an hour, then try again.",
                ),
            ),
            max_keys,
        )
        self.by_ip = _Windows(
            (
                _Rule(
                    MINUTE,
                    settings.sign_in_fail_per_ip_min,
                    "Too many attempts per minute to sign in from your computer. "
                    "Wait one minute, then try again.",
                ),
                _Rule(
                    HOUR,
                    settings.sign_in_fail_per_ip_hour,
                    "Too many attempts per hour to sign in from your computer. "
                    "Wait about an hour, then try again.",
                ),
            ),
            max_keys,
        )

        # user_auth: after a wrong password, the caller waits before trying that target again
        self.user_auth = RetryBans(settings.user_auth_retry_s, clock=clock, max_entries=max_keys)

    def check(self, email: str | None, ip: str | None) -> str | None:
        """The reason this attempt is refused, or None when it may go ahead.

        `email` None checks only the address (for password checks that are not a
        sign-in, such as `user_auth`).
        """
        now = self.clock()
        rule = self.by_email.blocked(_email_key(email), now) if email else None
        if rule is None and ip:
            rule = self.by_ip.blocked(ip, now)
        return None if rule is None else rule.reason.format(email=email)

    def record_failure(self, email: str | None, ip: str | None) -> None:
        now = self.clock()
        if email:
            self.by_email.record(_email_key(email), now)
        if ip:
            self.by_ip.record(ip, now)

    def tracked_keys(self) -> int:
        """How many emails and IP addresses are being counted (for tests and metrics)."""
        return len(self.by_email) + len(self.by_ip)


class RetryBans:
    """Keys (e.g. caller and target of `user_auth`) that may not try again for `ban_s`."""

    def __init__(
        self,
        ban_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.ban_s = ban_s
        self.clock = clock
        self.max_entries = max_entries
        self._until: OrderedDict[Hashable, float] = OrderedDict()

    def banned(self, key: Hashable) -> bool:
        until = self._until.get(key)
        return until is not None and self.clock() < until

    def ban(self, key: Hashable) -> None:
        now = self.clock()
        self._until.pop(key, None)
        self._until[key] = now + self.ban_s
        # bans all last ban_s, so the oldest end first
        while self._until:
            first_key, until = next(iter(self._until.items()))
            if until > now and len(self._until) <= self.max_entries:
                break
            del self._until[first_key]

    def __len__(self) -> int:
        return len(self._until)


def _email_key(email: str) -> str:
    """Count by a digest: an address of any length then costs the same small entry."""
    return hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()
