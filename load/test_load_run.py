"""The load run itself is a valid measurement: it achieved its target rate (a run that fell
short would hide a slow server's slowness) and measured a real steady window.

Evidence: Locust's HTML report and the window's figures (the SLO gate plots the window).
And healthy load raises no alert (but the always-firing ones) over the whole run.
"""

from __future__ import annotations

import json
import time

import pytest

from synthmon import evidence
from synthmon.load import LoadResult
from synthmon.project import Project
from synthmon.prom import Prometheus
from synthmon.quiet import allowed_alerts, noisy_message, offenders
from synthmon.stack import Stack

pytestmark = pytest.mark.load


def test_load_run_achieved_its_target_rate(load_run: LoadResult) -> None:
    with evidence.step(f"Load run {load_run.profile}: target rate held over the steady window"):
        evidence.attach_load_report(load_run)
        assert load_run.valid, (
            f"load run {load_run.profile} is not a valid measurement: {load_run.reason}"
        )
        assert load_run.requests > 0, f"load run {load_run.profile} measured no requests"


def test_no_alert_fires_during_the_load_run(
    load_run: LoadResult, stack: Stack, prom: Prometheus, project: Project
) -> None:
    """Healthy load is not an incident: no alert but the always-firing ones was pending or
    firing from the run's start (ramp included) to its end."""
    start, end = load_run_span(load_run)
    allowed = allowed_alerts(project)
    with evidence.step(f"No alert but {sorted(allowed)} fired during load run {load_run.profile}"):
        # the run's last samples are in Prometheus after one more scrape and evaluation
        settle = end + stack.scrape_interval_s + stack.evaluation_interval_s - time.time()
        time.sleep(max(0.0, settle))
        found = offenders(prom, start, end, allowed, stack.evaluation_interval_s)
        evidence.attach_json("alerts active during the load run", [o.describe("") for o in found])
        assert not found, noisy_message(found, "during the load run")


def load_run_span(load_run: LoadResult) -> tuple[float, float]:
    """The whole run: from Locust's start (the timing file's ``test_start``, else the steady
    window's start) to the steady window's end."""
    start = load_run.window_start
    timing = load_run.files.get("timing")
    if timing is not None and timing.is_file():
        began = json.loads(timing.read_text(encoding="utf-8")).get("test_start")
        start = min(start, float(began)) if began is not None else start
    return start, load_run.window_end
