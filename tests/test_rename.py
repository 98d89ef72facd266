"""The rename test: a copy of the reference example with its services, alerts, routing label
and request counter renamed by text substitution (as sed would), nothing changed in synthmon,
still passes a bounded part of the suite; the same copy with one inconsistent rename (the
counter renamed everywhere but in the app) fails.

What is renamed, in every text file of the copy:
- services: app -> taskapi, postgres -> maindb, redis -> cachestore, github -> scm (service
  names only: ``kind: postgres``, ``image: postgres``, the ``-m app`` module, the scrape job
  ``app`` and the routes file stay);
- alerts: HighErrorRate -> ErrorsTooHigh, ApplicationDown -> ServiceGone;
- the routing label: priority -> urgency (rules, promtool tests, alertmanager.yml, templates,
  synthmon.yaml);
- the app's request counter: http_requests_total -> taskapi_hits_total (app code, rules,
  promtool tests, dashboards and the SLO spec, which first names it explicitly, as a user who
  renamed their counter writes it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "manager-app"
SERVICES = {"postgres": "maindb", "redis": "cachestore", "github": "scm"}
ALERTS = {"HighErrorRate": "ErrorsTooHigh", "ApplicationDown": "ServiceGone"}
LABEL = ("priority", "urgency")
COUNTER = ("http_requests_total", "taskapi_hits_total")
# where a dependency's word is not its service name: kind, image setting, routes file, /health key
NOT_A_NAME = r"(?<!kind: )(?<!image: )(?<!upstreams/)(?<!checks\.)"
TEXT = {".py", ".yml", ".yaml", ".json", ".tmpl", ".txt", ""}

pytestmark = pytest.mark.selftest
Sub = Callable[[Path, str], str]


def _rename_services(path: Path, text: str) -> str:
    if path.name == "synthmon.yaml":
        for old, new in SERVICES.items():
            text = re.sub(rf"{NOT_A_NAME}\b{old}\b", new, text)
        text = re.sub(r"(?m)^  app:", "  taskapi:", text)
        text = re.sub(r"\btarget: app\b", "target: taskapi", text)
        text = re.sub(r"\{stop: app\}", "{stop: taskapi}", text)
    if path.name == "prometheus.yml":
        text = text.replace("${app_address}", "${taskapi_address}")
    return text


def _rename_alerts_and_label(path: Path, text: str) -> str:
    if path.suffix == ".py":
        return text
    for old, new in ALERTS.items():
        text = re.sub(rf"\b{old}\b", new, text)
    return re.sub(rf"\b{LABEL[0]}\b", LABEL[1], text)


def _rename_counter(everywhere: bool) -> Sub:
    def sub(path: Path, text: str) -> str:
        if path.name == "baseline.yaml" and path.parent.name == "slo":
            text = text.replace("objectives:", f"metrics:\n  request_counter: {COUNTER[0]}\n"
                                "objectives:", 1)  # fmt: skip
        if not everywhere and path.suffix == ".py":
            return text  # the inconsistent rename: the app still exports the old name
        return re.sub(rf"\b{COUNTER[0]}\b", COUNTER[1], text)

    return sub


def renamed_copy(target: Path, subs: list[Sub]) -> Path:
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in sorted(target.rglob("*")):
        if path.is_file() and path.suffix in TEXT:
            text = original = path.read_text(encoding="utf-8")
            for sub in subs:
                text = sub(path, text)
            if text != original:
                path.write_text(text, encoding="utf-8")
    return target / "synthmon.yaml"


def _suite(project: Path, runs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider",
         "--project", str(project), "--stack", "processes", "--load-profile", "smoke",
         "--run-dir", str(runs)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_renamed_copy_passes_the_suite(traversable_tmp: Path) -> None:
    subs = [_rename_services, _rename_alerts_and_label, _rename_counter(everywhere=True)]
    project = renamed_copy(traversable_tmp / "renamed", subs)
    text = project.read_text()
    assert "maindb:" in text and "taskapi:" in text and "kind: postgres" in text
    assert "ErrorsTooHigh" in text and "HighErrorRate" not in text and 'urgency="P1"' in text
    rules = (traversable_tmp / "renamed/monitoring/prometheus/rules/app.yml").read_text()
    assert COUNTER[1] in rules and COUNTER[0] not in rules and "urgency: P1" in rules
    assert COUNTER[1] in (traversable_tmp / "renamed/app/metrics.py").read_text()
    validate = subprocess.run(
        [sys.executable, "-m", "synthmon.cli", "validate", str(project)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert validate.returncode == 0, validate.stderr
    done = _suite(
        project, traversable_tmp / "runs", "checks/test_health.py", "checks/test_alerts.py", "slo",
        "-k", "health or ErrorsTooHigh or objective_holds",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    # ErrorsTooHigh's scenario ran (and the declared inhibition of it by ServiceGone)
    assert "ErrorsTooHigh firing at slack-email-p2/slack[0]" in done.stdout, done.stdout[-4000:]
    assert re.search(r"by marker: .*alert 2 passed", done.stdout), done.stdout[-4000:]
    assert re.search(r"slo \d+ passed", done.stdout), done.stdout[-4000:]  # and the gate


def test_inconsistent_rename_fails(traversable_tmp: Path) -> None:
    """The counter renamed in the rules and the SLO spec but not in the app: the gate finds no
    requests under the new name, and the suite says so."""
    subs = [_rename_services, _rename_alerts_and_label, _rename_counter(everywhere=False)]
    project = renamed_copy(traversable_tmp / "broken", subs)
    assert COUNTER[0] in (traversable_tmp / "broken/app/metrics.py").read_text()
    done = _suite(project, traversable_tmp / "runs", "slo", "-k", "objective_holds")
    assert done.returncode == 1, done.stdout[-4000:]
    assert COUNTER[1] in done.stdout, done.stdout[-4000:]
