"""How fast one connection may send: a token bucket that slows the reader, not an error.

A client over its rate is not answered with errors (each costs as much as a reply)
and loses nothing: the hub stops reading its socket until the bucket has a token
again, so TCP pushes back on the sender and the hub spends no CPU on it meanwhile.
Other clients never wait for it: the reader also yields to the event loop every
`YIELD_EVERY` frames, even within its budget, so one busy socket cannot hold the
loop for a whole buffer of frames.

    pace = InboundPace(max_per_s=200, burst=1000)
    async for frame in ws:
        if (wait := pace.delay()) is not None:
            await asyncio.sleep(wait)
"""

from __future__ import annotations

import time

YIELD_EVERY = 64


class InboundPace:
    __slots__ = ("_last", "_since_yield", "_tokens", "burst", "max_per_s", "waited_s")

    def __init__(self, max_per_s: float, burst: float) -> None:
        self.max_per_s = max_per_s
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._last = time.monotonic()
        self._since_yield = 0
        self.waited_s = 0.0
        """Total time this connection's reader was held back (for logs and metrics)."""

    def delay(self) -> float | None:
        """Before reading the next frame: None to go on, else seconds to sleep (0: just
        yield to the loop). Synchronous, so the common case costs no coroutine."""
        self._since_yield += 1
        if self.max_per_s <= 0:  # no limit
            if self._since_yield >= YIELD_EVERY:
                self._since_yield = 0
                return 0.0
            return None
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.max_per_s)
        self._last = now
        if self._tokens < 1:
            wait = (1 - self._tokens) / self.max_per_s
            self.waited_s += wait
            self._since_yield = 0
            self._tokens = 0.0  # the sleep refills exactly the one token this frame takes
            self._last = now + wait
            return wait
        self._tokens -= 1
        if self._since_yield >= YIELD_EVERY:
            self._since_yield = 0
            return 0.0
        return None
