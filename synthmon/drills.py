"""Alertmanager drills that are not a fault's whole story: an inhibition and a maintenance
silence, run with an :class:`~synthmon.scenario.AlertScenario`'s observations and phases."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from synthmon import evidence, progress
from synthmon.alerting import AlertmanagerClient, alert_payload
from synthmon.amconfig.inhibition import inhibit_rules, inhibited_by
from synthmon.amconfig.policy import Inhibition
from synthmon.attribution import matching
from synthmon.coverage import Exercised
from synthmon.deadlines import Deadlines
from synthmon.scenario import AlertScenario
from synthmon.waiting import NotYet, wait_until


def inhibition(scenario: AlertScenario, inhibition: Inhibition) -> None:
    """An inhibit rule holds ``target`` back while ``source`` fires: both are posted to
    Alertmanager with their rules' labels (a fault rarely makes both fire: ``source``
    usually removes ``target``'s cause), the target shows ``inhibitedBy`` and no
    notification of it arrives; then both are resolved."""
    source, target = scenario.alerts[inhibition.source], scenario.alerts[inhibition.target]
    labels = {
        rule.name: {**rule.labels, **inhibition.labels, "alertname": rule.name}
        for rule in (source, target)
    }
    index = inhibited_by(inhibit_rules(scenario.config), labels[target.name], [labels[source.name]])
    assert index is not None, (
        f"alertmanager.yml has no inhibit rule by which {source.name} holds back "
        f"{target.name} (labels {labels})"
    )
    scenario.deliveries, scenario.exercised = [], None
    deadlines = Deadlines.for_rule(target, scenario.stack, scenario.config)
    began = datetime.now(UTC)
    until = began + timedelta(hours=1)
    posted = [
        alert_payload(labels[rule.name], rule.annotations, starts_at=began, ends_at=until)
        for rule in (source, target)
    ]
    started = time.time()
    step = f"Post {source.name} and {target.name} to Alertmanager (inhibit_rules[{index}])"
    try:
        with evidence.step(step):
            scenario.alertmanager.post_alerts(posted)

        def held() -> list[str] | NotYet:
            found = scenario.alertmanager.alerts({"alertname": target.name})
            by = [i for a in found for i in a["status"].get("inhibitedBy", [])]
            return by or NotYet(f"{target.name} in Alertmanager: {found or 'absent'}")

        with evidence.step(f"Verify Alertmanager holds {target.name} back"):
            wait_until(held, timeout_s=deadlines.notify, interval_s=0.2, what="inhibitedBy")
        with evidence.step(f"Verify nobody is notified of {target.name}"):
            scenario.sinks.expect_none(
                lambda n: n.alertname == target.name,
                deadlines.notify,
                f"of {target.name} while {source.name} fires (inhibit_rules[{index}])",
                since=started,
            )
    finally:
        # resolved with the start they were posted with: a start taken now would come after
        # this end by microseconds, and Alertmanager refuses that (HTTP 400)
        now = datetime.now(UTC)
        scenario.alertmanager.post_alerts(
            [alert_payload(labels[r.name], starts_at=began, ends_at=now) for r in (source, target)]
        )
    scenario.exercised = Exercised(
        alert=f"{source.name} inhibits {target.name}", inhibit_rules=(index,)
    )


def maintenance(
    scenario: AlertScenario,
    name: str,
    fault: AbstractContextManager[object],
    alertmanager: AlertmanagerClient,
    matchers: Mapping[str, str],
    cause: str = "",
) -> None:
    """Planned maintenance: a silence holds back the notifications of a firing alert;
    once it is expired, they are delivered."""
    rule = scenario.alerts[name]
    scenario.deliveries = []
    deadlines = Deadlines.for_rule(rule, scenario.stack, scenario.config)
    scenario.settle(rule, deadlines)
    with evidence.step(f"Create a maintenance silence for {dict(matchers)}"):
        silence = alertmanager.create_silence(
            matchers, duration_s=3600, created_by="synthmon",
            comment=f"maintenance drill: {name}",
        )  # fmt: skip
    started = time.time()
    try:
        with evidence.step(f"Inject fault: {cause or name}"), fault:
            fired = scenario.wait_firing(rule, deadlines.fire, started)
            targets = scenario.routed(scenario.live_labels(rule, deadlines.notify)).targets
            silenced = f"Verify nobody is notified of {name} while silenced"
            with evidence.step(silenced, lambda: scenario.show_received(started)):
                progress.waiting(f"no {name} notification (silenced)", deadlines.notify)
                scenario.sinks.expect_none(
                    lambda n: any(
                        matching([n], t, rule.name, "firing", ambiguous=t in scenario.shared)
                        for t in targets
                    ),
                    deadlines.notify,
                    f"of {rule.name} while silence {silence} ({dict(matchers)}) is active",
                    since=started,
                )
            with evidence.step(f"Verify Alertmanager shows {name} silenced"):
                states = [a["status"] for a in alertmanager.alerts({"alertname": name})]
                evidence.attach_json(f"{name} in Alertmanager", states)
                assert any(silence in s.get("silencedBy", []) for s in states), (
                    f"Alertmanager does not show {name} silenced by {silence}: {states}"
                )
            with evidence.step(f"Expire silence {silence}: maintenance is over"):
                alertmanager.expire_silence(silence)
            expired = time.time()
            scenario.check_notified(
                rule, fired, "firing", expired, deadlines.notify, targets=targets
            )
    finally:
        alertmanager.expire_silence(silence)
    scenario.wait_inactive(rule, deadlines.resolve)
