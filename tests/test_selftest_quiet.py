"""Self-tests of the false-positive checks: synthmon.quiet on a real Prometheus (an allowed
always-firing alert passes, a noisy one is named with its value), and checks/test_no_false_
positives.py plus the load run's check on a copy of the reference example whose HighMemoryUsage
threshold is below the healthy value (one stack run)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from synthmon.errors import QueryError
from synthmon.prom import Prometheus
from synthmon.quiet import noisy_message, offenders
from synthmon.waiting import wait_until
from tests.test_rename import _suite, renamed_copy
from tests.test_selectors import real_prom

__all__ = ["real_prom"]  # a fixture, imported for this module's tests
# HighMemoryUsage: 80 % of the memory limit -> 1 %; the healthy app uses about 10 %
NOISY = re.compile(r'(\(app_memory_limit_bytes\{job="app"\} > 0\)\s*> )0\.8\b')


def _quiet_range(prom: Prometheus) -> tuple[float, float]:
    """The last seconds, once Noisy fires (it fires from its first evaluation on) and one more
    evaluation wrote its ALERTS sample."""
    wait_until(
        lambda: any(a.name == "Noisy" and a.state == "firing" for a in prom.alerts()),
        timeout_s=30,
        what="Noisy to fire",
    )
    time.sleep(1.5)
    end = time.time()
    return end - 5, end


def test_only_allowed_alerts_active_passes(real_prom: Prometheus) -> None:
    """The control: AlwaysOn and Noisy both allowed, Quiet never active: nothing to report."""
    start, end = _quiet_range(real_prom)
    assert offenders(real_prom, start, end, {"AlwaysOn", "Noisy"}, 1.0) == []


def test_a_noisy_alert_is_named_with_its_expressions_value(real_prom: Prometheus) -> None:
    start, end = _quiet_range(real_prom)
    [found] = offenders(real_prom, start, end, {"AlwaysOn"}, 1.0)
    assert (found.alert, found.fired, found.value) == ("Noisy", True, "1")
    assert (
        dict(found.labels)["severity"] == "warning" and start - 1 <= found.at <= end + 1
    )  # on the step grid
    message = noisy_message([found], "during the load run")
    assert re.fullmatch(
        r"1 alert\(s\) active during the load run \(false positives\):\n"
        r"Noisy\{[^}]*severity=warning[^}]*\} fired at \d\d:\d\d:\d\d during the load run: its "
        r'expression `prometheus_build_info\{job="prometheus"\} > 0` = 1',
        message,
    ), message


def test_a_range_that_ends_before_it_starts_is_an_error(real_prom: Prometheus) -> None:
    with pytest.raises(QueryError, match="end 1 is before start 2"):
        offenders(real_prom, 2, 1, (), 1.0)


def make_memory_alert_noisy(path: Path, text: str) -> str:
    if path.name != "app.yml" or path.parent.name != "rules":
        return text
    noisy, count = NOISY.subn(r"\g<1>0.01", text)
    assert count == 1, "HighMemoryUsage's threshold moved: update NOISY"
    return noisy


@pytest.mark.selftest
def test_a_noisy_rule_fails_the_steady_state_and_load_run_checks(traversable_tmp: Path) -> None:
    project = renamed_copy(traversable_tmp / "noisy", [make_memory_alert_noisy])
    done = _suite(
        project, traversable_tmp / "runs", "checks/test_no_false_positives.py",
        "load/test_load_run.py", "-k", "no_alert_fires",
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, out[-4000:]
    assert "FAILED checks/test_no_false_positives.py::test_no_alert_fires_in_the_healthy" in out
    assert "FAILED load/test_load_run.py::test_no_alert_fires_during_the_load_run" in out
    for during in ("in the healthy steady state", "during the load run"):
        noisy = rf"HighMemoryUsage\{{[^}}]*priority=P4[^}}]*\}} (fired|was pending) at \d\d:\d\d:\d\d {during}: its expression `process_resident_memory_bytes\{{job=\"app\"\}} / on \(job, instance\) \(app_memory_limit_bytes\{{job=\"app\"\}} > 0\) > 0.01` = 0\.\d+"  # noqa: E501 (one message)
        assert re.search(noisy, out), out[-4000:]
