"""The override synthmon lays over a project's compose files, computed from Compose's own model
(``docker compose config --format json``: no engine needed): what it changes, and only that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from synthmon.errors import ConfigError
from synthmon.stack.compose_cli import config_json
from synthmon.stack.compose_override import (
    Helper,
    Plan,
    container_ports,
    flag,
    plan_override,
    sinks_helper,
    upstream_helper,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "manager-app"
LABELS = {"synthmon.run": "run-x", "synthmon.owner": "1"}


class _Loader(yaml.SafeLoader):
    """Reads Compose's merge tags back as plain markers."""


_Loader.add_constructor(
    "!override", lambda loader, node: ("override", loader.construct_sequence(node))
)  # type: ignore[no-untyped-call]
_Loader.add_constructor("!reset", lambda loader, node: ("reset",))


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    return config_json([EXAMPLE / "docker-compose.yml"])


def plan(model: dict[str, Any], tmp_path: Path, **overrides: Any) -> Plan:
    kwargs: dict[str, Any] = dict(
        roles={"prometheus": "prometheus", "alertmanager": "alertmanager",
               "pushgateway": "pushgateway"},
        commands={"prometheus": model["services"]["prometheus"]["command"],
                  "alertmanager": model["services"]["alertmanager"]["command"],
                  "pushgateway": []},
        wanted_ports={"app": 5000, "postgres": 5432, "redis": 6379},
        rendered={"prometheus": tmp_path / "p.yml", "alertmanager": tmp_path / "a.yml"},
        conf_dir=tmp_path / "conf",
        mounts=[tmp_path / "templates"],
        helpers=[sinks_helper(), upstream_helper("github", tmp_path / "routes.yaml", None)],
        images={"app": "synthmon/app:latest"},
        tools_image="synthmon/tools:latest",
        labels=LABELS,
        drop=("grafana",),
        extra_args={"prometheus": ["--rules.alert.resend-delay=1s"]},
    )  # fmt: skip
    kwargs.update(overrides)
    return plan_override(model, **kwargs)


def test_every_port_is_published_on_loopback_where_the_engine_picks(
    model: dict[str, Any], tmp_path: Path
) -> None:
    done = yaml.load(plan(model, tmp_path).text, Loader=_Loader)["services"]
    assert done["app"]["ports"] == ("override", ["127.0.0.1::5000"])
    assert done["postgres"]["ports"] == ("override", ["127.0.0.1::5432"])
    assert done["prometheus"]["ports"] == ("override", ["127.0.0.1::9090"])
    for name, service in done.items():
        for port in service.get("ports", ("", []))[1] if name in model["services"] else []:
            assert port.startswith("127.0.0.1::"), (name, port)


def test_the_test_copies_are_mounted_over_their_configs(
    model: dict[str, Any], tmp_path: Path
) -> None:
    done = plan(model, tmp_path)
    services = yaml.load(done.text, Loader=_Loader)["services"]
    prom = {v["target"]: v["source"] for v in services["prometheus"]["volumes"]}
    assert prom["/etc/prometheus/prometheus.yml"] == str(tmp_path / "p.yml")
    assert prom[str(tmp_path / "conf")] == str(tmp_path / "conf")  # the rules it names
    am = {v["target"]: v["source"] for v in services["alertmanager"]["volumes"]}
    assert am["/etc/alertmanager/alertmanager.yml"] == str(tmp_path / "a.yml")
    assert all(v["read_only"] for v in services["alertmanager"]["volumes"])
    assert done.config_paths == {
        "prometheus": "/etc/prometheus/prometheus.yml",
        "alertmanager": "/etc/alertmanager/alertmanager.yml",
    }
    command = services["prometheus"]["command"]
    assert command[0] == "override" and command[1][-1] == "--rules.alert.resend-delay=1s"
    assert command[1][:-1] == model["services"]["prometheus"]["command"]


def test_build_is_swapped_for_the_projects_image_and_dropped_services_are_not_started(
    model: dict[str, Any], tmp_path: Path
) -> None:
    done = plan(model, tmp_path)
    services = yaml.load(done.text, Loader=_Loader)["services"]
    assert services["app"]["image"] == "synthmon/app:latest"
    assert services["app"]["build"] == ("reset",)
    assert "grafana" not in services and "grafana" not in done.services
    assert {"synthmon-sinks", "github"} <= set(done.services)
    assert services["github"]["image"] == "synthmon/tools:latest"
    assert services["github"]["command"][:3] == ["python", "-m", "synthmon.upstream"]
    assert all(s["labels"]["synthmon.run"] == "run-x" for s in services.values())
    document = yaml.load(done.text, Loader=_Loader)
    # networks and volumes name their run too (the next run removes only a dead run's)
    assert document["networks"]["default"]["labels"]["synthmon.owner"] == "1"
    assert set(document["volumes"]) == {"postgres-data", "prometheus-data", "alertmanager-data"}


def test_compose_reads_the_override_as_written(model: dict[str, Any], tmp_path: Path) -> None:
    """Compose itself merges theirs and ours: the published ports are ours alone."""
    override = tmp_path / "synthmon.override.yml"
    override.write_text(plan(model, tmp_path).text)
    merged = config_json([EXAMPLE / "docker-compose.yml", override])["services"]
    app = merged["app"]
    assert [(p["host_ip"], p.get("published", ""), p["target"]) for p in app["ports"]] == [
        ("127.0.0.1", "", 5000)
    ]
    assert "build" not in app and app["image"] == "synthmon/app:latest"
    volumes = {v["target"]: v["source"] for v in merged["prometheus"]["volumes"]}
    assert volumes["/etc/prometheus/prometheus.yml"] == str(tmp_path / "p.yml")
    assert volumes["/prometheus"] == "prometheus-data"  # theirs, kept


def test_a_dropped_service_that_does_not_exist_is_one_line(
    model: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"compose.drop: no service grafna"):
        plan(model, tmp_path, drop=("grafna",))


def test_a_helper_name_taken_by_their_service_is_one_line(
    model: dict[str, Any], tmp_path: Path
) -> None:
    """Self-test: a fake upstream named like one of their services would shadow it."""
    taken = Helper("redis", ("python", "-m", "synthmon.upstream"), 8080)
    with pytest.raises(ConfigError, match=r"service 'redis' is synthmon's own"):
        plan(model, tmp_path, helpers=[taken])


def test_flags_and_ports_are_read_as_compose_and_prometheus_write_them() -> None:
    assert flag(["--config.file=/x.yml"], "config.file") == "/x.yml"
    assert flag(["--config.file", "/y.yml"], "config.file") == "/y.yml"
    assert flag(["--storage.path=/a"], "config.file") is None
    service = {"ports": [{"target": 80}, {"target": 80}], "expose": ["9000/tcp", "81"]}
    assert container_ports(service) == [80, 9000, 81]
