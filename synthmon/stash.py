"""What a synthmon session keeps in ``config.stash`` for its hooks, fixtures and summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from synthmon.stack import Stack

if TYPE_CHECKING:
    from synthmon.load import LoadResult

stack_key = pytest.StashKey[Stack]()
kept_key = pytest.StashKey[str]()  # why --keep-stack kept (or did not keep) the stack
load_key: pytest.StashKey[LoadResult] = pytest.StashKey()
slo_report_key = pytest.StashKey[str]()
coverage_key = pytest.StashKey[str]()  # why the run fails --min-alert-coverage
