"""Part 9 self-tests on small configs written for the test, against a real Alertmanager
(Debian's 0.25) rendered by synthmon onto its own sinks; alerts are posted to /api/v2/alerts
as Prometheus would post them.

- A child route matches ``env="prod"``, a label only Prometheus's external labels add: the
  routing answer must come from the labels Alertmanager holds (read back from the API), not
  from the rule's labels, and the notification must arrive at that child's receiver.
- A user template drops the alert name: the notification is still attributed by its sink path
  and the scenario's time window, except at a destination an always-firing alert shares.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthmon.alerting import AlertmanagerClient, alert_payload
from synthmon.amconfig.routing import RouteTree
from synthmon.attribution import Target, is_of, matching
from synthmon.errors import WaitTimeout
from synthmon.ports import HOST
from synthmon.sinks import SinkClient
from synthmon.stack.alertmanager_config import redirect_alertmanager_config
from synthmon.stack.rules import load_alerts
from tests._am_live import sinks_and_alertmanager

ROOT = Path(__file__).resolve().parents[1]
FACTOR = 60  # group_wait 1m -> 1 s, group_interval 5m -> 5 s
DEADLINE_S = 15.0

ALERTMANAGER_YML = """\
global:
  slack_api_url: https://hooks.slack.com/services/T000/B000/XXXXXXXX
route:
  receiver: fallback
  group_by: [alertname]
  group_wait: 1m
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - receiver: prod-pager
      matchers: ['env="prod"']
    - receiver: quiet-chat
      matchers: ['team="quiet"']
receivers:
  - name: fallback
    webhook_configs:
      - url: https://hooks.example.com/fallback
  - name: prod-pager
    webhook_configs:
      - url: https://hooks.example.com/prod
  - name: quiet-chat
    slack_configs:
      - channel: '#quiet'
        title: 'something broke'
        text: 'see the dashboard'
        fallback: 'something broke'
"""
# The rules as written: no rule carries env; Prometheus adds it from external_labels.
RULES = """\
groups:
  - name: selftest
    rules:
      - alert: SynthProdOnly
        expr: vector(1)
        labels: {severity: critical}
      - alert: SynthNoEnv
        expr: vector(1)
        labels: {severity: critical}
      - alert: SynthQuiet
        expr: vector(1)
        labels: {team: quiet}
      - alert: Watchdog
        expr: vector(1)
        labels: {team: quiet}
"""
PROMETHEUS_GLOBAL = "global:\n  external_labels:\n    env: prod\n"
ALWAYS_FIRING = frozenset({"Watchdog"})


@dataclass(frozen=True)
class Live:
    sinks: SinkClient
    alertmanager: AlertmanagerClient
    targets: tuple[Target, ...]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The sinks and an Alertmanager running the rendered copy, on free ports; stopped after."""
    work = tmp_path_factory.mktemp("am-selftests")
    rendered: list[Target] = []

    def config(sinks_url: str, smtp_port: int) -> str:
        text, done = redirect_alertmanager_config(
            ALERTMANAGER_YML, factor=FACTOR, sinks_http_url=sinks_url, smtp_host=HOST,
            smtp_port=smtp_port, secrets_dir=work / "secrets", path_map={}, base_dir=work,
        )  # fmt: skip
        rendered.extend(
            Target(d.receiver, d.integration, d.index, d.send_resolved) for d in done.destinations
        )
        return text

    with sinks_and_alertmanager(work / "run", config) as pair:
        yield Live(pair.sinks, pair.alertmanager, tuple(rendered))


def firing(labels: dict[str, str]) -> dict[str, Any]:
    return alert_payload(labels, {"summary": "s"}, ends_at=datetime.now(UTC) + timedelta(hours=1))


def resolved(labels: dict[str, str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return alert_payload(
        labels, {"summary": "s"}, starts_at=now - timedelta(minutes=1), ends_at=now
    )


def rule_labels(name: str) -> dict[str, str]:
    """The alert's labels as its rule writes them."""
    return {**load_alerts(RULES)[name].labels, "alertname": name}


def as_prometheus_sends(name: str) -> dict[str, str]:
    """The rule's labels and Prometheus's external labels (the rule's own win), as sent."""
    external = yaml.safe_load(PROMETHEUS_GLOBAL)["global"]["external_labels"]
    return {**external, **rule_labels(name)}


def held_labels(am: AlertmanagerClient, name: str) -> dict[str, str]:
    """The alert's labels as Alertmanager holds them."""
    [held] = am.alerts({"alertname": name})
    return dict(held["labels"])


def loaded_tree(am: AlertmanagerClient) -> RouteTree:
    """The route tree of the config Alertmanager actually loaded."""
    return RouteTree(yaml.safe_load(am.status()["config"]["original"]))


def target(live: Live, receiver: str) -> Target:
    [found] = [t for t in live.targets if t.receiver == receiver]
    return found


def test_a_route_on_an_external_label_is_answered_from_the_labels_alertmanager_holds(
    live: Live,
) -> None:
    tree, started = loaded_tree(live.alertmanager), time.time()
    # The rule alone says nothing of env: an answer from its labels would be the root.
    assert tree.receivers(rule_labels("SynthProdOnly")) == ["fallback"]

    live.alertmanager.post_alerts([firing(as_prometheus_sends("SynthProdOnly"))])
    labels = held_labels(live.alertmanager, "SynthProdOnly")
    assert labels["env"] == "prod", labels  # the external label is on the alert held
    assert tree.receivers(labels) == ["prod-pager"]
    prod = target(live, "prod-pager")
    [note] = live.sinks.wait_for(
        lambda n: bool(matching([n], prod, "SynthProdOnly", "firing", ambiguous=False)),
        DEADLINE_S, "SynthProdOnly at prod-pager", since=started,
    )  # fmt: skip
    assert (note.receiver, note.kind, note.index) == ("prod-pager", "webhook", 0)
    assert note.labels == labels

    # The control: the same kind of alert without the external label falls to the root.
    live.alertmanager.post_alerts([firing(rule_labels("SynthNoEnv"))])
    labels = held_labels(live.alertmanager, "SynthNoEnv")
    assert "env" not in labels and tree.receivers(labels) == ["fallback"]
    fallback = target(live, "fallback")
    live.sinks.wait_for(
        lambda n: bool(matching([n], fallback, "SynthNoEnv", "firing", ambiguous=False)),
        DEADLINE_S, "SynthNoEnv at fallback", since=started,
    )  # fmt: skip
    seen = live.sinks.notifications(started)
    expected = {"SynthProdOnly": "prod-pager", "SynthNoEnv": "fallback"}
    wrong = [n.describe() for n in seen if expected.get(n.alertname, n.receiver) != n.receiver]
    assert not wrong, wrong  # each arrived at its own receiver only
    live.alertmanager.post_alerts(
        [resolved(as_prometheus_sends("SynthProdOnly")), resolved(rule_labels("SynthNoEnv"))]
    )


def test_a_template_without_the_alert_name_is_attributed_by_path_and_window(
    live: Live,
) -> None:
    tree = loaded_tree(live.alertmanager)
    quiet = target(live, "quiet-chat")
    shared = {t for name in ALWAYS_FIRING for t in live.targets
              if t.receiver in tree.receivers(rule_labels(name))}  # fmt: skip
    assert quiet in shared  # Watchdog goes to the same slack destination
    started = time.time()

    live.alertmanager.post_alerts([firing(rule_labels("SynthQuiet"))])
    assert tree.receivers(held_labels(live.alertmanager, "SynthQuiet")) == ["quiet-chat"]
    [note] = live.sinks.wait_for(
        lambda n: quiet.received(n), DEADLINE_S, "a notification at quiet-chat", since=started
    )
    assert (note.receiver, note.kind, note.index, note.alertname) == ("quiet-chat", "slack", 0, "")
    assert "SynthQuiet" not in str(note.raw), note.raw  # the template really omits the name
    # Alone in its window at a destination no always-firing alert reaches: attributed.
    assert matching([note], quiet, "SynthQuiet", "firing", ambiguous=False) == [note]

    # Where Watchdog is delivered too, an unnamed notification could be either alert's.
    live.alertmanager.post_alerts([firing(rule_labels("Watchdog"))])
    notes = live.sinks.wait_for(
        lambda n: quiet.received(n) and n.id != note.id, DEADLINE_S, "Watchdog at quiet-chat",
        since=started,
    )  # fmt: skip
    unnamed = [n for n in live.sinks.notifications(started) if quiet.received(n)]
    assert len(unnamed) >= 2 and all(n.alertname == "" for n in unnamed), unnamed
    assert notes and not is_of(notes[0], "SynthQuiet", ambiguous=True)
    ambiguous = quiet in shared and "SynthQuiet" not in ALWAYS_FIRING
    assert ambiguous
    assert matching(unnamed, quiet, "SynthQuiet", "firing", ambiguous=ambiguous) == []
    with pytest.raises(WaitTimeout):  # the scenario's wait for it fails, as it must
        live.sinks.wait_for(
            lambda n: bool(matching([n], quiet, "SynthQuiet", "firing", ambiguous=True)),
            1.0, "SynthQuiet at quiet-chat (shared with Watchdog)", since=started,
        )  # fmt: skip
    live.alertmanager.post_alerts(
        [resolved(rule_labels("SynthQuiet")), resolved(rule_labels("Watchdog"))]
    )
