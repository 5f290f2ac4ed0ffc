"""A stream's output budget: so many messages and bytes per second, then a notice.

A cell that prints in a tight loop, or a terminal running `yes`, would otherwise
send as fast as the project can write. Each stream gets two token buckets
(messages and bytes, refilled continuously, holding at most one second's worth);
what does not fit is dropped and counted, and the first message admitted after a
drop carries a notice saying how much was lost, so the user sees the truncation.

    rate = OutputRate(max_messages_per_s=1000, max_bytes_per_s=1_000_000)
    if rate.admit(len(data)):
        notice = rate.take_notice()   # "[output truncated: …]" once after a drop, else None
"""

from __future__ import annotations

import time
from collections.abc import Callable

_EPSILON = 1e-6


class OutputRate:
    __slots__ = (
        "_bytes",
        "_clock",
        "_last",
        "_messages",
        "dropped_bytes",
        "dropped_messages",
        "max_bytes_per_s",
        "max_messages_per_s",
        "total_dropped_bytes",
        "total_dropped_messages",
        "unlimited",
    )

    def __init__(
        self,
        max_messages_per_s: float,
        max_bytes_per_s: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._clock = clock or time.monotonic
        self.unlimited = max_messages_per_s <= 0 and max_bytes_per_s <= 0
        # a limit of 0 (or less) is no limit on that count
        if max_messages_per_s <= 0:
            max_messages_per_s = float("inf")
        if max_bytes_per_s <= 0:
            max_bytes_per_s = float("inf")
        self.max_messages_per_s = max_messages_per_s
        self.max_bytes_per_s = max_bytes_per_s
        self._messages = float(max_messages_per_s)
        self._bytes = float(max_bytes_per_s)
        self._last = self._clock()
        self.dropped_messages = 0
        self.dropped_bytes = 0
        self.total_dropped_messages = 0
        self.total_dropped_bytes = 0

    def admit(self, nbytes: int) -> bool:
        """Take one message of `nbytes` from the budget; False (and counted) if it is spent."""
        if self.unlimited:
            return True
        now = self._clock()
        elapsed = now - self._last
        self._last = now
        if elapsed > 0:
            self._messages = min(
                float(self.max_messages_per_s), self._messages + elapsed * self.max_messages_per_s
            )
            self._bytes = min(
                float(self.max_bytes_per_s), self._bytes + elapsed * self.max_bytes_per_s
            )
        # a message larger than a second's bytes passes on a full bucket and empties it,
        # so one big output is never dropped forever; the epsilon absorbs float refills
        if self._messages >= 1 - _EPSILON and (
            self._bytes >= nbytes - _EPSILON or self._bytes >= self.max_bytes_per_s - _EPSILON
        ):
            self._messages = max(0.0, self._messages - 1)
            self._bytes = max(0.0, self._bytes - nbytes)
            return True
        self.dropped_messages += 1
        self.dropped_bytes += nbytes
        self.total_dropped_messages += 1
        self.total_dropped_bytes += nbytes
        return False

    def take_notice(self) -> str | None:
        """The truncation notice for what was dropped since the last notice, once."""
        if not self.dropped_messages:
            return None
        limits = [
            f"{limit:g} {unit}"
            for limit, unit in (
                (self.max_messages_per_s, "messages"),
                (self.max_bytes_per_s, "bytes"),
            )
            if limit != float("inf")
        ]
        text = (
            f"[output truncated: {self.dropped_messages} messages ({self.dropped_bytes} bytes)"
            f" dropped; the limit is {' and '.join(limits)} per second]"
        )
        self.dropped_messages = 0
        self.dropped_bytes = 0
        return text
