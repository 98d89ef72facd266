"""One alert scenario, always in the same shape, with deadlines computed from the configs.

steady state → fault → the rule fires in Prometheus → exactly the expected receivers are
notified, with the rule's labels and annotations → fault removed → resolved notifications →
steady state again. Every wait has a deadline derived from the rendered configs (scrape +
evaluation + ``for:`` + window + group_wait, plus a margin), never a fixed sleep, and a
timeout says what the rule's expression returned and what the sinks received.

Each phase is an Allure step named as the runbook says it ("Wait for HighErrorRate to fire",
"Verify PagerDuty + Slack notified (firing)") with the rule's PromQL and result or the
notifications received attached, and a long wait announces itself on the terminal.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from synthmon import evidence, progress
from synthmon.alerting import AlertmanagerClient
from synthmon.errors import ConfigError, QueryError
from synthmon.project import Routing
from synthmon.prom import Alert, Prometheus, wait_until
from synthmon.sinks import Notification, SinkClient
from synthmon.stack import Stack
from synthmon.stack.alertmanager_config import route_timings
from synthmon.stack.rules import AlertRule, alert_deadline, read_alerts

NAMES: Mapping[str, str] = {"pagerduty": "PagerDuty", "slack": "Slack", "webhook": "heartbeat"}
# Compared exactly with what Prometheus fired; "description" quotes the changing $value, so
# it only has to be there.
EXACT_ANNOTATIONS = ("summary", "runbook_url")
MARGIN_S = 5.0


def expected_receivers(rule: AlertRule, routing: Routing) -> frozenset[str]:
    """The sink kinds an alert must reach, as the project's routing promises."""
    return routing.expected(rule.name, rule.labels)


def receivers_text(kinds: Iterable[str]) -> str:
    """``PagerDuty + Slack``: receivers as the runbook names them."""
    return " + ".join(NAMES.get(kind, kind) for kind in sorted(kinds))


def production_alerts(rule_files: Iterable[Path]) -> dict[str, AlertRule]:
    """Every alert of the project's production rule files, by name."""
    alerts: dict[str, AlertRule] = {}
    for path in rule_files:
        alerts.update(read_alerts(path))
    return alerts


@dataclass(frozen=True)
class Deadlines:
    """Seconds allowed for each phase of one scenario on this stack."""

    fire: float
    notify: float
    resolve: float
    group_interval: float

    @classmethod
    def for_rule(cls, rule: AlertRule, stack: Stack, alertmanager_yml: str) -> Deadlines:
        labels = {"alertname": rule.name, **rule.labels}
        timings = route_timings(alertmanager_yml, labels)
        fire = alert_deadline(
            rule, stack.time_scale, stack.scrape_interval_s, stack.evaluation_interval_s
        )
        window = max(rule.windows, default=0.0) / stack.time_scale
        group_interval = max(t.group_interval_s for t in timings)
        # A new aggregation group flushes after group_wait; one Alertmanager already holds
        # (the alert fired before, maybe only for an instant) flushes at its group_interval.
        return cls(
            fire=fire + MARGIN_S,
            notify=max(max(t.group_wait_s, t.group_interval_s) for t in timings) + MARGIN_S,
            resolve=stack.scrape_interval_s + window + 2 * stack.evaluation_interval_s
            + group_interval + MARGIN_S,
            group_interval=group_interval,
        )  # fmt: skip


class AlertScenario:
    """Runs the runbook's alert scenarios against a stack synthmon controls."""

    def __init__(self, stack: Stack, prom: Prometheus, sinks: SinkClient) -> None:
        if stack.project is None:
            raise ConfigError(f"{stack.kind} stack: alert scenarios need a project")
        self.stack = stack
        self.prom = prom
        self.sinks = sinks
        self.routing = stack.project.routing
        self.alerts = production_alerts(stack.project.monitoring.rule_files())
        self.alertmanager_yml = (stack.run_dir / "conf/alertmanager/alertmanager.yml").read_text()

    # -- observations --------------------------------------------------------------------
    def _active(self, name: str) -> list[Alert]:
        return [a for a in self.prom.alerts() if a.name == name]

    def _firing(self, name: str) -> list[Alert]:
        return [a for a in self._active(name) if a.state == "firing"]

    def _expression_says(self, rule: AlertRule) -> str:
        """What the (time-scaled) rule expression returns right now, for timeout messages."""
        loaded = self._loaded_expr(rule.name)
        try:
            samples = self.prom.query(loaded)
        except QueryError as exc:
            return f"its expression failed: {exc}"
        values = ", ".join(f"{dict(s.labels)} = {s.value:g}" for s in samples) or "nothing"
        return f"its expression `{' '.join(loaded.split())}` returned {values}"

    def _loaded_expr(self, name: str) -> str:
        for group in self.prom.rules():
            for rule in group.get("rules", []):
                if rule.get("name") == name:
                    return str(rule["query"])
        raise QueryError(f"alert {name} is not loaded in Prometheus {self.stack.prometheus_url}")

    def _received(self, since: float) -> str:
        seen = self.sinks.notifications(since)
        return "; ".join(n.describe() for n in seen[-10:]) or "nothing"

    def _show_state(self, rule: AlertRule) -> None:
        """Evidence: the loaded PromQL with what it returns now, the alert in Prometheus."""
        loaded, at = self._loaded_expr(rule.name), time.time()
        evidence.attach_promql(f"PromQL of {rule.name}", loaded, self.prom.query(loaded), at)
        evidence.attach_alerts(f"{rule.name} in Prometheus", self._active(rule.name))

    def _show_received(self, rule: AlertRule, since: float) -> None:
        """Evidence: every notification of the alert since ``since``, at any receiver."""
        notes = [n for n in self.sinks.notifications(since) if n.alertname == rule.name]
        evidence.attach_notifications(f"{rule.name} notifications received", notes)

    # -- phases ----------------------------------------------------------------------------
    def wait_inactive(self, rule: AlertRule, deadline_s: float) -> None:
        with evidence.step(f"Wait for {rule.name} to be inactive", lambda: self._show_state(rule)):
            progress.waiting(f"{rule.name} to be inactive", deadline_s)
            wait_until(
                lambda: not self._active(rule.name),
                deadline_s,
                lambda: (
                    f"{rule.name} still {[a.state for a in self._active(rule.name)]}; "
                    + self._expression_says(rule)
                ),
            )

    def settle(self, rule: AlertRule, deadlines: Deadlines) -> None:
        """Steady state: the alert inactive, and Alertmanager done with its last episode.

        If the receivers' last word on the alert is "firing" (an earlier episode ended without
        its resolved notification, e.g. a failed check), wait one group_interval: until that
        flush, Alertmanager would treat a new episode as the old one and stay silent.
        """
        self.wait_inactive(rule, deadlines.resolve)
        last = [n for n in self.sinks.notifications() if n.alertname == rule.name][-1:]
        if last and last[0].status == "firing":
            flush = deadlines.group_interval + self.stack.evaluation_interval_s
            with evidence.step(f"Wait {flush:g} s: Alertmanager ends the last {rule.name} episode"):
                evidence.attach_notifications("last notification: firing", last)
                progress.waiting(f"Alertmanager to end the last {rule.name} episode", flush)
                time.sleep(flush)

    def wait_firing(self, rule: AlertRule, deadline_s: float, since: float) -> Alert:
        with evidence.step(f"Wait for {rule.name} to fire", lambda: self._show_state(rule)):
            progress.waiting(f"{rule.name} to fire", deadline_s)
            try:
                wait_until(lambda: bool(self._firing(rule.name)), deadline_s, lambda: "")
            except QueryError:
                raise AssertionError(
                    f"{rule.name} did not fire within {deadline_s:g}s "
                    f"(state: {[a.state for a in self._active(rule.name)] or 'inactive'}); "
                    f"{self._expression_says(rule)}; sinks received: {self._received(since)}"
                ) from None
            return self._firing(rule.name)[0]

    def check_notified(
        self, rule: AlertRule, fired: Alert, status: str, since: float, deadline_s: float
    ) -> list[Notification]:
        """Each expected receiver got ``status`` for this alert, with the rule's labels."""
        expected = expected_receivers(rule, self.routing)
        got: list[Notification] = []
        receivers, shown = receivers_text(expected), lambda: self._show_received(rule, since)
        with evidence.step(f"Verify {receivers} notified ({status})", shown):
            progress.waiting(f"{status} {rule.name} at {receivers}", deadline_s)
            for kind in sorted(expected):

                def arrived(n: Notification, kind: str = kind) -> bool:
                    return n.kind == kind and n.alertname == rule.name and n.status == status

                got += self.sinks.wait_for(
                    arrived,
                    deadline_s,
                    f"{status} {rule.name} at {kind} (receivers: {', '.join(sorted(expected))})",
                    since=since,
                )
            for note in got:
                wrong = {
                    k: note.labels.get(k) for k, v in rule.labels.items() if note.labels.get(k) != v
                }
                assert not wrong, (
                    f"{note.describe()}: labels {wrong}, the rule says {dict(rule.labels)}"
                )
                if rule.name in self.routing.always_firing:  # a heartbeat, no runbook text
                    continue
                for key in EXACT_ANNOTATIONS:
                    assert note.annotations.get(key) == fired.annotations.get(key), (
                        f"{note.describe()}: annotation {key} is {note.annotations.get(key)!r}, "
                        f"Prometheus fired {fired.annotations.get(key)!r}"
                    )
                assert note.annotations.get("description"), f"{note.describe()}: no description"
        return got

    def check_nobody_else(self, rule: AlertRule, since: float, window_s: float) -> None:
        expected = expected_receivers(rule, self.routing)
        with evidence.step(f"Verify nobody but {receivers_text(expected)} is notified"):
            self.sinks.expect_none(
                lambda n: n.alertname == rule.name and n.kind not in expected,
                window_s,
                f"of {rule.name} outside its receivers {', '.join(sorted(expected))}",
                since=since,
            )

    def run(self, name: str, fault: AbstractContextManager[object], cause: str = "") -> None:
        """The whole scenario for alert ``name``, with ``fault`` (described by ``cause``)."""
        rule = self.alerts[name]
        deadlines = Deadlines.for_rule(rule, self.stack, self.alertmanager_yml)
        self.settle(rule, deadlines)
        started = time.time()
        with contextlib.ExitStack() as injected:
            with evidence.step(f"Inject fault: {cause or name}"):
                injected.enter_context(fault)
            fired = self.wait_firing(rule, deadlines.fire, started)
            self.check_notified(rule, fired, "firing", started, deadlines.notify)
            self.check_nobody_else(rule, started, self.stack.evaluation_interval_s * 2)
            with evidence.step(f"Remove fault: {cause or name}"):
                injected.close()
        removed = time.time()
        self.check_notified(rule, fired, "resolved", removed, deadlines.resolve + deadlines.notify)
        self.wait_inactive(rule, deadlines.resolve)
        self.check_nobody_else(rule, started, 0)

    def run_silenced(
        self,
        name: str,
        fault: AbstractContextManager[object],
        alertmanager: AlertmanagerClient,
        matchers: Mapping[str, str],
        cause: str = "",
    ) -> None:
        """Planned maintenance: a silence holds back the notifications of a firing alert;
        once it is expired, they are delivered."""
        rule = self.alerts[name]
        deadlines = Deadlines.for_rule(rule, self.stack, self.alertmanager_yml)
        self.settle(rule, deadlines)
        with evidence.step(f"Create a maintenance silence for {dict(matchers)}"):
            silence = alertmanager.create_silence(
                matchers, duration_s=3600, created_by="synthmon",
                comment=f"maintenance drill: {name}",
            )  # fmt: skip
        started = time.time()
        try:
            with evidence.step(f"Inject fault: {cause or name}"), fault:
                fired = self.wait_firing(rule, deadlines.fire, started)
                silenced = f"Verify nobody is notified of {name} while silenced"
                with evidence.step(silenced, lambda: self._show_received(rule, started)):
                    progress.waiting(f"no {name} notification (silenced)", deadlines.notify)
                    self.sinks.expect_none(
                        lambda n: n.alertname == rule.name and n.status == "firing",
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
                self.check_notified(rule, fired, "firing", expired, deadlines.notify)
        finally:
            alertmanager.expire_silence(silence)
        self.wait_inactive(rule, deadlines.resolve)
