"""The load run itself is a valid measurement: it achieved its target rate (a run that fell
short would hide a slow server's slowness) and measured a real steady window."""

from __future__ import annotations

import pytest

from synthmon.load import LoadResult

pytestmark = pytest.mark.load


def test_load_run_achieved_its_target_rate(load_run: LoadResult) -> None:
    assert load_run.valid, (
        f"load run {load_run.profile} is not a valid measurement: {load_run.reason}"
    )
    assert load_run.requests > 0, f"load run {load_run.profile} measured no requests"
