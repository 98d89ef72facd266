"""synthmon's own tests: the exec guard records every program they run (tests/exec_guard.py)."""

from __future__ import annotations

import pytest

from tests.exec_guard import start


def pytest_configure(config: pytest.Config) -> None:
    start(config)
