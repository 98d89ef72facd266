"""synthmon.selectors: which selectors of an expression are checked (parsed, never regex-matched),
and the live diagnosis against a real Prometheus that scrapes itself and evaluates small rules."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthmon.deadlines import production_alerts
from synthmon.errors import ConfigError
from synthmon.ports import HOST, free_ports
from synthmon.prom import Prometheus
from synthmon.selectors import (
    EXCEPTED,
    dead_selectors,
    diagnose,
    loaded_rules,
    selectors_of,
    wait_evaluated,
)
from synthmon.waiting import wait_until
from tests._programs import require

RULES = """
groups:
  - name: t
    interval: 1s
    rules:
      - alert: AlwaysOn
        expr: vector(1)
      - alert: Noisy
        expr: prometheus_build_info{job="prometheus"} > 0
        labels: {severity: warning}
      - alert: Quiet
        expr: up{job="prometheus"} == 0
      - record: job:up:sum
        expr: sum by (job) (up)
"""


def checked(expr: str) -> list[str]:
    return [s.promql for s in selectors_of(expr) if not s.excepted]


def excepted(expr: str) -> list[tuple[str, str]]:
    return [(s.promql, s.excepted) for s in selectors_of(expr) if s.excepted]


def test_plain_selectors_are_checked_with_offsets_and_at_dropped() -> None:
    expr = 'sum by (job) (rate(a_total{job="app", code=~"5.."}[5m] offset 1h)) / b @ 100 > 0.1'
    assert checked(expr) == ['a_total{job="app",code=~"5.."}', "b"]
    assert checked('histogram_quantile(0.9, sum by (le) (rate(h_bucket{job="x"}[1m])))') == [
        'h_bucket{job="x"}'
    ]
    assert checked("max_over_time(q[5m:30s]) and topk(3, -r)") == ["q", "r"]
    assert checked('{__name__=~"a|b"}') == ['{__name__=~"a|b"}']


def test_selectors_meant_to_be_absent_are_excepted() -> None:
    assert excepted('up{job="app"} == 0 or absent(up{job="app"})') == [
        ('up{job="app"}', EXCEPTED["absent"])
    ]
    assert checked('up{job="app"} == 0 or absent(up{job="app"})') == ['up{job="app"}']
    assert excepted("absent_over_time(s[26h]) or s == s offset 26h") == [
        ("s", EXCEPTED["absent_over_time"])
    ]
    assert excepted("sum(errors_total or vector(0)) > 1") == [("errors_total", EXCEPTED["or"])]
    assert checked("a or b") == ["a", "b"]  # no constant fallback: both must exist
    assert excepted("a unless (b)") == [("b", EXCEPTED["unless"])]
    assert checked("a unless b > 5") == ["a", "b"]  # b's value is compared: b must exist


def test_values_with_quotes_and_backslashes_stay_valid_promql() -> None:
    [selector] = selectors_of(r'x{path="a\"b", re=~"\\d+"}')
    assert selector.matchers == (("path", "=", 'a"b'), ("re", "=~", r"\d+"))
    assert selectors_of(selector.promql)[0].matchers == selector.matchers


def test_bad_promql_is_a_config_error_naming_the_rule() -> None:
    with pytest.raises(ConfigError, match=r"^alert Broken: not PromQL \(.+\): sum\(rate\(x$"):
        selectors_of("sum(rate(x", where="alert Broken")


# -- against a real Prometheus --------------------------------------------------------------


@pytest.fixture(scope="module")
def real_prom() -> Iterator[Prometheus]:
    """A Prometheus scraping itself every second, with RULES; ended by PID at teardown."""
    binary = require("prometheus")
    [port] = free_ports(1)
    with tempfile.TemporaryDirectory(prefix="synthmon-selectors-") as tmp:
        conf = Path(tmp)
        (conf / "rules.yml").write_text(RULES)
        (conf / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: [{conf / 'rules.yml'}]\n"
            f"scrape_configs: [{{job_name: prometheus, static_configs: [{{targets: "
            f"['{HOST}:{port}']}}]}}]\n"
        )
        argv = [
            binary,
            f"--config.file={conf / 'prometheus.yml'}",
            f"--storage.tsdb.path={conf / 'data'}",
            f"--web.listen-address={HOST}:{port}",
        ]
        with (conf / "log").open("w") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            prom = Prometheus(f"http://{HOST}:{port}", timeout=5)
            wait_until(
                lambda: prom.query('up{job="prometheus"} == 1'),
                timeout_s=30,
                what="the test Prometheus to scrape itself",
                retry_on=(Exception,),
            )
            wait_evaluated(prom, since=time.time(), timeout_s=30)  # after the first scrape
            yield prom
            prom.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_a_live_selector_has_no_diagnosis(real_prom: Prometheus) -> None:
    [selector] = selectors_of('up{job="prometheus"}')
    assert diagnose(real_prom, selector, 60) is None


def test_a_recording_rules_output_is_live_once_evaluated(real_prom: Prometheus) -> None:
    assert loaded_rules(real_prom)["job:up:sum"].kind == "recording"
    assert dead_selectors(real_prom, "R", 'job:up:sum{job="prometheus"} > 0', 60)[0] == []


def test_a_missing_metric_is_named(real_prom: Prometheus) -> None:
    problems, _ = dead_selectors(real_prom, "Renamed", "rate(renamed_total[5m]) > 1", 60)
    assert problems == [
        "alert Renamed: selector renamed_total returned no series in the last 1m: "
        "no metric renamed_total exists in the stack (with any labels)"
    ]


def test_a_metric_with_other_labels_shows_the_values_that_exist(real_prom: Prometheus) -> None:
    expr = 'up{job="nope"} == 0 or up{job="prometheus", zone="eu"} == 0'
    problems, _ = dead_selectors(real_prom, "Relabelled", expr, 60)
    assert problems == [
        'alert Relabelled: selector up{job="nope"} returned no series in the last 1m: metric up '
        'exists with other labels: job="nope" matches none of its series (job has: prometheus)',
        'alert Relabelled: selector up{job="prometheus",zone="eu"} returned no series in the last '
        '1m: metric up exists with other labels: zone="eu" matches none of its series (none has '
        "a zone label)",
    ]


def test_excepted_selectors_are_not_checked_but_listed(real_prom: Prometheus) -> None:
    problems, skipped = dead_selectors(real_prom, "A", 'absent(gone{job="x"}) or up == 0', 60)
    assert problems == []
    assert [(s.promql, s.excepted) for s in skipped] == [('gone{job="x"}', EXCEPTED["absent"])]


def test_the_check_module_has_one_check_per_alert_named_by_it() -> None:
    """Stable ids: every alert of the reference example's rules, with or without a scenario."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_rule_selectors.py", "--collect-only", "-q",
         "-p", "no:cacheprovider"],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    ids = re.findall(r"test_rule_selectors_return_series\[(\w+)\]", done.stdout)
    rules = root / "examples/manager-app/monitoring/prometheus/rules"
    assert ids == sorted(production_alerts(sorted(rules.glob("*.yml"))))
    assert {"SyntheticRunMissing", "Watchdog", "HighErrorRate"} <= set(ids)  # no scenario too
