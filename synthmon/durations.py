"""Prometheus/Alertmanager duration strings (``1h30m``, ``5m``, ``250ms``), parsed and scaled.

The test stack compresses time by one factor; every ``for:``, rate window and Alertmanager
interval goes through :func:`scale_duration` so the production files are never edited.
"""

import re

from synthmon.errors import ConfigError

_UNITS = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_WHOLE = re.compile(r"^(?:\d+(?:ms|y|w|d|h|m|s))+$")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration string; ConfigError if it is not one."""
    if not _WHOLE.match(text):
        raise ConfigError(f"{text!r} is not a Prometheus duration (expected e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest exact duration string for ``seconds``, in whole milliseconds."""
    millis = max(0, round(seconds * 1000))
    if millis == 0:
        return "0s"
    if millis % 1000:
        return f"{millis}ms"
    secs = millis // 1000
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            parts.append(f"{secs // size}{unit}")
            secs %= size
    return "".join(parts)


def scale_duration(text: str, factor: float, minimum: float = 0.0) -> str:
    """``text`` divided by ``factor`` (never below ``minimum`` seconds), as a duration string."""
    if factor <= 0:
        raise ConfigError(f"time scale factor must be > 0, got {factor}")
    return format_duration(max(parse_duration(text) / factor, minimum))
