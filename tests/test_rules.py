"""The Prometheus rules: promtool validates and unit-tests them, a broken rule makes its unit test
fail, every alert carries the labels and annotations routing and humans need, and the test-stack
renderer scales timings without touching anything else."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthmon.errors import ConfigError
from synthmon.stack.rules import (
    AlertRule,
    alert_deadline,
    load_alerts,
    range_windows,
    read_alerts,
    rule_deadline,
    scale_expr,
    scale_rules,
)
from tests._programs import require

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "examples/manager-app/monitoring/prometheus" / "rules"
TESTS_DIR = ROOT / "examples/manager-app/monitoring/prometheus" / "tests"
RUNBOOK = ROOT / "docs" / "runbook.md"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted(TESTS_DIR.glob("*.yml"))

# The escalation contract (docs/runbook.md#escalation): severity, priority.
EXPECTED_ROUTING = {
    "ApplicationDown": ("critical", "P1"),
    "DatabaseConnectionFailure": ("critical", "P1"),
    "HighErrorRate": ("warning", "P2"),
    "HighResponseTime": ("warning", "P2"),
    "HighFailedLoginRate": ("warning", "P2"),
    "GitHubAPIRateLimitLow": ("warning", "P3"),
    "HighCPUUsage": ("warning", "P3"),
    "HighMemoryUsage": ("info", "P4"),
    "Watchdog": ("none", None),
    "SyntheticRunFailed": ("warning", "P2"),
    "SyntheticRunMissing": ("warning", "P3"),
}
# How each alert is broken for the self-test: a misspelt metric (Watchdog: an empty vector).
MUTATIONS = {
    "ApplicationDown": ("up", "up_typo"),
    "DatabaseConnectionFailure": ("dependency_up", "dependency_up_typo"),
    "HighErrorRate": ("http_requests_total", "http_request_total"),
    "HighResponseTime": ("http_request_duration_seconds_bucket", "http_request_duration_bucket"),
    "GitHubAPIRateLimitLow": ("github_api_rate_limit_remaining", "github_rate_limit_remaining"),
    "HighCPUUsage": ("process_cpu_seconds_total", "process_cpu_seconds"),
    "HighMemoryUsage": ("process_resident_memory_bytes", "process_memory_bytes"),
    "HighFailedLoginRate": ("login_failures_total", "login_failure_total"),
    "Watchdog": ("vector(1)", "absent(vector(1))"),
    "SyntheticRunFailed": ("synthmon_run_success", "synthmon_run_succes"),
    "SyntheticRunMissing": ("synthmon_last_run_timestamp_seconds", "synthmon_last_run_timestamp"),
}


def _promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def _alerts_by_file() -> list[tuple[Path, AlertRule]]:
    return [
        (path, alert)
        for path in RULE_FILES
        for alert in load_alerts(path.read_text(encoding="utf-8"), source=str(path)).values()
    ]


def _test_file_for(rule_file: Path) -> Path:
    """The promtool test file whose rule_files include ``rule_file``."""
    for test_file in TEST_FILES:
        spec = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        if any((TESTS_DIR / name).resolve() == rule_file for name in spec["rule_files"]):
            return test_file
    raise AssertionError(f"no file in {TESTS_DIR} tests {rule_file.name}")


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _runbook_anchors() -> set[str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # no '#' comments in code
    return {_slug(m[1]) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M)}


ALERTS = _alerts_by_file()


# -- promtool on the production files -----------------------------------------------------------


def test_rule_and_test_files_exist() -> None:
    assert RULE_FILES, f"no rule files in {RULES_DIR}"
    assert TEST_FILES, f"no promtool test files in {TESTS_DIR}"
    assert set(EXPECTED_ROUTING) == {alert.name for _, alert in ALERTS}


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rule_file: Path) -> None:
    result = _promtool("check", "rules", rule_file)
    assert result.returncode == 0, _output(result)


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    result = _promtool("test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, _output(result)


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    """Each alert needs a firing case and a silent one (Watchdog never is silent)."""
    firing: set[str] = set()
    silent: set[str] = set()
    for test_file in TEST_FILES:
        for case in yaml.safe_load(test_file.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {alert.name for _, alert in ALERTS}
    assert names <= firing, f"alerts never tested firing: {sorted(names - firing)}"
    assert names - {"Watchdog"} <= silent, f"never tested silent: {sorted(names - silent)}"


@pytest.mark.parametrize(("rule_file", "alert"), ALERTS, ids=[alert.name for _, alert in ALERTS])
def test_broken_rule_fails_its_unit_test(rule_file: Path, alert: AlertRule, tmp_path: Path) -> None:
    """Self-test: a misspelt metric in one alert's expr makes promtool's unit test fail."""
    old, new = MUTATIONS[alert.name]
    document: dict[str, Any] = yaml.safe_load(rule_file.read_text(encoding="utf-8"))
    mutated = 0
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert.name:
                pattern = rf"(?<!\w){re.escape(old)}(?!\w)"
                rule["expr"], count = re.subn(pattern, new, rule["expr"])
                mutated += count
    assert mutated, f"mutation {old!r} does not occur in {alert.name}'s expr"
    broken_rules = tmp_path / rule_file.name
    broken_rules.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    test_file = _test_file_for(rule_file)
    spec = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    spec["rule_files"] = [str(broken_rules)]
    broken_test = tmp_path / test_file.name
    broken_test.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

    result = _promtool("test", "rules", broken_test, cwd=tmp_path)

    assert result.returncode != 0, _output(result)
    assert f"alertname: {alert.name}," in result.stdout + result.stderr, _output(result)


# -- labels and annotations ---------------------------------------------------------------------


@pytest.mark.parametrize(("rule_file", "alert"), ALERTS, ids=[a.name for _, a in ALERTS])
def test_alert_routing_labels(rule_file: Path, alert: AlertRule) -> None:
    assert (alert.severity, alert.labels.get("priority")) == EXPECTED_ROUTING[alert.name], (
        rule_file.name
    )
    assert alert.severity in {"critical", "warning", "info", "none"}
    if alert.severity == "critical":
        assert alert.labels.get("priority") == "P1", "critical alerts page (P1)"


@pytest.mark.parametrize(("rule_file", "alert"), ALERTS, ids=[a.name for _, a in ALERTS])
def test_alert_annotations_and_runbook_anchor(rule_file: Path, alert: AlertRule) -> None:
    for key in ("summary", "description", "runbook_url"):
        assert alert.annotations.get(key, "").strip(), f"{rule_file.name}: {alert.name} {key}"
    url = alert.annotations["runbook_url"]
    path, _, anchor = url.partition("#")
    assert path == "docs/runbook.md", url
    assert anchor == alert.name.lower(), f"{url}: anchor should be the alert's heading"
    assert anchor in _runbook_anchors(), f"{url}: no heading '{alert.name}' in {RUNBOOK}"


def test_runbook_has_escalation_maintenance_and_recovery_sections() -> None:
    anchors = _runbook_anchors()
    assert {"escalation", "maintenance-silences", "recovery"} <= anchors


# -- scale_rules --------------------------------------------------------------------------------

RULES = """\
groups:
  - name: demo
    interval: 1m
    rules:
      - record: job:requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
      - alert: Slow
        expr: |
          histogram_quantile(0.95, sum by (le) (rate(d_bucket{path=~"/a/[0-9]+"}[5m])))
            > 0.2  # windows in comments stay: [1h]
        for: 5m
        keep_firing_for: 10m
        labels:
          severity: warning
          priority: P2
          window: 5m
        annotations:
          summary: 'P95 over [5m] is {{ $value | humanizeDuration }}'
          description: It waits for 5m.
      - alert: Instant
        expr: vector(1)
        labels: {enabled: yes}
"""


def _load(text: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def test_scale_rules_divides_for_and_windows() -> None:
    out = _load(scale_rules(RULES, 60, 4))
    group = out["groups"][0]
    record, slow, instant = group["rules"]
    assert group["interval"] == "1s"
    assert record["expr"] == "sum by (job) (rate(http_requests_total[5s]))"
    assert slow["for"] == "5s"
    assert slow["keep_firing_for"] == "10s"
    assert "[5s]" in slow["expr"] and "[5m]" not in slow["expr"]
    assert "for" not in instant, "no for: stays no for: (fires at once)"


def test_a_rule_in_unscaled_keeps_its_windows_and_the_others_scale() -> None:
    text = RULES.replace("(rate(d_bucket", "(rate(d_bucket[10m] offset 1h) or rate(d_bucket")
    rendered = scale_rules(text, 60, 4, unscaled={"Slow"})
    record, slow, _ = _load(rendered)["groups"][0]["rules"]
    assert "[5m]" in slow["expr"] and "[10m] offset 1h" in slow["expr"], "kept as written"
    assert (slow["for"], slow["keep_firing_for"]) == ("5s", "10s"), "its timers still scale"
    assert record["expr"] == "sum by (job) (rate(http_requests_total[5s]))", "others scale"
    assert "# Windows kept as written (monitoring.unscaled_windows): Slow." in rendered
    by_record = _load(scale_rules(RULES, 60, 4, unscaled={"job:requests:rate5m"}))
    record, slow, _ = by_record["groups"][0]["rules"]
    assert "[5m]" in record["expr"] and "[5s]" in slow["expr"], "a record name works too"


def test_an_unscaled_rule_still_gets_its_expression_checked() -> None:
    bad = RULES.replace("}[5m])))", "}[5m)))")
    with pytest.raises(ConfigError, match=r"alert 'Slow', expr: unbalanced"):
        scale_rules(bad, 60, 4, source="rules.yml", unscaled={"Slow"})


def test_an_unscaled_rule_waits_for_its_whole_window() -> None:
    scaled = rule_deadline("0s", 60, 1, 1, window="5m")
    kept = rule_deadline("0s", 60, 1, 1, window="5m", scale_window=False)
    assert (scaled, kept) == (1 + 5 + 1, 1 + 300 + 1)


def test_scale_rules_keeps_labels_annotations_strings_and_comments() -> None:
    # BaseLoader reads every scalar as the text it is, as Prometheus (YAML 1.2) would.
    source = yaml.load(RULES, Loader=yaml.BaseLoader)
    out = yaml.load(scale_rules(RULES, 60, 4), Loader=yaml.BaseLoader)
    for before, after in zip(source["groups"][0]["rules"], out["groups"][0]["rules"], strict=True):
        assert after.get("labels") == before.get("labels")
        assert after.get("annotations") == before.get("annotations")
        assert list(after) == list(before), "key order is kept"
    slow = out["groups"][0]["rules"][1]["expr"]
    assert 'path=~"/a/[0-9]+"' in slow
    assert "# windows in comments stay: [1h]" in slow
    instant = _load(scale_rules(RULES, 60, 4))["groups"][0]["rules"][2]
    assert instant["labels"] == {"enabled": "yes"}, "no YAML 1.1 booleans, text stays text"


def test_min_window_and_min_for() -> None:
    text = RULES.replace("[5m]", "[1m]").replace("for: 5m", "for: 30s")
    out = _load(scale_rules(text, 60, 4))
    slow = out["groups"][0]["rules"][1]
    assert "[4s]" in slow["expr"], "windows never below min_window"
    assert slow["for"] == "1s", "a non-zero for: never below 1s"
    assert scale_expr("rate(x[2m])", 60, 0.5) == "rate(x[2s])"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("max_over_time(rate(x[5m])[30m:1m])", "max_over_time(rate(x[5s])[30s:1s])"),
        ("max_over_time(x[1h:])", "max_over_time(x[1m:])"),
        ("max_over_time(x[10s:100ms])", "max_over_time(x[4s:1s])"),
        ("rate(x[ 1h30m ])", "rate(x[1m30s])"),
        ("x offset 1h", "x offset 1m"),
        ("rate(x[5m] OFFSET -10m)", "rate(x[5s] OFFSET -10s)"),
        ("x @ 1700000000 offset 5m", "x @ 1700000000 offset 5s"),
        (
            "x{offset=\"5m\", le=`[5m]`} or y{a='[1h]'}",
            "x{offset=\"5m\", le=`[5m]`} or y{a='[1h]'}",
        ),
        ("sum by (offset) (x)", "sum by (offset) (x)"),
    ],
)
def test_scale_expr(expr: str, expected: str) -> None:
    assert scale_expr(expr, 60, 4) == expected


def test_range_windows() -> None:
    assert range_windows("max_over_time(rate(x[5m])[1h:1m]) + y offset 1d") == (300.0, 3600.0)


def test_scaled_production_rules_pass_promtool(tmp_path: Path) -> None:
    for rule_file in RULE_FILES:
        scaled = tmp_path / rule_file.name
        text = rule_file.read_text(encoding="utf-8")
        scaled.write_text(scale_rules(text, 60, 4, source=str(rule_file)), encoding="utf-8")
    demo = tmp_path / "demo.yml"
    demo.write_text(scale_rules(RULES, 60, 4), encoding="utf-8")
    result = _promtool("check", "rules", *sorted(tmp_path.glob("*.yml")))
    assert result.returncode == 0, _output(result)


def test_scaled_production_rules_keep_everything_but_timings() -> None:
    for rule_file in RULE_FILES:
        text = rule_file.read_text(encoding="utf-8")
        before = load_alerts(text)
        after = load_alerts(scale_rules(text, 60, 4))
        assert before.keys() == after.keys()
        for name, alert in before.items():
            assert after[name].labels == alert.labels
            assert after[name].annotations == alert.annotations
            assert after[name].for_seconds == (
                max(alert.for_seconds / 60, 1) if alert.for_seconds else 0
            )
            assert after[name].windows == tuple(max(w / 60, 4) for w in alert.windows)


_ALERT_A = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("groups: [", r"rules\.yml: line 1: not valid YAML: "),
        ("- a\n- b\n", r"rules\.yml: expected a mapping with a 'groups:' list"),
        ("groups:\n  - rules: []\n", r"groups\[0\] needs a 'name:'"),
        ("groups:\n  - name: g\n", r"group 'g' needs a 'rules:' list"),
        (
            "groups:\n  - name: g\n    rules:\n      - expr: up\n",
            r"rules\[0\]: expected exactly one",
        ),
        (
            _ALERT_A + "        for: 5x\n",
            r"group 'g', alert 'A', for: '5x' is not a Prometheus duration",
        ),
        (
            _ALERT_A + "        for: 300\n",
            r"alert 'A', for: got 300 \(expected a duration string",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5q])\n",
            r"alert 'A', expr: '5q' in \[5q\] is not a duration",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m)\n",
            r"alert 'A', expr: unbalanced '\[' at column 7",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 'x{a=\"b}'\n",
            r"alert 'A', expr: unbalanced '\"'",
        ),
    ],
)
def test_scale_rules_bad_input_is_a_one_line_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        scale_rules(text, 60, 4, source="rules.yml")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("factor", [0, -1, float("nan"), float("inf")])
def test_scale_rules_rejects_bad_factor(factor: float) -> None:
    with pytest.raises(ConfigError, match="time scale factor must be a number > 0"):
        scale_rules(RULES, factor, 4)


def test_empty_rule_file_stays_empty() -> None:
    assert scale_rules("", 60, 4) == ""
    assert load_alerts("# nothing yet\n") == {}


# -- listing and deadlines ----------------------------------------------------------------------


def test_read_alerts_lists_the_production_alerts() -> None:
    alerts = read_alerts(RULES_DIR)
    assert set(alerts) == set(EXPECTED_ROUTING)
    down = alerts["ApplicationDown"]
    assert down.for_seconds == 60
    assert 'absent(up{job="app"})' in down.expr
    assert alerts["HighErrorRate"].windows == (300.0, 300.0)
    assert hash(down) == hash(read_alerts(RULES_DIR)["ApplicationDown"])
    with pytest.raises(TypeError):
        down.labels["severity"] = "none"  # type: ignore[index]  # proving it is read-only


def test_duplicate_alert_names_are_an_error() -> None:
    text = "groups:\n  - name: g\n    rules:\n" + "      - alert: A\n        expr: up\n" * 2
    with pytest.raises(ConfigError, match=r"group 'g', alert 'A': alert name used twice"):
        load_alerts(text, source="dup.yml")


def test_rule_deadline() -> None:
    # scrape 1 + eval 1 + for 5m/60 = 5s, on a 1s evaluation grid.
    assert rule_deadline("5m", 60, 1, 1) == 7
    # a rate over 5m may need the whole scaled window (5s) of bad samples first.
    assert rule_deadline("5m", 60, 1, 1, window="5m") == 12
    # for: rounds up to whole evaluations; tiny windows and for: hit their floors.
    assert rule_deadline("5m", 60, 1, 2) == 1 + 2 + 6
    assert rule_deadline("10s", 60, 1, 1, window="1m") == 1 + 4 + 1 + 1
    assert rule_deadline(0, 60, 1, 1) == 2
    with pytest.raises(ConfigError):
        rule_deadline("5m", 60, 0, 1)


def test_alert_deadline_uses_for_and_longest_window() -> None:
    alerts = read_alerts(RULES_DIR)
    assert alert_deadline(alerts["HighErrorRate"], 60, 1, 1) == 1 + 5 + 1 + 5
    assert alert_deadline(alerts["ApplicationDown"], 60, 1, 1) == 1 + 1 + 1
    assert alert_deadline(alerts["Watchdog"], 60, 1, 1) == 2


def test_render_rules_keeps_the_named_windows_and_rejects_an_unknown_name(tmp_path: Path) -> None:
    from synthmon.settings import Settings
    from synthmon.stack.configs import render_rules

    rules = tmp_path / "demo.yml"
    rules.write_text(RULES, encoding="utf-8")
    settings = Settings(time_scale=60)
    rendered = _load(render_rules(settings, [rules], {"Slow"})["demo.yml"])
    record, slow, _ = rendered["groups"][0]["rules"]
    assert "[5m]" in slow["expr"] and "[5m]" not in record["expr"]
    with pytest.raises(ConfigError, match=r"^monitoring.unscaled_windows: .*'Slwo'$"):
        render_rules(settings, [rules], {"Slow", "Slwo"})
