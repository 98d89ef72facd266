"""``synthmon validate``: one line per problem naming file and key path, exit 4, nothing
started; both examples' project files pass; the committed JSON Schema is up to date."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from synthmon.cli import main
from synthmon.projectfile import json_schema

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "manager-app"
Edit = Callable[[dict], None]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The reference example's project file and monitoring files, in a scratch directory."""
    for part in ("synthmon.yaml", "docker-compose.yml", "monitoring", "load", "slo", "upstreams"):
        src = EXAMPLE / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / part)
    return tmp_path


def run(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.splitlines()
    return code, err[:-1] if code else err


def edited(copy: Path, edit: Edit) -> Path:
    file = copy / "synthmon.yaml"
    doc = yaml.safe_load(file.read_text())
    edit(doc)
    file.write_text(yaml.safe_dump(doc))
    return file


@pytest.mark.parametrize(
    "example", [EXAMPLE, ROOT / "examples" / "linkcheck"], ids=["manager-app", "linkcheck"]
)
def test_both_examples_are_valid(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(example, capsys)
    assert lines == []
    assert code == 0


def _cycle(doc: dict) -> None:
    doc["services"]["postgres"]["depends_on"] = ["app"]


CASES: dict[str, tuple[Edit, str]] = {
    "unknown key": (lambda d: d.update(scrape_job=["app"]), "scrape_job: unknown key"),
    "unknown nested key": (
        lambda d: d["services"]["app"].update(helth_path="/health"),
        "services.app.helth_path: unknown key",
    ),
    "a bad kind": (
        lambda d: d["services"]["app"].update(kind="docker"),
        "services.app.kind: expected one of command, postgres, redis, fake_upstream, compose, "
        "jaeger, victorialogs, got 'docker'",
    ),
    "neither image nor command": (
        lambda d: [d["services"]["app"].pop(k) for k in ("command", "image", "image_command")],
        "services.app: kind command with neither image nor command: give `command:`",
    ),
    "a dependency that does not exist": (
        lambda d: d["services"]["app"]["depends_on"].append("mysql"),
        "services.app.depends_on: 'mysql' is not a service",
    ),
    "a cycle": (_cycle, "services.app.depends_on: a cycle: app -> postgres -> app"),
    "a placeholder naming no service": (
        lambda d: d["services"]["app"]["env"].update(X="${mysql.url}"),
        "services.app.env.X: ${mysql.url} names no service",
    ),
    "a missing monitoring file": (
        lambda d: d["monitoring"].update(alertmanager_yml="monitoring/nowhere.yml"),
        "monitoring.alertmanager_yml: ",
    ),
    "a scenario for an alert no rule defines": (
        lambda d: d["scenarios"].update(NoSuchAlert={"cause": "x", "faults": [{"stop": "app"}]}),
        "scenarios.NoSuchAlert: no rule of monitoring.rules defines alert 'NoSuchAlert'",
    ),
    "an unscaled_windows name no rule has": (
        lambda d: d["monitoring"].update(unscaled_windows=["HighErrorRate", "NoSuchRule"]),
        "monitoring.unscaled_windows: no rule of monitoring.rules is named 'NoSuchRule'",
    ),
    "a link to a fake upstream": (
        lambda d: d["scenarios"]["ApplicationDown"].update(
            faults=[{"link": {"to": "github", "toxic": "down"}}]
        ),
        "scenarios.ApplicationDown.faults.0.link.to: 'github' is a fake_upstream",
    ),
    "a link to no dependency of its from": (
        lambda d: d["scenarios"]["ApplicationDown"].update(
            faults=[{"link": {"from": "redis", "to": "postgres", "toxic": "down"}}]
        ),
        "scenarios.ApplicationDown.faults.0.link.to: 'postgres' is not in "
        "services.redis.depends_on (have: none)",
    ),
    "an attribute the toxic does not take": (
        lambda d: d["scenarios"]["ApplicationDown"].update(
            faults=[{"link": {"to": "postgres", "toxic": "bandwidth", "latency": 5}}]
        ),
        "scenarios.ApplicationDown.faults.0.link.latency: does not apply to toxic bandwidth "
        "(it takes: rate)",
    ),
    "a compose file that is not there": (
        lambda d: d.update(compose={"files": ["nowhere.yml"]}),
        "compose.files.0: ",
    ),
    "a compose env placeholder naming no service": (
        lambda d: d.update(compose={"files": ["synthmon.yaml"], "env": {"X": "${mysql.url}"}}),
        "compose.env.X: ${mysql.url} names no service",
    ),
    "two kinds in one fault": (
        lambda d: d["scenarios"]["ApplicationDown"].update(faults=[{"stop": "app", "kill": "app"}]),
        "scenarios.ApplicationDown.faults.0: a fault is exactly one of stop, kill",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_project_file_is_one_line_and_exit_4(
    case: str, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, expected = CASES[case]
    file = edited(copy, edit)
    code, lines = run(file, capsys)
    assert code == 4
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{file}: "), lines
    assert expected in lines[0], lines


def test_a_starter_file_without_load_and_slo_is_valid(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`synthmon init --from` writes neither: the load run and the SLO gate skip, saying so."""
    file = edited(copy, lambda d: [d.pop("load"), d.pop("slo")])
    code, lines = run(file, capsys)
    assert (code, lines) == (0, [])


@pytest.mark.parametrize(
    ("name", "text", "tool"),
    [
        ("monitoring/prometheus/rules/app.yml", "groups:\n  - name: x\n    rules:\n"
         "      - alert: A\n        expr: rate(x[5m]\n", "promtool check rules"),
        ("monitoring/alertmanager/alertmanager.yml", "route:\n  receiver: nobody\n",
         "amtool check-config"),
        ("monitoring/prometheus/prometheus.yml", "global:\n  scrape_interval: soon\n",
         "promtool check config"),
    ],
)  # fmt: skip
def test_a_monitoring_file_that_does_not_parse_is_named(
    name: str, text: str, tool: str, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy / name).write_text(text)
    code, lines = run(copy, capsys)
    assert code == 4
    assert any(tool in line and line.startswith(str(copy / "synthmon.yaml")) for line in lines), (
        lines
    )


def test_validate_starts_nothing_and_changes_no_file(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert run(copy, capsys)[0] == 0
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_the_committed_json_schema_is_up_to_date() -> None:
    committed = json.loads((ROOT / "docs" / "synthmon.schema.json").read_text())
    assert committed == json_schema(), "run: .venv/bin/synthmon schema > docs/synthmon.schema.json"
