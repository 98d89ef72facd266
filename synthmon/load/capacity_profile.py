"""The ``kind: capacity`` load profile: how a capacity search steps the offered rate.

Validated like every profile (one line naming the file and key), without Locust, so the
locustfile, the pytest process and ``synthmon validate`` all read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from synthmon.errors import ConfigError

CAPACITY = "capacity"


@dataclass(frozen=True)
class CapacitySpec:
    """Coarse steps ``start_rps * step_factor^k`` up to ``max_rps``, then bisection until the
    last passing and first failing rate are within ``precision`` of each other.

    Each step holds ``settle_s`` (not measured: queues fill, pools warm) and then ``step_s``
    (the step's measured window). ``abort_error_rate``: a step whose error share exceeds it
    ends the search at once (the server is collapsing, later steps would measure its
    recovery). ``max_duration_s`` bounds the whole search's wall time.
    """

    start_rps: float
    step_factor: float
    step_s: float
    settle_s: float
    max_rps: float
    max_duration_s: float
    abort_error_rate: float
    precision: float = 0.10
    users_per_rps: float = 0.5  # Locust users per offered req/s: latency each user can absorb


#: key -> (required, minimum, strict, maximum or None)
_KEYS: dict[str, tuple[bool, float, bool, float | None]] = {
    "start_rps": (True, 0.0, True, None),
    "step_factor": (True, 1.0, True, None),
    "step_s": (True, 0.0, True, None),
    "settle_s": (True, 0.0, False, None),
    "max_rps": (True, 0.0, True, None),
    "max_duration_s": (True, 0.0, True, None),
    "abort_error_rate": (True, 0.0, True, 1.0),
    "precision": (False, 0.0, True, 1.0),
    "users_per_rps": (False, 0.0, True, None),
}


def _number(
    at: str, key: str, value: Any, minimum: float, strict: bool, top: float | None
) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    low_ok = ok and (value > minimum if strict else value >= minimum)
    if not low_ok or (top is not None and value > top):
        bound = f"> {minimum:g}" if strict else f"≥ {minimum:g}"
        bound += f" and ≤ {top:g}" if top is not None else ""
        raise ConfigError(f"{at}.{key}: expected a number {bound}, got {value!r}")
    return float(value)


def capacity_spec(at: str, spec: dict[str, Any]) -> CapacitySpec:
    """The search settings of one ``kind: capacity`` profile (``at``: file and profile)."""
    allowed = ("kind", *_KEYS)
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise ConfigError(
            f"{at}.{unknown[0]}: unknown field of a {CAPACITY} profile "
            f"(expected one of {', '.join(allowed)})"
        )
    values: dict[str, float] = {}
    for key, (required, minimum, strict, top) in _KEYS.items():
        if key not in spec:
            if required:
                raise ConfigError(f"{at}.{key}: missing (a {CAPACITY} profile needs it)")
            continue
        values[key] = _number(at, key, spec[key], minimum, strict, top)
    if values["max_rps"] < values["start_rps"]:
        start, top = values["start_rps"], values["max_rps"]
        raise ConfigError(f"{at}.max_rps: expected ≥ start_rps ({start:g}), got {top:g}")
    return CapacitySpec(**values)
