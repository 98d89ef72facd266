"""No false positives in the healthy steady state: with the stack up and no fault injected, no
alert fires or is pending except the project's always-firing ones (a Watchdog). An alert that
fires on a healthy stack is noise; the message names it with its expression's value.

It carries no synthmon marker: ranked with the read-only checks, it runs before any load or
fault, and watches its own window (from its start), so nothing another check did overlaps it.
The load run's window gets the same check in load/test_load_run.py.
"""

from __future__ import annotations

import time

from synthmon import evidence, progress
from synthmon.deadlines import production_alerts
from synthmon.project import Project
from synthmon.prom import Prometheus
from synthmon.quiet import allowed_alerts, noisy_message, offenders
from synthmon.stack import Stack

# enough evaluations for every `for:` (scaled) to make an alert pending, and the rate windows
# to fill, up to a bound: a scaled 26 h window would otherwise hold the suite for 26 minutes
STEADY_EVALUATIONS = 10
MAX_WINDOW_FILL_S = 20.0


def steady_window_s(stack: Stack, project: Project) -> float:
    """How long the steady state is watched on this stack."""
    alerts = production_alerts(project.monitoring.rule_files()).values()
    kept = project.monitoring.unscaled_windows  # these windows run as written
    longest = max(
        (
            max(a.windows, default=0.0) / (1.0 if a.name in kept else stack.time_scale)
            for a in alerts
        ),
        default=0.0,
    )
    fill = min(longest, MAX_WINDOW_FILL_S)
    return STEADY_EVALUATIONS * stack.evaluation_interval_s + fill


def test_no_alert_fires_in_the_healthy_steady_state(
    stack: Stack, prom: Prometheus, project: Project
) -> None:
    # The steady state begins once the stack's start is over: a scrape and two evaluations
    # later every alert of the start (ApplicationDown before the app's first scrape) is
    # re-evaluated, and one resolved then is no longer in ALERTS.
    settle = stack.scrape_interval_s + 2 * stack.evaluation_interval_s
    start, watch = time.time() + settle, steady_window_s(stack, project)
    allowed = allowed_alerts(project)
    with evidence.step(f"Watch the healthy stack {watch:g} s: only {sorted(allowed)} may fire"):
        progress.waiting("the healthy steady state (no alert may fire)", settle + watch)
        # the window's last evaluation is in Prometheus one scrape and one evaluation later
        time.sleep(settle + watch + stack.scrape_interval_s + stack.evaluation_interval_s)
        found = offenders(prom, start, start + watch, allowed, stack.evaluation_interval_s)
        evidence.attach_json("alerts active in the steady state", [o.describe("") for o in found])
        assert not found, noisy_message(found, "in the healthy steady state")
