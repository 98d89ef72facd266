"""Self-test of checks/test_rule_selectors.py on a copy of the reference example: a rule whose
metric is renamed, and one whose label value is, fail their selector check naming the selector
and saying whether the metric exists; an intact rule in the same run passes (the control).
One stack run: only the three rules' checks are selected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_rename import _suite, renamed_copy

pytestmark = pytest.mark.selftest
RULES = "monitoring/prometheus/rules/app.yml"
RENAMED_METRIC = ("process_cpu_seconds_total", "process_cpu_secs_total")  # HighCPUUsage
RELABELLED = ('dependency="database"', 'dependency="db"')  # DatabaseConnectionFailure
CHECK = "checks/test_rule_selectors.py::test_rule_selectors_return_series"


def break_two_rules(path: Path, text: str) -> str:
    if path.name != "app.yml" or path.parent.name != "rules":
        return text
    assert RENAMED_METRIC[0] in text and RELABELLED[0] in text
    return text.replace(*RENAMED_METRIC).replace(*RELABELLED)


def test_renamed_metric_and_label_fail_their_selector_checks(traversable_tmp: Path) -> None:
    project = renamed_copy(traversable_tmp / "broken", [break_two_rules])
    assert RENAMED_METRIC[1] in (traversable_tmp / "broken" / RULES).read_text()
    done = _suite(
        project, traversable_tmp / "runs", "checks/test_rule_selectors.py",
        "-k", "HighCPUUsage or DatabaseConnectionFailure or GitHubAPIRateLimitLow",
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, out[-4000:]
    assert f"FAILED {CHECK}[HighCPUUsage]" in out and f"FAILED {CHECK}[DatabaseConnection" in out
    assert re.search(r"\b2 failed, 1 passed\b", out), out[-3000:]  # GitHubAPIRateLimitLow
    assert (
        'alert HighCPUUsage: selector process_cpu_secs_total{job="app"} returned no series in '
        "the last" in out
    ), out[-4000:]
    assert "no metric process_cpu_secs_total exists in the stack (with any labels)" in out
    assert re.search(
        r'alert DatabaseConnectionFailure: selector dependency_up\{dependency="db",job="app"\} '
        r"returned no series in the last \w+: metric dependency_up exists with other labels: "
        r'dependency="db" matches none of its series \(dependency has: [\w, ]*database',
        out,
    ), out[-4000:]
