"""The project: the reference example's synthmon.yaml loads, its files exist, settings take
their defaults from it, and every mistake in it is a one-line ConfigError naming where."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmon.errors import ConfigError
from synthmon.project import LinkFault, Monitoring, Project, ServiceSpec
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
        (
            {"name": "prometheus", "argv": ("x",)},
            "synthmon runs alertmanager, faultproxy, prometheus",
        ),
        ({"name": "svc"}, "a command service needs argv"),
        ({"name": "svc", "kind": "postgres"}, "a postgres service needs the database"),
        ({"name": "svc", "kind": "mysql"}, "kind 'mysql' is not one of"),
    ],
)
def test_a_bad_service_is_a_config_error(service: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServiceSpec(**service)


# -- issue 14: links, compose, container ports; load and slo optional ------------------------

LINKED = """
name: linked
services:
  postgres: {kind: postgres, database: d, port: 5432}
  redis: {kind: redis}
  github: {kind: fake_upstream, routes: routes.yaml}
  app:
    kind: command
    command: [run, "${postgres.url}", "${postgres.port}", "${redis.port}"]
    env: {DB: "${postgres.host}:${postgres.port}"}
    depends_on: [postgres, redis, github]
  worker:
    kind: command
    command: [work, "${postgres.port}"]
    depends_on: [postgres]
target: app
monitoring: {prometheus_yml: p.yml, rules: rules, alertmanager_yml: am.yml}
scrape_jobs: [app]
scenarios:
  HighResponseTime:
    cause: +400 ms on the database link
    faults: [{link: {to: postgres, toxic: latency, latency: 400, jitter: 0}}]
  DatabaseConnectionFailure:
    cause: the worker's database connections reset
    faults: [{link: {from: worker, to: postgres, toxic: reset_peer, timeout: 0,
                     stream: upstream, toxicity: 0.5}}]
"""


def _linked(tmp_path: Path, extra: str = "") -> Project:
    (tmp_path / "synthmon.yaml").write_text(LINKED + extra)
    return load_project(tmp_path)


def test_a_link_fault_and_the_new_service_keys_are_read(tmp_path: Path) -> None:
    project = _linked(tmp_path)
    slow = project.scenario("HighResponseTime").faults[0]
    assert slow == LinkFault("postgres", "latency", "app", attributes={"latency": 400, "jitter": 0})
    reset = project.scenario("DatabaseConnectionFailure").faults[0]
    assert reset == LinkFault(
        "postgres", "reset_peer", "worker", "upstream", 0.5, attributes={"timeout": 0}
    )
    assert project.links() == {("app", "postgres"), ("worker", "postgres")}
    app, github = project.service("app"), project.service("github")
    assert app.depends_on == ("postgres", "redis", "github")
    assert (project.service("postgres").port, app.port) == (5432, None)
    assert github.upstream_routes == tmp_path.resolve() / "routes.yaml"
    assert "--routes" in github.argv  # today's argv stays
    # no load: and no slo: (a starter file): nothing to run, said so where it is used
    assert (project.locustfile, project.load_profiles, project.slo_spec) == (None, None, None)


def test_the_from_service_reaches_its_dependency_through_the_proxy(tmp_path: Path) -> None:
    project = _linked(tmp_path)
    ports = dict(zip(port_names(project), range(10000, 10100), strict=False))
    ctx = Context(project, ports, {})
    via_app, via_worker = ports["faultproxy_app_postgres"], ports["faultproxy_worker_postgres"]
    app = project.service("app")
    assert ctx.argv(app, app.argv) == (
        "run", f"postgresql://postgres@127.0.0.1:{via_app}/d", str(via_app), str(ports["redis"]),
    )  # fmt: skip
    assert ctx.env(app) == {"DB": f"127.0.0.1:{via_app}"}
    worker = project.service("worker")
    assert ctx.argv(worker, worker.argv) == ("work", str(via_worker))
    # checks (and the other services) see the real one
    assert ctx.urls()["postgres"] == f"postgresql://postgres@127.0.0.1:{ports['postgres']}/d"
    plain = _project(tmp_path, argv=("x",))
    assert not any(n.startswith("faultproxy") for n in port_names(plain))


def test_the_compose_section_keeps_placeholders_for_the_backend(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "test.env").write_text("X=1\n")
    project = _linked(
        tmp_path,
        """
compose:
  files: [docker-compose.yml]
  env_files: [test.env]
  profiles: [monitoring]
  env: {GITHUB_API_URL: "${github.url}", TOKEN: "${secret:gh_token}", HOME_DIR: "${env:HOME}"}
  pushgateway: pushgateway
  drop: [grafana]
""",
    )
    compose = project.compose
    assert compose is not None
    assert compose.files == (tmp_path.resolve() / "docker-compose.yml",)
    assert compose.env_files == (tmp_path.resolve() / "test.env",)
    assert compose.env == {
        "GITHUB_API_URL": "{url:github}", "TOKEN": "{secret:gh_token}", "HOME_DIR": "{env:HOME}",
    }  # fmt: skip
    assert (compose.prometheus, compose.pushgateway, compose.drop) == (
        "prometheus", "pushgateway", ("grafana",),
    )  # fmt: skip
    assert "gh_token" in project.secrets


def test_a_compose_service_has_no_command(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("services: {}\n")
    extra = "compose: {files: [c.yml]}\n"
    text = LINKED.replace("redis: {kind: redis}", "redis: {kind: compose, port: 6379}")
    (tmp_path / "synthmon.yaml").write_text(text + extra)
    assert load_project(tmp_path).service("redis").kind == "compose"
    bad = text.replace("{kind: compose, port: 6379}", "{kind: compose, command: [redis]}")
    (tmp_path / "synthmon.yaml").write_text(bad + extra)
    with pytest.raises(ConfigError, match=r"services\.redis: `command:` does not apply to kind"):
        load_project(tmp_path)


def test_without_load_and_slo_the_load_run_and_the_gate_skip_naming_the_key(
    tmp_path: Path,
) -> None:
    """A starter file (`synthmon init --from`) has neither: each check skips with one line
    naming the missing key, before any stack starts (here: an external one at closed ports)."""
    import os
    import shutil
    import subprocess
    import sys

    import yaml

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(EXAMPLE / "monitoring", tmp_path / "monitoring")
    shutil.copy(EXAMPLE / "docker-compose.yml", tmp_path)
    doc = yaml.safe_load((EXAMPLE / "synthmon.yaml").read_text())
    del doc["load"], doc["slo"]
    (tmp_path / "synthmon.yaml").write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(root / "load" / "test_load_run.py"),
         str(root / "slo" / "test_slo_gate.py"), "--rootdir", str(root),
         "-c", str(root / "pytest.ini"), "-p", "no:cacheprovider", "-rs", "--project",
         str(tmp_path), "--stack", "external", "--target-url", "http://127.0.0.1:9",
         "--prometheus-url", "http://127.0.0.1:9"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("SYNTHMON_")},
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    file = tmp_path / "synthmon.yaml"
    assert f"test_load_run.py: not configured: {file} has no `load:` (locustfile, profiles)" in out
    assert f"test_slo_gate.py: not configured: {file} has no `slo:` (spec)" in out
