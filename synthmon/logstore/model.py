"""What a log store gives back, whichever store it is: lines with a time, a level and a text.

The runbook's log analysis judges :class:`LogLine` values only, so the same check reads
VictoriaLogs, Loki or (as a fallback) the app's log file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from synthmon.http_errors import one_line

#: fields a line carries that say nothing about the event (resource, scope, source position)
BOILERPLATE = ("service.", "telemetry.", "scope.", "code.", "severity_", "_", "process.", "host.")
LONG = frozenset({"exception.stacktrace"})  # the type and message say it on one line


@dataclass(frozen=True)
class LogLine:
    """One log record: ``time`` (UTC), ``level`` as the store has it (``ERROR``, ``WARN``, or ""
    when it has none), ``text`` (the message), ``fields`` (everything else, as strings)."""

    time: datetime
    level: str
    text: str
    fields: Mapping[str, str] = field(default_factory=dict)

    def shown(self, limit: int = 400) -> str:
        """The line as a failure message quotes it: time, level, text, its telling fields."""
        extra = " ".join(
            f"{k}={v}"
            for k, v in sorted(self.fields.items())
            if not k.startswith(BOILERPLATE) and k not in LONG
        )
        stamp = self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        parts = [stamp, self.level or "-", self.text, f"({extra})" if extra else ""]
        return one_line(" ".join(p for p in parts if p), limit)


class LogStore(Protocol):
    """A log store's query API: the one interface the log analysis reads through."""

    name: str  # "VictoriaLogs", "Loki": what messages call it
    base_url: str

    def lines(self, query: str, start: datetime, end: datetime, limit: int = 1000) -> list[LogLine]:
        """The lines ``query`` selects in [start, end], oldest first, at most ``limit`` (the
        newest ones when there are more); the store's own error (one line) for a bad query."""
        ...

    def problem_queries(self, query: str) -> tuple[str, ...]:
        """``query`` narrowed in the store to the lines the runbook looks for (error levels,
        out-of-memory words); the analysis judges what they return again, so a narrowing that
        lets more through only costs time."""
        ...


@dataclass(frozen=True)
class Window:
    """The time range a check reads, and why that one (said in every message)."""

    start: datetime
    end: datetime
    why: str

    def __str__(self) -> str:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        span = f"{self.start.astimezone(UTC):{fmt}}..{self.end.astimezone(UTC):{fmt}}"
        return f"{span} ({self.why})"
