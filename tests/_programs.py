"""Programs the tests run: a missing one fails the test, naming what installs it, never skips
(`make test` installs every one of them; tests/exec_guard.py proves it)."""

from __future__ import annotations

import shutil

import pytest


def require(program: str, installs: str = "make test (scripts/packages.txt)") -> str:
    """The path of ``program`` on PATH; a failure that says who installs it otherwise."""
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed: {installs} installs it", pytrace=False)
    return path
