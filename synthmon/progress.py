"""One line on the terminal when a check starts a long wait: what for, and until when.

A deadline of a minute with no output looks like a hang; a line such as ``synthmon: waiting
for HighErrorRate to fire until 14:03:12 (35 s)`` says it is not. The plugin calls
:func:`configure` with the session's config; until then (library use, a bare script) every
call is a no-op. Writing never raises: a progress line is not worth failing a check over.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest

#: Shorter waits pass without a line: they are not what makes a run look stuck.
MIN_WAIT_S = 5.0

Writer = Callable[[str], None]


class _Capture(Protocol):
    def global_and_fixture_disabled(self) -> contextlib.AbstractContextManager[None]: ...


_writer: Writer | None = None


def line(what: str, seconds: float, now: float | None = None) -> str:
    """The text of one waiting line (local wall-clock time, as a person reads it)."""
    until = time.strftime("%H:%M:%S", time.localtime((time.time() if now is None else now) + seconds))
    return f"synthmon: waiting for {what} until {until} ({seconds:.0f} s)"


def waiting(what: str, seconds: float) -> None:
    """Say that a wait of up to ``seconds`` for ``what`` starts now (if it is a long one)."""
    if _writer is None or seconds < MIN_WAIT_S:
        return
    with contextlib.suppress(Exception):
        _writer(line(what, seconds))


def configure(config: pytest.Config) -> None:
    """Write through the terminal reporter, with capture suspended for the line.

    Under pytest-xdist a worker has no terminal of its own (its stdout is the channel to the
    controller), so its lines go to stderr, which the controller's terminal shows, tagged
    with the worker id.
    """
    global _writer
    worker = getattr(config, "workerinput", None)
    capture: _Capture | None = config.pluginmanager.getplugin("capturemanager")
    if worker is not None:
        tag = f"[{worker.get('workerid', 'worker')}] "

        def write(text: str) -> None:
            with _uncaptured(capture):
                stream = sys.__stderr__
                if stream is not None:
                    stream.write(f"{tag}{text}\n")
                    stream.flush()

        _writer = write
        return
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if reporter is None:  # -p no:terminal
        _writer = None
        return

    def write_line(text: str) -> None:
        with _uncaptured(capture):
            reporter.write_line(text, cyan=True)
            reporter.flush()

    _writer = write_line
    config.add_cleanup(unconfigure)


def unconfigure() -> None:
    """Back to silent (the session's terminal is gone)."""
    global _writer
    _writer = None


@contextlib.contextmanager
def _uncaptured(capture: _Capture | None) -> Iterator[None]:
    if capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield
