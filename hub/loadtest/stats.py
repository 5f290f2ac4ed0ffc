"""Latencies and errors per operation, and the final report (a table and JSON)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method; 0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(slots=True)
class OpStats:
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    last_error: str = ""

    def ok(self, seconds: float) -> None:
        self.latencies_s.append(seconds)

    def failed(self, text: str) -> None:
        self.errors += 1
        self.last_error = text[:200]


class Stats:
    def __init__(self) -> None:
        self.ops: dict[str, OpStats] = {}

    def op(self, name: str) -> OpStats:
        stats = self.ops.get(name)
        if stats is None:
            stats = self.ops[name] = OpStats()
        return stats

    @property
    def total(self) -> int:
        return sum(len(s.latencies_s) + s.errors for s in self.ops.values())

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.ops.values())

    def report(self, elapsed_s: float, settings: dict[str, Any]) -> dict[str, Any]:
        events: dict[str, Any] = {}
        for name in sorted(self.ops):
            stats = self.ops[name]
            values = sorted(stats.latencies_s)
            count = len(values) + stats.errors
            events[name] = {
                "count": count,
                "errors": stats.errors,
                "p50_ms": round(percentile(values, 50) * 1000, 3),
                "p95_ms": round(percentile(values, 95) * 1000, 3),
                "p99_ms": round(percentile(values, 99) * 1000, 3),
                "per_s": round(count / elapsed_s, 2) if elapsed_s > 0 else 0.0,
                "last_error": stats.last_error or None,
            }
        return {
            "settings": settings,
            "elapsed_s": round(elapsed_s, 3),
            "total": self.total,
            "errors": self.errors,
            "events": events,
        }


def table(report: dict[str, Any]) -> str:
    columns = ("COUNT", "ERRORS", "P50 ms", "P95 ms", "P99 ms", "PER S")
    widths = (8, 7, 9, 9, 9, 9)
    lines = [
        f"{'EVENT':<14} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    ]
    for name, e in report["events"].items():
        lines.append(
            f"{name:<14} {e['count']:>8} {e['errors']:>7} {e['p50_ms']:>9.2f}"
            f" {e['p95_ms']:>9.2f} {e['p99_ms']:>9.2f} {e['per_s']:>9.1f}"
        )
    lines.append(
        f"{report['total']} operations, {report['errors']} errors in {report['elapsed_s']:.1f} s"
    )
    for name, e in report["events"].items():
        if e["last_error"]:
            lines.append(f"  last {name} error: {e['last_error']}")
    return "\n".join(lines)
