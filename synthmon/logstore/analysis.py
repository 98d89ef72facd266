"""The runbook's log analysis over a log store: which window, which lines are expected, verdict.

Window: on a stack synthmon starts, the run's own (from its run directory's creation, before any
service started, to now); on an external stack, the last ``--logs-lookback``. The faults of a run
make the app log errors on purpose: rather than cutting the scenarios' windows out (which would
also hide an unexpected error during a fault, and depends on when each line reaches the store),
the project lists the lines it expects, each with why (``telemetry.logs_allow``); every other
ERROR/CRITICAL/FATAL or out-of-memory line fails, quoted. No lines at all fails too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from synthmon.durations import format_duration
from synthmon.errors import ConfigError
from synthmon.health import line_problem
from synthmon.logstore.allow import ALLOW_KEY, LogAllow
from synthmon.logstore.model import LogLine, LogStore, Window

QUOTED = 20  # offending lines a message quotes (the newest)
_RUN_DIR = re.compile(r"^run-(\d{8}-\d{6})-\d+$")  # synthmon.stack.stack.new_run_dir's name


def run_window(run_dir: Path, now: datetime | None = None) -> Window:
    """The run's own window: from the run directory's making (its name's local time) to now."""
    end = now or datetime.now(UTC)
    found = _RUN_DIR.match(run_dir.name)
    if found is None:
        raise ConfigError(f"{run_dir}: not a run directory of synthmon's (run-YYYYmmdd-HHMMSS-PID)")
    start = datetime.fromtimestamp(time.mktime(time.strptime(found.group(1), "%Y%m%d-%H%M%S")))
    return Window(start.astimezone(UTC), end, "the run's own window")


def lookback_window(seconds: float, where: str, now: datetime | None = None) -> Window:
    """The last ``seconds`` (a nightly run against an environment that logs all the time)."""
    end = now or datetime.now(UTC)
    return Window(
        end - timedelta(seconds=seconds), end, f"the last {format_duration(seconds)}, {where}"
    )


@dataclass(frozen=True)
class LogReport:
    """What the analysis read and found: ``has_lines`` whether the query selects any line in
    the window at all, ``offending`` the unexpected problem lines, ``allowed`` the expected ones
    with why, ``truncated`` whether the store held more problem lines than were read."""

    store: str
    query: str
    window: Window
    has_lines: bool
    offending: tuple[LogLine, ...]
    allowed: tuple[tuple[LogLine, str], ...]
    truncated: bool

    def problems(self) -> list[str]:
        """One message per problem; empty: healthy."""
        if not self.has_lines:
            return [
                f"{self.store}: the log store holds no lines for {self.query} in {self.window}: "
                "is the app shipping logs?"
            ]
        if not self.offending:
            return []
        more = " (more than read: the store's limit)" if self.truncated else ""
        count = len(self.offending)
        lines = "lines" if count > 1 else "line"
        head = (
            f"{self.store}: {count} unexpected ERROR/CRITICAL/FATAL or out-of-memory {lines}"
            f"{more} for {self.query} in {self.window} (the newest {QUOTED} at most; expected "
            f"ones go in {ALLOW_KEY}):"
        )
        return [head + "".join(f"\n  {line.shown()}" for line in self.offending[-QUOTED:])]

    def summary(self) -> str:
        """The evidence text: what was read, the allowed and the offending lines."""
        rows = [
            f"{self.store}: {self.query} in {self.window}: "
            f"{'lines' if self.has_lines else 'NO lines'}, {len(self.allowed)} expected and "
            f"{len(self.offending)} unexpected problem lines"
        ]
        rows += [f"allowed ({why}): {line.shown()}" for line, why in self.allowed]
        rows += [f"UNEXPECTED: {line.shown()}" for line in self.offending]
        return "\n".join(rows)


def judge(
    lines: Iterable[LogLine], allow: Iterable[LogAllow]
) -> tuple[tuple[LogLine, ...], tuple[tuple[LogLine, str], ...]]:
    """The problem lines among ``lines``: (unexpected, expected with why), oldest first."""
    rules = tuple(allow)
    offending, allowed = [], []
    for line in sorted(lines, key=lambda line: line.time):
        if not line_problem(line):
            continue
        quoted = line.shown(10_000)
        why = next((rule.why for rule in rules if rule.matches(quoted)), None)
        if why is None:
            offending.append(line)
        else:
            allowed.append((line, why))
    return tuple(offending), tuple(allowed)


def analyse(
    store: LogStore,
    query: str,
    window: Window,
    allow: Iterable[LogAllow] = (),
    *,
    settle_s: float = 0.0,
    limit: int = 1000,
) -> LogReport:
    """Read ``window`` of ``store`` and judge it. ``settle_s``: the pipeline's delay between a
    line's writing and its being queryable (Stack.telemetry_delay_s); the reading waits until
    that much time has passed after the window's end, so its last lines are in."""
    time.sleep(max(0.0, window.end.timestamp() + settle_s - time.time()))
    has_lines = bool(store.lines(query, window.start, window.end, limit=1))
    unique: dict[tuple[datetime, str, str], LogLine] = {}
    truncated = False
    for narrowed in store.problem_queries(query) if has_lines else ():
        found = store.lines(narrowed, window.start, window.end, limit=limit)
        truncated = truncated or len(found) >= limit
        unique.update({(line.time, line.level, line.text): line for line in found})
    offending, allowed = judge(unique.values(), allow)
    where = f"{store.name} {store.base_url}"
    return LogReport(where, query, window, has_lines, offending, allowed, truncated)
