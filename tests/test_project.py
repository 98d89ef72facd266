"""The project: the reference example's synthmon.yaml loads, its files exist, settings take
their defaults from it, and every mistake in it is a one-line ConfigError naming where."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmon.errors import ConfigError
from synthmon.project import Monitoring, Project, ServiceSpec
from synthmon.projectfile import load_project
from synthmon.settings import Settings
from synthmon.stack.embedded import Context, port_names

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "manager-app"


def settings(cli: dict[str, str], env: dict[str, str] | None = None, **kw: object) -> Settings:
    return Settings.from_values(lambda o: cli.get(o.name), env or {}, **kw)


def test_the_reference_example_loads_and_names_existing_files() -> None:
    project = load_project(EXAMPLE)
    assert project.target == "app" and project.service("app").image == "app"
    monitoring = project.monitoring
    for path in (monitoring.prometheus_yml, monitoring.alertmanager_yml, project.locustfile,
                 project.load_profiles, project.slo_spec):  # fmt: skip
        assert path.is_file(), path
    for path in (monitoring.rules_dir, monitoring.templates_dir, monitoring.dashboards):
        assert path.is_dir(), path
    assert {s.alert for s in project.scenarios} >= {"ApplicationDown", "HighErrorRate"}


def test_settings_take_the_projects_files_unless_given() -> None:
    project = load_project(EXAMPLE)
    got = settings({"project": str(EXAMPLE), "slo_spec": "mine.yaml"})
    assert got.project is not None and got.project.name == project.name
    assert (got.load_profiles, got.dashboards) == (
        project.load_profiles, project.monitoring.dashboards,
    )  # fmt: skip
    assert got.slo_spec == Path("mine.yaml")


def test_env_beats_the_ini_file(tmp_path: Path) -> None:
    ini = {"project": (str(tmp_path / "nowhere"), "pytest.ini synthmon_project")}
    got = settings({}, {"SYNTHMON_PROJECT": str(EXAMPLE)}, ini=ini)
    assert got.project is not None and got.sources["project"] == "SYNTHMON_PROJECT"
    with pytest.raises(ConfigError, match=r"^pytest.ini synthmon_project: .*nowhere: no project"):
        settings({}, {}, ini=ini)


def test_a_broken_project_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "synthmon.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"^--project: .*synthmon.yaml: line 2: not valid YAML"):
        settings({"project": str(tmp_path)})
    (tmp_path / "synthmon.yaml").write_text("name: x\n")
    with pytest.raises(ConfigError, match=r"^--project: .*synthmon.yaml: services: required key"):
        settings({"project": str(tmp_path)})


def _project(tmp_path: Path, **service: object) -> Project:
    files = Monitoring(*(tmp_path for _ in range(5)))
    return Project(
        name="p", root=tmp_path, target="svc", monitoring=files,
        services=(ServiceSpec("svc", **service),),
        locustfile=tmp_path, load_profiles=tmp_path, slo_spec=tmp_path, scrape_jobs=("svc",),
    )  # fmt: skip


def test_placeholders_expand_and_an_unknown_one_is_named(tmp_path: Path) -> None:
    project = _project(tmp_path, argv=("run", "{host}:{port}", "{port:prometheus}", "{data}"))
    ports = dict.fromkeys(port_names(project), 1) | {"svc": 8080}
    ctx = Context(project, ports, {})
    spec = project.service("svc")
    assert ctx.argv(spec, spec.argv) == ("run", "127.0.0.1:8080", "1", "{data}")
    with pytest.raises(ConfigError, match=r"service svc: \{secret:token\} names no secret"):
        ctx.expand("{secret:token}", "svc")


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ({"name": "prometheus", "argv": ("x",)}, "synthmon runs alertmanager, prometheus"),
        ({"name": "svc"}, "a command service needs argv"),
        ({"name": "svc", "kind": "postgres"}, "a postgres service needs the database"),
        ({"name": "svc", "kind": "mysql"}, "kind 'mysql' is not one of"),
    ],
)
def test_a_bad_service_is_a_config_error(service: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServiceSpec(**service)
