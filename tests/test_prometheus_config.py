"""The test copy of a production prometheus.yml (synthmon.stack.prometheus_config): destinations
rewritten to the test stack, everything else kept, originals never edited, promtool accepts it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from synthmon.errors import ConfigError
from synthmon.projectfile import build, find_project_file, parse
from synthmon.stack.embedded import port_names, prometheus_yml
from synthmon.stack.prometheus_config import Timing, is_template, render_prometheus_config

ROOT = Path(__file__).resolve().parents[1]
TIMING = Timing(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="800ms")
STACK = {"prometheus": "127.0.0.1:1", "alertmanager": "127.0.0.1:2", "pushgateway": "127.0.0.1:3"}
PRODUCTION = """
global:
  scrape_interval: 15s
  evaluation_interval: 30s
  external_labels: {cluster: prod}
rule_files: [/etc/prometheus/rules/*.yml]
alerting:
  alert_relabel_configs: [{action: labeldrop, regex: replica}]
  alertmanagers:
    - scheme: https
      path_prefix: /am
      static_configs: [{targets: ["am-0.example.net:9093", "am-1.example.net:9093"]}]
remote_write: [{url: "https://metrics.example.net/api/v1/write"}]
remote_read: [{url: "https://metrics.example.net/api/v1/read"}]
scrape_configs:
  - job_name: web
    metrics_path: /internal/metrics
    scrape_interval: 30s
    scrape_timeout: 20s
    honor_labels: true
    tls_config: {ca_file: /etc/prometheus/certs/ca.pem}
    static_configs:
      - targets: ["web-0:8080", "web-1:8080"]
        labels: {tier: front}
      - targets: ["web-2:8080"]
        labels: {tier: back, zone: b}
    relabel_configs:
      - {source_labels: [__address__], regex: "(.*):.*", target_label: host, replacement: "$1"}
  - job_name: api-sd
    file_sd_configs: [{files: [/etc/prometheus/targets/api.json]}]
    consul_sd_configs: [{server: "consul:8500"}]
  - job_name: redis
    static_configs: [{targets: ["redis-exporter:9121"]}]
  - job_name: node
    static_configs: [{targets: ["node:9100"]}]
  - job_name: prometheus
    static_configs: [{targets: ["localhost:9090"]}]
"""


def render(text: str = PRODUCTION, **kw: object) -> tuple[dict, tuple[tuple[str, str], ...]]:
    args: dict = {
        "source": "prometheus.yml",
        "timing": TIMING,
        "rules_dir": Path("/run/rules"),
        "services": {"web": "127.0.0.1:10", "api": "127.0.0.1:11"},
        "stack": STACK,
        "not_http": {"redis": "redis"},
        "scrape": {"api-sd": "api"},
        "path_map": {"/etc/prometheus/certs": Path("/repo/certs")},
    }
    args.update(kw)
    done = render_prometheus_config(text, **args)
    return yaml.safe_load(done.text), done.dropped


def jobs(doc: dict) -> dict[str, dict]:
    return {job["job_name"]: job for job in doc["scrape_configs"]}


def test_destinations_point_at_the_test_stack_and_the_rest_is_kept() -> None:
    doc, _ = render()
    assert doc["global"] == {
        "scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "800ms",
        "external_labels": {"cluster": "prod"},
    }  # fmt: skip
    assert doc["rule_files"] == ["/run/rules/*.yml"]
    assert doc["alerting"] == {
        "alert_relabel_configs": [{"action": "labeldrop", "regex": "replica"}],
        "alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:2"]}]}],
    }
    assert "remote_write" not in doc and "remote_read" not in doc
    web = jobs(doc)["web"]
    assert web["static_configs"] == [
        {"targets": ["127.0.0.1:10"], "labels": {"tier": "front", "zone": "b"}}
    ]
    assert web["metrics_path"] == "/internal/metrics" and web["honor_labels"] is True
    assert web["relabel_configs"][0]["replacement"] == "$1"
    assert "scrape_interval" not in web and "scrape_timeout" not in web
    assert web["tls_config"] == {"ca_file": "/repo/certs/ca.pem"}  # the path map


def test_service_discovery_becomes_the_mapped_service() -> None:
    api = jobs(render()[0])["api-sd"]
    assert api == {"job_name": "api-sd", "static_configs": [{"targets": ["127.0.0.1:11"]}]}


def test_a_job_without_a_service_is_dropped_and_said_why() -> None:
    doc, dropped = render()
    assert "node" not in jobs(doc) and "redis" not in jobs(doc)
    assert dict(dropped) == {
        "redis": "service redis is a redis server, no exporter service",
        "node": "no service",
    }
    assert render(scrape={"api-sd": "api", "web": None})[1][0] == ("web", "monitoring.scrape: none")


def test_the_stack_jobs_are_added_when_absent_and_kept_when_present() -> None:
    found = jobs(render()[0])
    assert found["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:1"]}]
    assert found["alertmanager"]["static_configs"] == [{"targets": ["127.0.0.1:2"]}]
    assert found["pushgateway"]["honor_labels"] is True
    assert [j for j in found if j == "prometheus"] == ["prometheus"]


def test_a_scrape_map_naming_no_service_or_a_data_store_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"monitoring.scrape.web: no service 'nope'"):
        render(scrape={"web": "nope"})
    with pytest.raises(ConfigError, match=r"a redis server, not a metrics endpoint"):
        render(scrape={"redis": "redis"})


def test_the_template_form_still_renders() -> None:
    text = (ROOT / "examples/manager-app/monitoring/prometheus/prometheus.yml").read_text()
    assert is_template(text) and not is_template(PRODUCTION)
    doc, dropped = render(text, services={"app": "127.0.0.1:10"}, scrape={})
    assert not dropped
    assert jobs(doc)["app"]["static_configs"] == [{"targets": ["127.0.0.1:10"]}]
    assert jobs(doc)["app"]["metrics_path"] == "/api/metrics"
    assert set(jobs(doc)) == {"app", "prometheus", "alertmanager", "pushgateway"}


@pytest.mark.parametrize("example", ["linkcheck", "manager-app"])
def test_promtool_accepts_the_copy_and_the_originals_are_untouched(
    example: str, tmp_path: Path
) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool not on PATH (make setup installs it)")
    file = find_project_file(ROOT / "examples" / example)
    project = build(file, parse(file))
    originals = [project.monitoring.prometheus_yml, *project.monitoring.rule_files()]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in originals]
    (tmp_path / "rules").mkdir()
    for rule_file in project.monitoring.rule_files():
        shutil.copy(rule_file, tmp_path / "rules" / rule_file.name)
    ports = {name: 20000 + n for n, name in enumerate(port_names(project))}
    rendered = prometheus_yml(project, ports, tmp_path)
    (tmp_path / "prometheus.yml").write_text(rendered.text)
    done = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in originals] == before
    text = rendered.text
    assert "example.net" not in text and "/etc/" not in text and "localhost" not in text
    if example == "linkcheck":
        assert rendered.notes() == (
            "not scraped in the test stack: redis (service redis is a redis server, "
            "no exporter service)",
        )
