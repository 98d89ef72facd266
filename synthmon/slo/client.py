"""Locust's client-side figures, set beside Prometheus's to catch a broken metrics pipeline.

Two file shapes are read: synthmon's own ``{"requests", "failures", "p95_ms"}`` and Locust's
``--json`` output (a list of per-endpoint entries with ``num_requests``, ``num_failures`` and a
``response_times`` histogram in rounded milliseconds), whose P95 is taken by nearest rank.
Locust counts 4xx and connection errors as failures too; the cross-check compares as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthmon.errors import ConfigError
from synthmon.jsonfile import read_json


@dataclass(frozen=True)
class ClientStats:
    """Totals over the load run as the load generator saw them."""

    requests: int
    failures: int
    p95_ms: float | None = None

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: expected a count >= 0, got {value!r}")
    if float(value) != int(value):
        raise ConfigError(f"{where}: expected a whole count, got {value!r}")
    return int(value)


def _p95(times: dict[float, int]) -> float | None:
    """Nearest-rank 95th percentile of a ``{ms: count}`` histogram."""
    total = sum(times.values())
    if total == 0:
        return None
    rank = math.ceil(0.95 * total)
    seen = 0
    for value in sorted(times):
        seen += times[value]
        if seen >= rank:
            return value
    return None  # pragma: no cover - unreachable: seen reaches total


def client_stats_from(doc: Any, where: str = "<locust stats>") -> ClientStats:
    """ClientStats from a parsed document of either shape; ConfigError names ``where``."""
    if isinstance(doc, dict):
        unknown = set(doc) - {"requests", "failures", "p95_ms"}
        if unknown or "requests" not in doc or "failures" not in doc:
            raise ConfigError(
                f"{where}: expected keys requests, failures[, p95_ms], got {sorted(doc)}"
            )
        p95 = doc.get("p95_ms")
        if p95 is not None and (isinstance(p95, bool) or not isinstance(p95, int | float)):
            raise ConfigError(f"{where}: p95_ms: expected a number, got {p95!r}")
        return ClientStats(
            _count(doc["requests"], f"{where}: requests"),
            _count(doc["failures"], f"{where}: failures"),
            None if p95 is None else float(p95),
        )
    if isinstance(doc, list):
        requests = failures = 0
        times: dict[float, int] = {}
        for i, entry in enumerate(doc):
            if not isinstance(entry, dict):
                raise ConfigError(f"{where}: [{i}]: expected a Locust stats entry, got {entry!r}")
            requests += _count(entry.get("num_requests"), f"{where}: [{i}].num_requests")
            failures += _count(entry.get("num_failures"), f"{where}: [{i}].num_failures")
            for key, n in (entry.get("response_times") or {}).items():
                try:
                    millis = float(key)
                except ValueError:
                    raise ConfigError(f"{where}: [{i}].response_times: bad key {key!r}") from None
                times[millis] = times.get(millis, 0) + _count(n, f"{where}: [{i}]")
        return ClientStats(requests, failures, _p95(times))
    raise ConfigError(f"{where}: expected a JSON object or Locust's --json list, got {doc!r}")


def load_client_stats(path: str | Path) -> ClientStats:
    """Read a Locust stats file; problems are one ConfigError line."""
    return client_stats_from(read_json(path, "Locust stats"), str(path))
