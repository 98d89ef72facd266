"""The telemetry kinds in the project file: a jaeger service's named ports as placeholders, the
`telemetry:` section, one-line errors naming the key for what is wrong; the example's mounted
Jaeger config is what synthmon.stack.jaeger_config renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmon.errors import ConfigError
from synthmon.projectfile import load_project
from synthmon.settings import Settings
from synthmon.stack.embedded import Context, port_names
from synthmon.stack.jaeger_config import JaegerListen, render_jaeger_config

ROOT = Path(__file__).resolve().parents[1]
BASE = """
name: t
services:
  logs: {kind: victorialogs}
  jaeger: {kind: jaeger}
  app:
    kind: command
    command: ["x", "${jaeger.url}", "${jaeger.query.url}", "${jaeger.health.port}"]
target: app
monitoring: {prometheus_yml: p.yml, rules: r, alertmanager_yml: a.yml}
scrape_jobs: []
"""


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "synthmon.yaml").write_text(text)
    return tmp_path


def test_named_ports_expand_to_the_run_s_ports(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, BASE + "telemetry: {service_name: svc}\n"))
    names = port_names(project)
    assert {"jaeger", "jaeger_query", "jaeger_health", "jaeger_otlp_grpc"} <= set(names)
    ports = {name: 40000 + n for n, name in enumerate(names)}
    ctx = Context(project, ports, {})
    argv = ctx.argv(project.service("app"), project.service("app").argv)
    assert argv[1:] == (
        f"http://127.0.0.1:{ports['jaeger']}",
        f"http://127.0.0.1:{ports['jaeger_query']}",
        str(ports["jaeger_health"]),
    )
    assert project.telemetry is not None
    assert project.telemetry.logs_query == 'service.name:"svc"'


def test_the_telemetry_section(tmp_path: Path) -> None:
    text = BASE + "telemetry: {service_name: svc, traces: jaeger, logs: logs, logs_api: loki}\n"
    t = load_project(_project(tmp_path, text)).telemetry
    assert t is not None and (t.traces, t.logs, t.logs_api) == ("jaeger", "logs", "loki")
    assert t.logs_query == '{service_name="svc"}'


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (BASE.replace("jaeger.query.url", "jaeger.ui.url"),
         "services.app.command.2: ${jaeger.ui.url}: 'jaeger' (kind jaeger) has no port 'ui' "
         "(have: otlp_grpc, query, query_grpc, health)"),
        (BASE.replace("jaeger.query.url", "logs.query.url"),
         "services.app.command.2: ${logs.query.url}: 'logs' (kind victorialogs) has no port "
         "'query'"),
        (BASE + "telemetry: {service_name: s, traces: logs}\n",
         "telemetry.traces: 'logs' is a victorialogs service, expected kind jaeger"),
        (BASE + "telemetry: {service_name: s, logs: loki}\n",
         "telemetry.logs: 'loki' is no service (have victorialogs services: logs)"),
        (BASE + "telemetry: {service_name: s, logs_api: elastic}\n",
         "telemetry.logs_api: expected one of victorialogs, loki, got 'elastic'"),
        (BASE.replace("{kind: jaeger}", "{kind: jaeger, command: [x]}"),
         "services.jaeger: `command:` does not apply to kind jaeger"),
    ],
    ids=["unknown port", "kind without ports", "wrong kind", "no such service", "bad api",
         "command on jaeger"],
)  # fmt: skip
def test_bad_telemetry_input_is_one_line_naming_the_key(
    tmp_path: Path, change: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as failed:
        load_project(_project(tmp_path, change))
    message = str(failed.value)
    assert "\n" not in message
    assert expected in message, message


def test_the_example_s_mounted_jaeger_config_is_the_rendered_one() -> None:
    committed = ROOT / "examples" / "manager-app" / "monitoring" / "jaeger" / "config.yaml"
    rendered = render_jaeger_config(JaegerListen.on("0.0.0.0"), "http://logs:9428")
    assert committed.read_text() == rendered, (
        "regenerate: python -m synthmon.stack.jaeger_config --listen 0.0.0.0 "
        f"--logs-url http://logs:9428 > {committed.relative_to(ROOT)}"
    )


def test_the_example_names_its_telemetry() -> None:
    project = load_project(ROOT / "examples" / "manager-app")
    assert project.telemetry is not None
    assert (project.telemetry.traces, project.telemetry.logs) == ("jaeger", "logs")
    app = project.service(project.target)
    assert app.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "{url:jaeger}"
    assert app.env["OTEL_SERVICE_NAME"] == project.telemetry.service_name


def _settings(values: dict[str, str], env: dict[str, str] | None = None) -> Settings:
    return Settings.from_values(lambda o: values.get(o.name), env or {})


def test_an_external_stack_s_telemetry_comes_from_the_settings(tmp_path: Path) -> None:
    from synthmon.stack.stack import open_stack

    values = {"stack": "external", "target_url": "http://app:1", "prometheus_url": "http://p:2",
              "otel_url": "http://otel:13133", "run_dir": str(tmp_path)}  # fmt: skip
    env = {"SYNTHMON_JAEGER_URL": "http://jaeger:16686/", "SYNTHMON_LOGS_URL": "http://loki:3100",
           "SYNTHMON_LOGS_API": "loki"}  # fmt: skip
    settings = _settings(values, env)
    with open_stack(settings) as stack:
        assert stack.jaeger_url == "http://jaeger:16686"
        assert stack.otel_health_url == "http://otel:13133/"
        assert (stack.logs_url, stack.logs_api) == ("http://loki:3100", "loki")
        assert stack.otlp_url is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SYNTHMON_LOGS_API": "elastic"},
         "SYNTHMON_LOGS_API: expected one of victorialogs, loki, got 'elastic'"),
        ({"SYNTHMON_JAEGER_URL": "jaeger:16686"},
         "SYNTHMON_JAEGER_URL: expected an http(s) URL like http://host:port, got 'jaeger:16686'"),
    ],
)  # fmt: skip
def test_bad_telemetry_settings_are_one_line(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as failed:
        _settings({}, env)
    assert str(failed.value) == expected
