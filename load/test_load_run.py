"""The load run itself is a valid measurement: it achieved its target rate (a run that fell
short would hide a slow server's slowness) and measured a real steady window.

Evidence: Locust's HTML report and the window's figures (the SLO gate plots the window).
"""

from __future__ import annotations

import pytest

from synthmon import evidence
from synthmon.load import LoadResult

pytestmark = pytest.mark.load


def test_load_run_achieved_its_target_rate(load_run: LoadResult) -> None:
    with evidence.step(f"Load run {load_run.profile}: target rate held over the steady window"):
        evidence.attach_load_report(load_run)
        assert load_run.valid, (
            f"load run {load_run.profile} is not a valid measurement: {load_run.reason}"
        )
        assert load_run.requests > 0, f"load run {load_run.profile} measured no requests"
