"""synthmon's own tests: the exec guard records every program they run (tests/exec_guard.py)."""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.exec_guard import start


def pytest_configure(config: pytest.Config) -> None:
    start(config)
    # A shell's background job (`make test &`, nohup in a CI script) starts with SIGINT
    # ignored, and so would every child: the interrupt tests need Ctrl-C to be deliverable.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def traversable_tmp() -> Iterator[Path]:
    """A temp dir other users can traverse (PostgreSQL runs as another user and reads the
    copies and run dirs under it): pytest's tmp_path is 0700. Removed after."""
    made = Path(tempfile.mkdtemp(prefix="synthmon-test-"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)
