"""The project's expected problem lines (``telemetry.logs_allow``): what its own faults make the
app log on purpose, each with why, so the log analysis fails on every other one.

A leaf (errors only): the project model holds these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synthmon.errors import ConfigError

ALLOW_KEY = "telemetry.logs_allow"


@dataclass(frozen=True)
class LogAllow:
    """An expected problem line: ``pattern`` (a regex searched in the quoted line) and ``why``."""

    pattern: re.Pattern[str]
    why: str

    def matches(self, quoted: str) -> bool:
        """Whether the line, as a message quotes it (LogLine.shown, or a file's raw line), is
        this expected one."""
        return self.pattern.search(quoted) is not None


def parse_allow(raw: object, where: str = ALLOW_KEY) -> tuple[LogAllow, ...]:
    """``[{pattern, why}, ...]`` from a project file; ConfigError naming the entry otherwise."""
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ConfigError(f"{where}: expected a list of {{pattern, why}}, got {raw!r}")
    allowed = []
    for index, entry in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping) or set(entry) != {"pattern", "why"}:
            raise ConfigError(f"{at}: expected {{pattern: REGEX, why: TEXT}}, got {entry!r}")
        pattern, why = entry["pattern"], entry["why"]
        if not isinstance(why, str) or not why.strip():
            raise ConfigError(f"{at}.why: expected why this line is expected, got {why!r}")
        try:
            allowed.append(LogAllow(re.compile(str(pattern)), why.strip()))
        except re.error as exc:
            raise ConfigError(
                f"{at}.pattern: {pattern!r} is no regular expression: {exc}"
            ) from None
    return tuple(allowed)
