"""The time stamps log stores speak: RFC 3339 (VictoriaLogs, with nanoseconds) and Unix
nanoseconds (Loki); one place so both clients and their tests agree."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FRACTION = re.compile(r"\.(\d+)")


def rfc3339(moment: datetime) -> str:
    """``2026-12-01T18:29:39.451Z`` (UTC, milliseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> datetime:
    """An RFC 3339 stamp with any number of fraction digits (Python takes at most six)."""
    trimmed = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    moment = datetime.fromisoformat(trimmed.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)


def unix_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch (Loki's ``start``/``end``)."""
    return int(moment.timestamp() * 1_000_000) * 1000


def from_unix_ns(text: str) -> datetime:
    """A Loki value's stamp (a decimal string of nanoseconds)."""
    nanos = int(text)
    return datetime.fromtimestamp(nanos // 1000 / 1_000_000, UTC)
