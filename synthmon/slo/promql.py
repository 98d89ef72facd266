"""PromQL text built from parts, so that no label value can change a query's meaning.

Every label value goes through :func:`quote` (a PromQL double-quoted string literal: the
backslash, the double quote and control characters are escaped), and every metric and label
name is checked against the PromQL grammar before it reaches a query. An endpoint named
``"} or vector(1) #`` therefore stays one label value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from synthmon.errors import ConfigError

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

# Metric names of the app (docs/architecture.md).
# The defaults of an SLO spec's ``metrics:`` block (synthmon.slo.spec.SLOMetrics).
REQUESTS = "http_requests_total"
DURATION = "http_request_duration_seconds"
DURATION_BUCKET = f"{DURATION}_bucket"
CPU = "process_cpu_seconds_total"
RSS = "process_resident_memory_bytes"
MEMORY_LIMIT = "app_memory_limit_bytes"

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def check_label_name(name: str) -> str:
    """``name`` if it is a valid label name, else ConfigError (names are never quoted)."""
    if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
        raise ConfigError(f"expected a label name matching [a-zA-Z_][a-zA-Z0-9_]*, got {name!r}")
    return name


def check_metric_name(name: str) -> str:
    """``name`` if it is a valid metric name, else ConfigError."""
    if not METRIC_NAME.fullmatch(name):
        raise ConfigError(f"expected a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]*, got {name!r}")
    return name


def quote(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal (Go escape rules)."""
    out = ['"']
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif 0xD800 <= ord(char) <= 0xDFFF:
            raise ConfigError(f"label value {value!r} contains a lone surrogate (not UTF-8)")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def selector(metric: str, matchers: Mapping[str, str]) -> str:
    """``metric{a="x",b="y"}``: equality matchers, names checked, values quoted, sorted."""
    check_metric_name(metric)
    parts = [f"{check_label_name(k)}={quote(v)}" for k, v in sorted(matchers.items())]
    return f"{metric}{{{','.join(parts)}}}"


def number(value: float) -> str:
    """A time or duration to the millisecond, without float noise or exponent (``1.5``, ``60``)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def window(seconds: int) -> str:
    """A range duration in whole seconds (``[300s]``); Prometheus has no fractional form."""
    if seconds < 1:
        raise ConfigError(f"window must be at least 1 s, got {seconds}")
    return f"{int(seconds)}s"


def resets(sel: str, seconds: int) -> str:
    """Counter resets per series over the window ending at the evaluation time."""
    return f"resets({sel}[{window(seconds)}])"


def raw_range(sel: str, seconds: int) -> str:
    """The raw samples of the window (a range vector; only used when a counter reset)."""
    return f"{sel}[{window(seconds)}]"


def increase_quantile(percentile: float, bucket_sel: str, seconds: int) -> str:
    """The dashboard P95: histogram_quantile over increase() (interpolated, extrapolated)."""
    return (
        f"histogram_quantile({percentile!r}, "
        f"sum by (le) (increase({bucket_sel}[{window(seconds)}])))"
    )


def memory_ratio(
    matchers: Mapping[str, str], seconds: int, rss: str = RSS, limit: str = MEMORY_LIMIT
) -> str:
    """Peak RSS over the window divided by the lowest limit: an upper bound of max(rss/limit).

    Exact when the limit is constant (the usual case); never lower than the true peak ratio.
    """
    w = window(seconds)
    return (
        f"max_over_time({selector(rss, matchers)}[{w}]) / "
        f"min_over_time({selector(limit, matchers)}[{w}])"
    )


def present(sel: str, seconds: int) -> str:
    """Number of samples per series in the window: used to say which series has no data."""
    return f"count_over_time({sel}[{window(seconds)}])"
