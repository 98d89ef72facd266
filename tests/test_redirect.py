"""The faithful redirection of a user's alertmanager.yml: every destination on a sink, nothing
else changed; amtool 0.25 is the authority on validity and routing of the copy."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthmon.amconfig import integrations
from synthmon.amconfig.integrations import INTEGRATIONS, is_allowed_change
from synthmon.amconfig.redirect import (
    Redirected,
    changed_fields,
    non_loopback_destinations,
    redirect,
)
from synthmon.errors import ConfigError
from synthmon.projectfile import load_project
from synthmon.stack.alertmanager_config import redirect_alertmanager_config
from tests._programs import require

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests/data/amconfig"
SINKS = "http://127.0.0.1:18080"
SMTP = "127.0.0.1:18025"
EXAMPLES = sorted(p.parent for p in ROOT.glob("examples/*/synthmon.yaml"))
# 0.25 has these; the others (msteams, msteamsv2, jira, rocketchat) only in newer.yml
V025 = {"webhook", "slack", "pagerduty", "email", "opsgenie", "victorops", "wechat",
        "telegram", "webex", "discord", "sns", "pushover"}  # fmt: skip


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DATA / name).read_text())
    return doc


def run(doc: dict[str, Any], tmp_path: Path, **kw: Any) -> Redirected:
    return redirect(
        doc, sinks_http_url=SINKS, smtp_host="127.0.0.1", smtp_port=18025,
        secrets_dir=tmp_path / "secrets", path_map=kw.get("path_map", {}),
        base_dir=kw.get("base_dir", DATA),
    )  # fmt: skip


def write(tmp_path: Path, doc: dict[str, Any], name: str = "copy.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [require("amtool", "prometheus-alertmanager (scripts/packages.txt)"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def entries(doc: dict[str, Any], receiver: str, kind: str) -> list[dict[str, Any]]:
    found = next(r for r in doc["receivers"] if r["name"] == receiver)
    result: list[dict[str, Any]] = found[f"{kind}_configs"]
    return result


# -- every integration of 0.25 -------------------------------------------------------------


def test_every_025_integration_is_in_the_test_config() -> None:
    kinds = {k.removesuffix("_configs") for r in load("all-025.yml")["receivers"] for k in r}
    assert kinds - {"name"} == V025 and V025 | {"msteams", "msteamsv2", "jira", "rocketchat"} == (
        set(INTEGRATIONS)
    )


def test_every_025_integration_is_redirected_and_passes_amtool(tmp_path: Path) -> None:
    done = run(load("all-025.yml"), tmp_path)
    checked = amtool("check-config", str(write(tmp_path, done.config)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 templates" in checked.stdout
    assert non_loopback_destinations(done.config) == []
    assert {d.integration for d in done.destinations} == V025 - {"pushover"}
    for d in done.destinations:
        entry = entries(done.config, d.receiver, d.integration)[0]
        assert d.path == f"/r/{d.receiver}/{d.integration}/{d.index}"
        if d.integration == "email":
            assert (entry["smarthost"], entry["hello"]) == (SMTP, d.path[1:])
    chat = {d.integration: d for d in done.destinations if d.receiver == "chat"}
    assert entries(done.config, "chat", "discord")[0]["webhook_url"] == f"{SINKS}/r/chat/discord/0"
    assert entries(done.config, "chat", "wechat")[0]["api_url"] == f"{SINKS}/r/chat/wechat/0/"
    assert entries(done.config, "pager", "opsgenie")[0]["api_url"].endswith("/opsgenie/0/")
    assert chat["slack"].send_resolved is False and chat["discord"].send_resolved is True


def test_http_config_loses_proxies_and_gets_sink_oauth2_and_dummy_secrets(tmp_path: Path) -> None:
    done = run(load("all-025.yml"), tmp_path)
    first, second = entries(done.config, "webhook", "webhook")
    assert "proxy_url" not in first["http_config"] and "proxy_url" not in done.config["global"]
    assert first["http_config"]["tls_config"] == {"insecure_skip_verify": True}
    secret = Path(first["http_config"]["basic_auth"]["password_file"])
    assert secret.parent == tmp_path / "secrets" and secret.stat().st_mode & 0o077 == 0
    oauth2 = second["http_config"]["oauth2"]
    assert oauth2["token_url"] == f"{SINKS}/r/webhook/webhook/1/oauth2/token"
    assert Path(oauth2["client_secret_file"]).is_file()
    # an entry without http_config gets the global one (Alertmanager's rule), redirected
    assert entries(done.config, "chat", "discord")[0]["http_config"]["tls_config"] == {
        "insecure_skip_verify": True
    }


def test_routes_tree_is_the_same_for_original_and_copy(tmp_path: Path) -> None:
    original = DATA / "all-025.yml"
    copy_path = write(tmp_path, run(load("all-025.yml"), tmp_path).config)
    trees = [amtool("config", "routes", f"--config.file={p}") for p in (original, copy_path)]
    assert all(t.returncode == 0 for t in trees), [t.stderr for t in trees]
    assert "receiver: pager" in trees[0].stdout and trees[0].stdout == trees[1].stdout


def test_newer_integrations_are_redirected(tmp_path: Path) -> None:
    """msteams, msteamsv2, jira, rocketchat, webhook url_file: pure code (amtool is 0.25)."""
    done = run(load("newer.yml"), tmp_path)
    assert non_loopback_destinations(done.config) == []
    assert entries(done.config, "all", "jira")[0]["api_url"] == f"{SINKS}/r/all/jira/0/"
    assert entries(done.config, "all", "rocketchat")[0]["api_url"].endswith("/rocketchat/0/")
    assert entries(done.config, "all", "msteams")[0]["webhook_url"].endswith("/msteams/0")
    v2 = entries(done.config, "all", "msteamsv2")[0]
    assert "webhook_url" not in v2
    assert Path(v2["webhook_url_file"]).read_text().strip() == f"{SINKS}/r/all/msteamsv2/0"
    glob = done.config["global"]
    assert glob["smtp_tls_config"] == {"server_name": "smtp.example.com",
                                       "insecure_skip_verify": True}  # fmt: skip
    email = entries(done.config, "all", "email")[0]
    assert email["tls_config"] == glob["smtp_tls_config"]  # the global one, per entry


def test_a_url_file_points_to_a_dummy_file_holding_the_sink_url(tmp_path: Path) -> None:
    done = run(load("all-025.yml"), tmp_path)
    slack = entries(done.config, "chat", "slack")
    assert "api_url" not in slack[0]  # the global slack_api_url_file: a file here too
    assert Path(slack[0]["api_url_file"]).read_text().strip() == f"{SINKS}/r/chat/slack/0"
    hook = entries(run(load("newer.yml"), tmp_path).config, "all", "webhook")[0]
    assert "url" not in hook and Path(hook["url_file"]).read_text().strip().endswith("/webhook/0")


def test_a_value_field_set_removes_its_file_twin(tmp_path: Path) -> None:
    doc = {"route": {"receiver": "r"}, "receivers": [{"name": "r", "slack_configs": [
        {"api_url": "https://hooks.slack.com/x"}]}]}  # fmt: skip
    entry = entries(run(doc, tmp_path).config, "r", "slack")[0]
    assert entry == {"api_url": f"{SINKS}/r/r/slack/0"}


def test_email_requiring_starttls_and_auth_runs_as_written(tmp_path: Path) -> None:
    done = run(load("email-tls.yml"), tmp_path)
    email = entries(done.config, "mail", "email")[0]
    assert email["require_tls"] is True and email["auth_username"] == "am@example.com"
    assert email["auth_password"] == "hunter2"  # any credentials pass the sink
    assert email["tls_config"] == {"server_name": "smtp.example.com", "min_version": "TLS12",
                                   "insecure_skip_verify": True}  # fmt: skip
    assert (email["smarthost"], email["hello"]) == (SMTP, "r/mail/email/0")
    checked = amtool("check-config", str(write(tmp_path, done.config)))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_global_defaults_are_replaced_by_each_entrys_sink(tmp_path: Path) -> None:
    done = run(load("globals.yml"), tmp_path)
    assert non_loopback_destinations(done.config) == []
    urls = {k: e.get("api_url", e.get("url", e.get("smarthost"))) for k in
            ("slack", "pagerduty", "opsgenie", "victorops", "telegram", "webex", "email")
            for e in entries(done.config, "r", k)}  # fmt: skip
    assert urls["slack"] == f"{SINKS}/r/r/slack/0" and urls["email"] == SMTP
    assert urls["opsgenie"] == f"{SINKS}/r/r/opsgenie/0/"
    assert all(str(u).startswith(("http://127.0.0.1:", "127.0.0.1:")) for u in urls.values())
    assert done.config["global"]["smtp_smarthost"] == SMTP
    assert done.config["global"]["slack_api_url"].startswith(SINKS)
    checked = amtool("check-config", str(write(tmp_path, done.config)))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_loopback_check_sees_saas_defaults_of_unset_fields() -> None:
    """Self-test: an entry naming no URL goes to DefaultGlobalConfig's SaaS host."""
    doc = load("globals.yml")
    left = non_loopback_destinations(doc)
    assert "receivers[0].opsgenie_configs[0].api_url: https://api.opsgenie.com/" in left
    assert "receivers[0].telegram_configs[0].api_url: https://api.telegram.org" in left
    assert "global.smtp_smarthost: smtp.example.com:587" in left
    fixed = non_loopback_destinations(load("all-025.yml"))
    assert any(x.startswith("receivers[4].pushover_configs[0]: unverifiable") for x in fixed)


# -- unverifiable ---------------------------------------------------------------------------


def test_pushover_pagerduty_v1_and_sns_without_api_url_are_reported(tmp_path: Path) -> None:
    done = run(load("all-025.yml"), tmp_path)
    lost = {(u.receiver, u.integration, u.index): u.reason for u in done.unverifiable}
    assert set(lost) == {("pager", "pagerduty", 1), ("phone", "pushover", 0), ("phone", "sns", 1)}
    assert "Events API v1" in lost[("pager", "pagerduty", 1)]
    assert "api.pushover.net" in lost[("phone", "pushover", 0)]
    # removed from the copy, the receivers stay (routing unchanged)
    assert entries(done.config, "phone", "pushover") == []
    assert len(entries(done.config, "pager", "pagerduty")) == 1
    assert {r["name"] for r in done.config["receivers"]} == {
        r["name"] for r in load("all-025.yml")["receivers"]
    }


# -- what changes, what does not ------------------------------------------------------------


@pytest.mark.parametrize("name", ["all-025.yml", "newer.yml", "email-tls.yml", "globals.yml"])
def test_only_allowed_fields_change(tmp_path: Path, name: str) -> None:
    original = load(name)
    text, _ = redirect_alertmanager_config(
        (DATA / name).read_text(), factor=60, sinks_http_url=SINKS, smtp_host="127.0.0.1",
        smtp_port=18025, secrets_dir=tmp_path / "s", path_map={}, base_dir=DATA,
    )  # fmt: skip
    rendered = yaml.safe_load(text)
    changed = changed_fields(original, rendered)
    assert changed and [p for p in changed if not is_allowed_change(p)] == []
    for key in ("inhibit_rules", "time_intervals"):
        assert rendered.get(key) == original.get(key)
    strip = {"group_wait", "group_interval", "repeat_interval"}

    def tree(route: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in route.items() if k not in strip and k != "routes"}
        return {**out, "routes": [tree(r) for r in route.get("routes", [])]}

    assert tree(rendered["route"]) == tree(original["route"])
    assert [Path(t).name for t in rendered.get("templates", [])] == [
        Path(t).name for t in original.get("templates", [])
    ]


def test_the_allowed_fields_check_catches_another_change(tmp_path: Path) -> None:
    """Self-test: a change outside the data (a receiver's channel) is not allowed."""
    original = load("all-025.yml")
    changed = copy.deepcopy(original)
    changed["receivers"][1]["slack_configs"][0]["channel"] = "#elsewhere"
    changed["route"]["receiver"] = "chat"
    paths = changed_fields(original, changed)
    assert paths == ["route.receiver", "receivers[1].slack_configs[0].channel"]
    assert not any(is_allowed_change(p) for p in paths)


def test_the_input_is_never_mutated_and_the_file_never_touched(tmp_path: Path) -> None:
    before = (DATA / "all-025.yml").read_bytes()
    doc = load("all-025.yml")
    pristine = copy.deepcopy(doc)
    run(doc, tmp_path)
    assert doc == pristine and (DATA / "all-025.yml").read_bytes() == before


# -- the loopback check ---------------------------------------------------------------------


def test_a_url_left_behind_fails_the_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Self-test: break the data (webex's destination unknown) and the renderer refuses."""
    webex = INTEGRATIONS["webex"]
    broken = {**INTEGRATIONS, "webex": integrations.Integration("webex", "room_id")}
    monkeypatch.setattr("synthmon.amconfig.redirect.INTEGRATIONS", broken)
    text = "route: {receiver: r}\nreceivers: [{name: r, webex_configs: [{room_id: x, " \
        "api_url: 'https://webexapis.com/v1/messages'}]}]\n"  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        redirect_alertmanager_config(
            text, factor=60, sinks_http_url=SINKS, smtp_host="127.0.0.1", smtp_port=1,
            secrets_dir=tmp_path, path_map={}, base_dir=tmp_path,
        )  # fmt: skip
    message = str(caught.value)
    assert "off loopback" in message and "\n" not in message
    assert "receivers[0].webex_configs[0].api_url: https://webexapis.com/v1/messages" in message
    monkeypatch.setattr("synthmon.amconfig.redirect.INTEGRATIONS", {**broken, "webex": webex})
    redirect_alertmanager_config(
        text, factor=60, sinks_http_url=SINKS, smtp_host="127.0.0.1", smtp_port=1,
        secrets_dir=tmp_path, path_map={}, base_dir=tmp_path,
    )  # fmt: skip  # the control: with the data intact it renders


@pytest.mark.parametrize(
    ("value", "loopback"),
    [("http://127.0.0.1:9/x", True), ("http://127.8.9.1/", True), ("http://[::1]:80/", True),
     ("http://localhost/", True), ("127.0.0.1:25", True), ("[::1]:25", True),
     ("http://10.0.0.1/", False), ("smtp.example.com:587", False), ("https://x.io", False)],
)  # fmt: skip
def test_loopback_hosts(value: str, loopback: bool) -> None:
    doc = {"global": {"pagerduty_url": value}, "receivers": []}
    assert (non_loopback_destinations(doc) == []) is loopback


def test_the_sinks_own_host_counts_as_local_and_no_other() -> None:
    """On compose the sinks are a service of the project's network, named in the copy."""
    glob = {
        "pagerduty_url": "http://synthmon-sinks:8025/r/x",
        "smtp_smarthost": "synthmon-sinks:2525",
        "slack_api_url": "http://sinks.example.com/r/y",
    }
    doc = {"global": glob, "receivers": []}
    left = non_loopback_destinations(doc, {"synthmon-sinks"})
    assert left == ["global.slack_api_url: http://sinks.example.com/r/y"]
    assert len(non_loopback_destinations(doc)) == 3


# -- templates ------------------------------------------------------------------------------


def test_templates_are_kept_and_made_absolute(tmp_path: Path) -> None:
    doc = {"route": {"receiver": "r"}, "receivers": [{"name": "r"}],
           "templates": ["/etc/am/t/*.tmpl", "/etc/am/t/deep/x.tmpl", "local/*.tmpl"]}  # fmt: skip
    mapped = {"/etc/am": tmp_path / "am", "/etc/am/t": tmp_path / "repo-t"}
    done = run(doc, tmp_path, path_map=mapped, base_dir=tmp_path / "conf")
    assert done.config["templates"] == [
        f"{tmp_path}/repo-t/*.tmpl", f"{tmp_path}/repo-t/deep/x.tmpl",
        f"{tmp_path}/conf/local/*.tmpl",
    ]  # fmt: skip


def test_a_template_path_that_maps_nowhere_is_one_line(tmp_path: Path) -> None:
    doc = {"route": {"receiver": "r"}, "templates": ["/opt/am/*.tmpl"]}
    with pytest.raises(ConfigError) as caught:
        run(doc, tmp_path, path_map={"/etc/alertmanager/templates": tmp_path})
    message = str(caught.value)
    assert "/opt/am/*.tmpl" in message and "/etc/alertmanager/templates" in message
    assert "\n" not in message


def test_an_unknown_integration_is_one_line(tmp_path: Path) -> None:
    doc = {"route": {"receiver": "r"}, "receivers": [{"name": "r", "carrier_pigeon_configs": []}]}
    with pytest.raises(ConfigError, match=r"receivers\[r\]\.carrier_pigeon_configs: unknown"):
        run(doc, tmp_path)


# -- the examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_renders_and_passes_amtool_with_its_templates(
    tmp_path: Path, example: Path
) -> None:
    project = load_project(example / "synthmon.yaml")
    mon = project.monitoring
    text, done = redirect_alertmanager_config(
        mon.alertmanager_yml.read_text(), factor=60, sinks_http_url=SINKS,
        smtp_host="127.0.0.1", smtp_port=18025, secrets_dir=tmp_path / "secrets",
        path_map=mon.path_map, base_dir=mon.alertmanager_yml.parent,
    )  # fmt: skip
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    checked = amtool("check-config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 templates" in checked.stdout and done.destinations and not done.unverifiable
    trees = [amtool("config", "routes", f"--config.file={p}").stdout
             for p in (mon.alertmanager_yml, path)]  # fmt: skip
    assert trees[0] == trees[1]


def test_the_stack_records_destinations_in_the_run_dir(tmp_path: Path) -> None:
    """configs.render_alertmanager writes conf/alertmanager/destinations.json beside the copy."""
    import json

    from synthmon.settings import Settings
    from synthmon.stack.configs import render_alertmanager

    project = load_project(ROOT / "examples/linkcheck/synthmon.yaml")
    ports = {"sinks_http": 18080, "sinks_smtp": 18025}
    text = render_alertmanager(Settings(), project, ports, tmp_path)
    record = json.loads((tmp_path / "alertmanager/destinations.json").read_text())
    assert {"receiver": "linkcheck-oncall", "integration": "webhook", "index": 0,
            "send_resolved": True, "path": "/r/linkcheck-oncall/webhook/0"} in (
        record["destinations"]
    )  # fmt: skip
    assert record["unverifiable"] == [] and "/r/linkcheck-email/email/0" not in text
    assert "hello: r/linkcheck-email/email/0" in text
