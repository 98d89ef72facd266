"""Scenario keys (issue 15 part 4): one alert may have two scenarios (a key of its own and
``alert:``), a scenario may name the span its slowest traces must blame (``investigate:``), every
existing file stays valid, and a mistake is one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthmon.errors import ConfigError
from synthmon.project import Project
from synthmon.projectfile import load_project
from synthmon.traces.attribution import Investigation
from synthmon.traces.expect import SpanExpectation

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "manager-app"

BASE = """
name: two-causes
services:
  postgres: {kind: postgres, database: d}
  redis: {kind: redis}
  app: {kind: command, command: [run], depends_on: [postgres, redis]}
target: app
monitoring: {prometheus_yml: p.yml, rules: rules, alertmanager_yml: am.yml}
scrape_jobs: [app]
policy: {always_firing: [Watchdog]}
scenarios:
  HighResponseTime:
    cause: +300 ms on the database link
    faults: [{link: {to: postgres, toxic: latency, latency: 300}}]
    investigate:
      endpoint: GET /api/tasks/{task_id}
      span: {attributes: {db.system: postgresql}}
"""

REDIS = """
  HighResponseTime-redis:
    alert: HighResponseTime
    cause: +300 ms on the Redis link
    faults: [{link: {to: redis, toxic: latency, latency: 300}}]
    investigate:
      endpoint: GET /api/tasks
      span: {kind: client, attributes: {db.system: redis, db.redis.database_index: 0}}
      traces: 3
"""


def load_project_text(tmp_path: Path, text: str) -> Project:
    (tmp_path / "synthmon.yaml").write_text(text)
    return load_project(tmp_path)


def test_two_scenarios_of_one_alert_are_told_apart_by_their_keys(tmp_path: Path) -> None:
    project = load_project_text(tmp_path, BASE + REDIS)
    assert [(s.id, s.alert) for s in project.scenarios] == [
        ("HighResponseTime", "HighResponseTime"),
        ("HighResponseTime-redis", "HighResponseTime"),
    ]
    redis = project.scenario("HighResponseTime-redis")
    assert redis.investigate == Investigation(
        "GET /api/tasks",
        SpanExpectation(
            kind="client", attributes={"db.system": "redis", "db.redis.database_index": 0}
        ),
        traces=3,
    )
    assert project.scenario("HighResponseTime").investigate == Investigation(
        "GET /api/tasks/{task_id}", SpanExpectation(attributes={"db.system": "postgresql"})
    )
    assert project.links() == {("app", "postgres"), ("app", "redis")}
    with pytest.raises(ConfigError, match=r"no scenario 'HighResponseTime-disk'"):
        project.scenario("HighResponseTime-disk")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            REDIS.replace(
                "{kind: client, attributes: {db.system: redis, db.redis.database_index: 0}}", "{}"
            ),
            r"scenarios\.HighResponseTime-redis\.investigate\.span: .*give name, service, kind "
            r"or attributes: it would match any span",
        ),
        (
            REDIS.replace("traces: 3", "traces: 0"),
            r"scenarios\.HighResponseTime-redis\.investigate\.traces: ",
        ),
        (
            REDIS.replace("endpoint: GET /api/tasks", "path: /api/tasks"),
            r"scenarios\.HighResponseTime-redis\.investigate\.",
        ),
        (
            REDIS.replace("kind: client", "kind: clientside"),
            r"scenarios\.HighResponseTime-redis\.investigate\.span\.kind: ",
        ),
        (
            REDIS.replace("database_index: 0", "database_index: [0]"),
            # T3's SpanExpectation names the key (its union's message could be plainer)
            r"investigate\.span\.attributes\.db\.redis\.database_index",
        ),
        (
            REDIS.replace("alert: HighResponseTime", "alert: Watchdog"),
            r"scenarios\.HighResponseTime-redis: an always-firing alert has its own check",
        ),
        (
            REDIS.replace("alert: HighResponseTime", "alert: Other"),
            r"no_scenario\.Other: the alert has a scenario too",
        ),
    ],
)
def test_a_bad_scenario_key_is_one_line_naming_it(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_project_text(tmp_path, BASE + extra + "no_scenario: {Other: why not}\n")
    assert "\n" not in str(caught.value), caught.value


def test_the_examples_scenarios_name_their_spans_and_test_ids_follow_the_keys() -> None:
    project = load_project(EXAMPLE)
    spans = {s.id: s.investigate.span.attributes for s in project.scenarios if s.investigate}
    assert spans == {
        "HighResponseTime": {"db.system": "postgresql"},
        "HighResponseTime-redis": {"db.system": "redis"},
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_alerts.py", "--collect-only", "-q",
         "-p", "no:cacheprovider", "--project", str(EXAMPLE), "-k", "HighResponseTime"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    case = "checks/test_alerts.py::test_alert_fires_reaches_its_receivers_and_resolves"
    ids = set(done.stdout.split())
    assert {f"{case}[HighResponseTime]", f"{case}[HighResponseTime-redis]"} <= ids, done.stdout
