"""What the terminal tells a person about a run: long waits as they start, and at the end the
checks by outcome.

A deadline of a minute with no output looks like a hang; a line such as ``synthmon: waiting
for HighErrorRate to fire until 14:03:12 (35 s)`` says it is not. The plugin calls
:func:`configure` with the session's config; until then (library use, a bare script) every
call is a no-op. Writing never raises: a progress line is not worth failing a check over.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

#: Shorter waits pass without a line: they are not what makes a run look stuck.
MIN_WAIT_S = 5.0

Writer = Callable[[str], None]


class _Capture(Protocol):
    def global_and_fixture_disabled(self) -> contextlib.AbstractContextManager[None]: ...


_writer: Writer | None = None


def line(what: str, seconds: float, now: float | None = None) -> str:
    """The text of one waiting line (local wall-clock time, as a person reads it)."""
    until = time.strftime(
        "%H:%M:%S", time.localtime((time.time() if now is None else now) + seconds)
    )
    return f"synthmon: waiting for {what} until {until} ({seconds:.0f} s)"


def waiting(what: str, seconds: float) -> None:
    """Say that a wait of up to ``seconds`` for ``what`` starts now (if it is a long one)."""
    if _writer is None or seconds < MIN_WAIT_S:
        return
    with contextlib.suppress(Exception):
        _writer(line(what, seconds))


def configure(config: pytest.Config) -> None:
    """Write through the session's terminal reporter, with capture suspended for the line.

    The reporter is looked up at each line: it may register after the caller's configure
    hook. Under pytest-xdist a worker has no terminal (its stdout is the channel to the
    controller), so its lines go to stderr, which the controller's terminal shows, tagged.
    """
    global _writer
    worker = getattr(config, "workerinput", None)
    tag = f"[{worker.get('workerid', 'worker')}] " if worker is not None else ""

    def write(text: str) -> None:
        capture: _Capture | None = config.pluginmanager.getplugin("capturemanager")
        reporter = config.pluginmanager.getplugin("terminalreporter")
        with _uncaptured(capture):
            if worker is None and reporter is not None:
                reporter.write_line(text, cyan=True)
                reporter.flush()
            elif worker is not None and sys.__stderr__ is not None:
                sys.__stderr__.write(f"{tag}{text}\n")
                sys.__stderr__.flush()

    previous, _writer = _writer, write
    config.add_cleanup(lambda: _restore(previous))  # an inner (pytester) session ends


def _restore(writer: Writer | None) -> None:
    global _writer
    _writer = writer


@contextlib.contextmanager
def _uncaptured(capture: _Capture | None) -> Iterator[None]:
    if capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield


# -- the end-of-run summary ------------------------------------------------------------------

#: pytest's outcome keys in its stats, worst first: a test is counted under its worst one.
OUTCOMES = ("error", "failed", "xpassed", "xfailed", "skipped", "passed")


@dataclass
class Checks:
    """Checks (tests carrying a synthmon marker) by outcome, in total and per marker."""

    total: Counter[str] = field(default_factory=Counter)
    by_marker: dict[str, Counter[str]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.total.values())


def count_checks(stats: Mapping[str, Sequence[Any]], markers: Iterable[str]) -> Checks:
    """Each check once, under its worst outcome (a teardown error beats a passed call)."""
    markers = tuple(markers)
    worst: dict[str, tuple[int, list[str]]] = {}
    for rank, outcome in enumerate(OUTCOMES):
        for report in stats.get(outcome, ()):
            nodeid, keywords = getattr(report, "nodeid", ""), getattr(report, "keywords", {})
            marked = [m for m in markers if m in keywords]
            if marked and nodeid and (nodeid not in worst or rank < worst[nodeid][0]):
                worst[nodeid] = (rank, marked)
    checks = Checks()
    for nodeid, (rank, marked) in worst.items():
        outcome = OUTCOMES[rank]
        checks.total[outcome] += 1
        for marker in marked:
            checks.by_marker.setdefault(marker, Counter())[outcome] += 1
        if outcome in ("error", "failed"):
            checks.failed.append(f"{outcome.upper()} {nodeid}")
    return checks


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{counter[o]} {o}" for o in reversed(OUTCOMES) if counter[o])


def check_lines(checks: Checks, markers: Iterable[str]) -> list[str]:
    """``checks: 20 passed, 1 failed``, the same per marker, then each failed check."""
    if not checks.count:
        return []
    per_marker = [f"{m} {_counts(checks.by_marker[m])}" for m in markers if m in checks.by_marker]
    lines = [f"checks: {_counts(checks.total)}"]
    if per_marker:
        lines.append("  by marker: " + "; ".join(per_marker))
    return lines + [f"  {failed}" for failed in sorted(checks.failed)]


def user_property(stats: Mapping[str, Sequence[Any]], name: str) -> str | None:
    """The last value a test recorded as ``name`` (reports carry it across xdist workers)."""
    found = None
    for outcome in OUTCOMES:
        for report in stats.get(outcome, ()):
            for key, value in getattr(report, "user_properties", ()):
                if key == name:
                    found = str(value)
    return found


def where_lines(junit: str | None, allure_dir: str | None) -> list[str]:
    """Where a person finds the results and how to see the HTML report."""
    lines = []
    if junit:
        lines.append(f"JUnit XML: {junit}")
    if allure_dir:
        lines.append(
            f"Allure results: {allure_dir}; HTML report: `make report` (or scripts/report.sh "
            f"{allure_dir}) builds {Path(allure_dir).parent / 'allure-report'}/index.html"
        )
    return lines
