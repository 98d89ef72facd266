"""alertmanager.yml: valid for Alertmanager 0.25, routes as the runbook escalates, renders safely.

amtool is the authority on validity and routing; the renderer is tested as pure code.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthmon.amconfig.routing import RouteMatch, RouteTree
from synthmon.errors import ConfigError
from synthmon.stack.alertmanager_config import render_alertmanager_config

STACK = Path(__file__).resolve().parents[1] / "examples/manager-app/monitoring/alertmanager"
PRODUCTION = STACK / "alertmanager.yml"
TEMPLATES = STACK / "templates"
ROUTES: list[dict[str, Any]] = yaml.safe_load((STACK / "routes-test.yml").read_text())
SINKS = "http://127.0.0.1:18080"
PATH_MAP = {"/etc/alertmanager/templates": TEMPLATES}  # as examples/manager-app/synthmon.yaml


def route_matches(text: str, labels: dict[str, str]) -> list[RouteMatch]:
    """The routes (with their timers) an alert with ``labels`` lands on in ``text``."""
    return RouteTree(yaml.safe_load(text)).match(labels)


def group_waits(text: str) -> list[float]:
    """The effective group_wait of every route in the tree of ``text``."""
    waits: list[float] = []
    nodes = [RouteTree(yaml.safe_load(text)).root]
    while nodes:
        node = nodes.pop()
        waits.append(node.opts.group_wait_s)
        nodes += node.children
    return waits


def render(text: str, tmp_path: Path, factor: float = 60) -> str:
    return render_alertmanager_config(
        text,
        factor=factor,
        sinks_http_url=SINKS,
        smtp_host="127.0.0.1",
        smtp_port=18025,
        secrets_dir=tmp_path / "secrets",
        path_map=PATH_MAP,
        base_dir=STACK,
    )


@pytest.fixture(scope="session")
def amtool() -> str:
    """amtool from Debian's prometheus-alertmanager; its absence fails, never skips."""
    found = shutil.which("amtool")
    if not found:
        pytest.fail("amtool not found on PATH: apt-get install prometheus-alertmanager")
    return found


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render(PRODUCTION.read_text(), tmp_path))
    return path


def check_config(amtool: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30
    )


def routes_test(
    amtool: str, path: Path, labels: dict[str, str], receivers: list[str]
) -> subprocess.CompletedProcess[str]:
    argv = [amtool, "config", "routes", "test", f"--config.file={path}"]
    argv += [f"--verify.receivers={','.join(receivers)}"]
    argv += [f"{name}={value}" for name, value in labels.items()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def route_id(entry: dict[str, Any]) -> str:
    labels = entry["labels"]
    return f"{labels['alertname']}-{labels.get('priority', 'none')}"


# -- validity ------------------------------------------------------------------------------


def test_production_config_passes_amtool_check(amtool: str) -> None:
    done = check_config(amtool, PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rendered_config_and_templates_pass_amtool_check(amtool: str, rendered: Path) -> None:
    done = check_config(amtool, rendered)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 templates" in done.stdout and "FAILED" not in done.stdout


def test_amtool_check_catches_a_broken_template(amtool: str, tmp_path: Path) -> None:
    """Self-test: the check above would notice a template Alertmanager cannot parse."""
    broken = tmp_path / "templates"
    shutil.copytree(TEMPLATES, broken)
    (broken / "broken.tmpl").write_text('{{ define "x" }}{{ if }}{{ end }}\n')
    path = tmp_path / "alertmanager.yml"
    text = render_alertmanager_config(
        PRODUCTION.read_text(), factor=60, sinks_http_url=SINKS, smtp_host="127.0.0.1",
        smtp_port=18025, secrets_dir=tmp_path / "secrets",
        path_map={"/etc/alertmanager/templates": broken}, base_dir=STACK,
    )  # fmt: skip
    path.write_text(text)
    done = check_config(amtool, path)
    assert done.returncode != 0 and "missing value for if" in done.stdout + done.stderr


# -- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ROUTES, ids=route_id)
@pytest.mark.parametrize("which", ["production", "rendered"])
def test_route(amtool: str, rendered: Path, which: str, entry: dict[str, Any]) -> None:
    path = PRODUCTION if which == "production" else rendered
    done = routes_test(amtool, path, entry["labels"], entry["receivers"])
    assert done.returncode == 0, (
        f"{entry['labels']} should reach {entry['receivers']}, amtool says: "
        f"{done.stdout.strip()} {done.stderr.strip()}"
    )


def test_route_check_fails_for_a_wrong_receiver(amtool: str) -> None:
    """Self-test: amtool's verification really compares, so test_route can fail."""
    done = routes_test(amtool, PRODUCTION, {"alertname": "X", "priority": "P1"}, ["email-p3"])
    assert done.returncode != 0
    assert "pagerduty-slack-p1" in done.stdout


def test_routing_table_covers_the_runbook() -> None:
    """Every priority, the Watchdog and every receiver appear in routes-test.yml."""
    priorities = {e["labels"].get("priority") for e in ROUTES}
    assert {"P1", "P2", "P3", "P4"} <= priorities
    assert any(e["labels"]["alertname"] == "Watchdog" for e in ROUTES)
    config = yaml.safe_load(PRODUCTION.read_text())
    receivers = {r["name"] for r in config["receivers"]}
    assert receivers == {name for e in ROUTES for name in e["receivers"]}


def test_receivers_use_the_runbook_integrations() -> None:
    """P1 -> PagerDuty + Slack, P2 -> Slack + email, P3/P4 -> email; all send resolved."""
    config = yaml.safe_load(PRODUCTION.read_text())
    kinds = {
        r["name"]: {k.removesuffix("_configs") for k in r if k.endswith("_configs")}
        for r in config["receivers"]
    }
    assert kinds["pagerduty-slack-p1"] == {"pagerduty", "slack"}
    assert kinds["slack-email-p2"] == {"slack", "email"}
    assert kinds["email-p3"] == kinds["email-p4"] == {"email"}
    entries = [e for r in config["receivers"] for k, v in r.items() if k != "name" for e in v]
    assert entries and all(e.get("send_resolved") is True for e in entries)


@pytest.mark.parametrize("entry", ROUTES, ids=route_id)
def test_route_timings_agree_with_amtool_table(entry: dict[str, Any]) -> None:
    found = route_matches(PRODUCTION.read_text(), entry["labels"])
    assert [t.receiver for t in found] == entry["receivers"]


# -- the renderer --------------------------------------------------------------------------


def test_render_scales_route_tree_with_floors(tmp_path: Path) -> None:
    config = yaml.safe_load(render(PRODUCTION.read_text(), tmp_path))
    root = config["route"]
    assert (root["group_wait"], root["group_interval"], root["repeat_interval"]) == (
        "500ms", "5s", "4m",
    )  # fmt: skip
    p1 = route_matches(yaml.safe_dump(config), {"priority": "P1"})[0]
    assert (p1.group_wait_s, p1.group_interval_s, p1.repeat_interval_s) == (0.25, 1.0, 60.0)
    assert config["global"]["resolve_timeout"] == "5s"


def test_render_keeps_repeat_interval_at_least_group_interval(tmp_path: Path) -> None:
    text = """
route:
  receiver: r
  group_interval: 10m
  repeat_interval: 1h
  routes:
    - receiver: r
      matchers: ['a="1"']
      repeat_interval: 1m
receivers: [{name: r}]
"""
    out = render(text, tmp_path, factor=600)
    child = route_matches(out, {"a": "1"})[0]
    assert child.group_interval_s == 1.0 and child.repeat_interval_s == 1.0
    root = route_matches(render(text, tmp_path, factor=6000), {})[0]
    assert root.group_interval_s == 1.0 and root.repeat_interval_s >= root.group_interval_s


def test_render_sets_scaled_defaults_on_a_bare_root(tmp_path: Path) -> None:
    out = yaml.safe_load(render("route: {receiver: r}\nreceivers: [{name: r}]\n", tmp_path))
    assert out["route"]["group_wait"] == "500ms" and out["route"]["repeat_interval"] == "4m"


def test_render_points_every_integration_at_the_sinks(tmp_path: Path) -> None:
    """The contract's paths: /r/{receiver}/{integration}/{index}; email by EHLO name."""
    config = yaml.safe_load(render(PRODUCTION.read_text(), tmp_path))
    receivers = {r["name"]: r for r in config["receivers"]}
    pd = receivers["pagerduty-slack-p1"]["pagerduty_configs"][0]
    assert pd["url"] == f"{SINKS}/r/pagerduty-slack-p1/pagerduty/0"
    key = Path(pd["routing_key_file"]).read_text().strip()
    assert len(key) == 32 and Path(pd["routing_key_file"]).parent == tmp_path / "secrets"
    slack = receivers["pagerduty-slack-p1"]["slack_configs"][0]
    assert "api_url" not in slack and slack["channel"] == "#incidents"
    url = Path(slack["api_url_file"]).read_text().strip()
    assert url == f"{SINKS}/r/pagerduty-slack-p1/slack/0"
    assert receivers["heartbeat"]["webhook_configs"][0]["url"] == f"{SINKS}/r/heartbeat/webhook/0"
    email = receivers["email-p3"]["email_configs"][0]
    assert (email["smarthost"], email["hello"]) == ("127.0.0.1:18025", "r/email-p3/email/0")
    assert email["tls_config"] == {"insecure_skip_verify": True}
    assert "require_tls" not in email  # the user's (global smtp_require_tls: true) stands
    glob = config["global"]
    assert glob["smtp_smarthost"] == "127.0.0.1:18025" and glob["smtp_require_tls"] is True
    assert Path(glob["smtp_auth_password_file"]).is_file()
    assert config["templates"] == [str(TEMPLATES.resolve() / "*.tmpl")]
    assert "example.com:587" not in yaml.safe_dump(config)
    assert "pagerduty.com" not in yaml.safe_dump(config)


def test_render_never_touches_the_production_file(tmp_path: Path) -> None:
    before = PRODUCTION.read_bytes()
    render(PRODUCTION.read_text(), tmp_path)
    assert PRODUCTION.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("route: [", "not valid YAML"),
        ("- a\n- b\n", "alertmanager config must be a mapping"),
        ("receivers: []\n", "route must be a mapping"),
        ("route: {receiver: r, group_wait: 5x}\n", "route.group_wait: '5x'"),
        (
            "route: {receiver: r, routes: [{receiver: r}, {receiver: r, group_interval: soon}]}",
            "route.routes[1].group_interval: 'soon'",
        ),
        (
            "route: {receiver: r}\nreceivers: [{name: r, fax_configs: [{number: 1}]}]",
            "receivers[r].fax_configs: unknown integration",
        ),
        (
            "route: {receiver: r}\nreceivers: [{name: r, email_configs: [{to: a, tls_config: 1}]}]",
            "tls_config must be a mapping",
        ),
        (
            "route: {receiver: r}\ntemplates: [/opt/elsewhere/*.tmpl]",
            "templates: /opt/elsewhere/*.tmpl is under no monitoring.path_map entry",
        ),
    ],
)
def test_render_errors_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        render(text, tmp_path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_render_rejects_a_non_positive_factor(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="factor must be > 0"):
        render(PRODUCTION.read_text(), tmp_path, factor=0)


def test_notification_delay(tmp_path: Path) -> None:
    out = render(PRODUCTION.read_text(), tmp_path)
    p1 = route_matches(out, {"alertname": "X", "priority": "P1"})
    assert max(m.group_wait_s for m in p1) == 0.25
    p4 = route_matches(out, {"alertname": "X", "priority": "P4"})
    assert max(m.group_wait_s for m in p4) == 5.0
    assert max(group_waits(out)) == 5.0  # the slowest route: P4
    assert max(group_waits(PRODUCTION.read_text())) == 300.0


def test_a_resolving_alert_never_starts_after_it_ends() -> None:
    """Alertmanager answers 400 to startsAt after endsAt; a resolve built with ``ends_at=now``
    and the default start (taken a moment later) must not be one."""
    from datetime import UTC, datetime, timedelta

    from synthmon.alerting import alert_payload

    ended = datetime.now(UTC) - timedelta(milliseconds=5)  # a resolve built a moment ago
    payload = alert_payload({"alertname": "A"}, ends_at=ended)
    assert payload["startsAt"] <= payload["endsAt"], payload
    given = datetime.now(UTC) - timedelta(hours=1)
    kept = alert_payload({"alertname": "A"}, starts_at=given, ends_at=ended)
    assert kept["startsAt"] < kept["endsAt"]
