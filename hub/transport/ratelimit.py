"""Token buckets keyed by address or API key, with bounded memory."""

from __future__ import annotations

from collections import OrderedDict


class TokenBuckets:
    """`rate` tokens per second refill each bucket up to `burst`; one request takes one.

    At most `max_keys` buckets are kept; the least recently used is forgotten
    first, which can only make a forgotten client's next request succeed.
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float) -> bool:
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed
