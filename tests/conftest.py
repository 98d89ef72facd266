"""synthmon's own tests: the exec guard records every program they run (tests/exec_guard.py)."""

from __future__ import annotations

import signal

import pytest

from tests.exec_guard import start


def pytest_configure(config: pytest.Config) -> None:
    start(config)
    # A shell's background job (`make test &`, nohup in a CI script) starts with SIGINT
    # ignored, and so would every child: the interrupt tests need Ctrl-C to be deliverable.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
