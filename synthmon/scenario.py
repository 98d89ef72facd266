"""One alert scenario, always in the same shape, with deadlines computed from the configs.

steady state → fault → the rule fires in Prometheus → every destination the routing tree sends
the alert to (for its real labels) is notified, and the project's policy holds → fault removed →
resolved notifications → steady state again. Every wait has a deadline derived from the rendered
configs (scrape + evaluation + ``for:`` + window + group_wait, plus a margin), never a fixed
sleep, and a timeout says what the rule's expression returned and what the sinks received.

Each phase is an Allure step ("Wait for HighErrorRate to fire", "Verify … notified (firing)")
with the rule's PromQL and result or the notifications received attached; each destination's
delivery and time to page is recorded (:mod:`synthmon.delivery`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from synthmon import evidence, progress
from synthmon.alerting import AlertmanagerClient
from synthmon.amconfig.routing import RouteMatch, RouteTree
from synthmon.attribution import Target, elsewhere, is_of, matching, reached, read_targets
from synthmon.coverage import Exercised
from synthmon.deadlines import Deadlines, production_alerts
from synthmon.delivery import Delivery
from synthmon.errors import ConfigError, QueryError, WaitTimeout
from synthmon.prom import Alert, Prometheus
from synthmon.prom import wait_until as prom_wait
from synthmon.sinks import Notification, SinkClient
from synthmon.stack import Stack
from synthmon.stack.rules import AlertRule
from synthmon.traces.attribution import Attribution, Investigation
from synthmon.traces.investigate import TraceStore, check_traces, judge, take_baseline
from synthmon.waiting import NotYet, wait_until
from synthmon.yamlfile import parse_yaml

DESTINATIONS = "destinations.json"  # written next to the rendered alertmanager.yml
# Compared exactly with what Prometheus fired, where the payload carries them; "description"
# quotes the changing $value.
EXACT_ANNOTATIONS = ("summary", "runbook_url")
# An always-firing alert begins with the stack: Prometheus finds its Alertmanagers a few
# seconds after start (asynchronously) and re-sends what it could not deliver (resend delay).
STARTUP_SEND_S = 10.0


def receivers_text(names: Iterable[str]) -> str:
    """``a/slack[0] + b/email[0]``: destinations joined for a step title."""
    return " + ".join(names) or "nobody"


@dataclass(frozen=True)
class Routed:
    """Where the routing tree sends one alert: its unmuted routes and their destinations."""

    routes: tuple[RouteMatch, ...]
    targets: tuple[Target, ...]

    def timers(self, target: Target) -> RouteMatch:
        """The route that sends the alert to ``target`` (its group_wait, group_interval)."""
        return next(r for r in self.routes if r.receiver == target.receiver)

    def exercised(self, alert: str, got: Iterable[Notification]) -> Exercised:
        """What a passing scenario reached, for the coverage report."""
        return Exercised(
            alert=alert,
            routes=tuple(r.route_id for r in self.routes),
            receivers=tuple(sorted({n.receiver for n in got})),
        )


class AlertScenario:
    """Runs the project's alert scenarios against a stack synthmon controls.

    Who must be notified is the routing tree's answer for the alert's real labels (as
    Alertmanager holds them once it fires), each integration checked at its own sink; the
    project's policy then says whether that answer pages the right people.
    """

    def __init__(self, stack: Stack, prom: Prometheus, sinks: SinkClient) -> None:
        if stack.project is None or stack.alertmanager_url is None:
            raise ConfigError(
                f"{stack.kind} stack: alert scenarios need a project and Alertmanager"
            )
        self.stack = stack
        self.prom = prom
        self.sinks = sinks
        self.alertmanager = AlertmanagerClient(stack.alertmanager_url)
        self.policy = stack.project.policy
        self.alerts = production_alerts(stack.project.monitoring.rule_files())
        conf = stack.run_dir / "conf/alertmanager"
        self.alertmanager_yml = (conf / "alertmanager.yml").read_text()
        self.config = parse_yaml(self.alertmanager_yml, str(conf / "alertmanager.yml"))
        self.tree = RouteTree(self.config)
        self.targets = read_targets(conf / DESTINATIONS)
        self.deliveries: list[Delivery] = []  # the last scenario's, for the report
        self.exercised: Exercised | None = None  # what the last scenario reached, if it passed
        self.shared = {t for name in self.always_firing for t in self._static_targets(name)}
        self.traces: TraceStore | None = None  # None: Jaeger at the stack's jaeger_url
        self.attribution: Attribution | None = None  # the last scenario's, if it investigated

    @property
    def always_firing(self) -> frozenset[str]:
        return frozenset(self.policy.always_firing if self.policy is not None else ())

    # -- routing -------------------------------------------------------------------------
    def routed(self, labels: Mapping[str, str]) -> Routed:
        """Where the tree sends an alert with ``labels`` now (muted routes not), once."""
        routes = tuple(m for m in self.tree.match(labels, datetime.now(UTC)) if not m.muted)
        receivers = {m.receiver for m in routes}
        return Routed(routes, tuple(t for t in self.targets if t.receiver in receivers))

    def _static_targets(self, name: str) -> tuple[Target, ...]:
        rule = self.alerts[name]
        return self.routed({**rule.labels, "alertname": name}).targets

    def live_labels(self, rule: AlertRule, deadline_s: float) -> dict[str, str]:
        """The alert's labels as Alertmanager holds them (external labels and relabelling in)."""

        def held() -> dict[str, str] | NotYet:
            found = self.alertmanager.alerts({"alertname": rule.name})
            return dict(found[0]["labels"]) if found else NotYet("not in Alertmanager yet")

        return wait_until(
            held, timeout_s=deadline_s, interval_s=0.2, what=f"{rule.name} in Alertmanager"
        )

    # -- observations --------------------------------------------------------------------
    def _active(self, name: str) -> list[Alert]:
        return [a for a in self.prom.alerts() if a.name == name]

    def _firing(self, name: str) -> list[Alert]:
        return [a for a in self._active(name) if a.state == "firing"]

    def _expression_says(self, rule: AlertRule) -> str:
        """What the (time-scaled) rule expression returns right now, for timeout messages."""
        loaded = str(self._loaded(rule.name)["query"])
        try:
            samples = self.prom.query(loaded)
        except QueryError as exc:
            return f"its expression failed: {exc}"
        values = ", ".join(f"{dict(s.labels)} = {s.value:g}" for s in samples) or "nothing"
        return f"its expression `{' '.join(loaded.split())}` returned {values}"

    def _loaded(self, name: str) -> dict[str, object]:
        for group in self.prom.rules():
            for rule in group.get("rules", []):
                if rule.get("name") == name:
                    return dict(rule)
        raise QueryError(f"alert {name} is not loaded in Prometheus {self.stack.prometheus_url}")

    def _received(self, since: float) -> str:
        seen = self.sinks.notifications(since)
        return "; ".join(n.describe() for n in seen[-10:]) or "nothing"

    def _show_state(self, rule: AlertRule) -> None:
        """Evidence: the loaded PromQL with what it returns now, the alert in Prometheus."""
        loaded, at = str(self._loaded(rule.name)["query"]), time.time()
        evidence.attach_promql(f"PromQL of {rule.name}", loaded, self.prom.query(loaded), at)
        evidence.attach_alerts(f"{rule.name} in Prometheus", self._active(rule.name))

    def show_received(self, since: float) -> None:
        """Evidence: every notification since ``since``, at any destination."""
        evidence.attach_notifications("notifications received", self.sinks.notifications(since))

    # -- phases ----------------------------------------------------------------------------
    def wait_inactive(self, rule: AlertRule, deadline_s: float) -> float:
        """Wait until Prometheus no longer holds the alert; when that was seen."""
        with evidence.step(f"Wait for {rule.name} to be inactive", lambda: self._show_state(rule)):
            progress.waiting(f"{rule.name} to be inactive", deadline_s)
            prom_wait(
                lambda: not self._active(rule.name),
                deadline_s,
                lambda: (
                    f"{rule.name} still {[a.state for a in self._active(rule.name)]}; "
                    + self._expression_says(rule)
                ),
            )
        return time.time()

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
                prom_wait(lambda: bool(self._firing(rule.name)), deadline_s, lambda: "")
            except QueryError:
                raise AssertionError(
                    f"{rule.name} did not fire within {deadline_s:g}s "
                    f"(state: {[a.state for a in self._active(rule.name)] or 'inactive'}); "
                    f"{self._expression_says(rule)}; sinks received: {self._received(since)}"
                ) from None
            return self._firing(rule.name)[0]

    def check_not_early(self, rule: AlertRule, fired: Alert, started: float) -> float:
        """When the alert fired (pending since ``activeAt``, then its scaled ``for:``). It cannot
        have begun before the fault: then it was pending already, and the scenario proves
        nothing about the cause."""
        hold = float(str(self._loaded(rule.name).get("duration", 0)))
        if fired.active_at is None:
            return time.time()
        early = started - fired.active_at
        assert early <= self.stack.evaluation_interval_s, (
            f"{rule.name} was pending {early:.1f} s before the fault (its for: is {hold:g} s in "
            "this stack): it did not fire from the fault the scenario injected"
        )
        return fired.active_at + hold

    def check_notified(
        self,
        rule: AlertRule,
        fired: Alert,
        status: str,
        since: float,
        deadline_s: float,
        *,
        targets: Sequence[Target],
        fired_at: float | None = None,
        unnamed_after: float = 0.0,
        bound: Callable[[Target], float] | None = None,
        cause: tuple[float, str] | None = None,
    ) -> list[Notification]:
        """Each destination in ``targets`` got ``status`` for this alert; what payloads carry of
        its labels and annotations is what Prometheus fired. One Delivery recorded each, timed
        from ``since`` (the fault), or from ``cause`` (a moment and what it was)."""
        start, what = cause if cause is not None else (since, "")
        wanted = [
            t for t in targets if not t.unverifiable and (status == "firing" or t.send_resolved)
        ]
        for target in targets:
            if target not in wanted:
                why = target.unverifiable or "send_resolved: false"
                self._record(rule, target, status, None, start, fired_at, 0.0, why, what)
        shown = receivers_text(sorted({t.name for t in wanted}))
        got: list[Notification] = []
        with evidence.step(
            f"Verify {shown} notified ({status})", lambda: self.show_received(since)
        ):
            progress.waiting(f"{status} {rule.name} at {shown}", deadline_s)
            for target in wanted:
                ambiguous = target in self.shared and rule.name not in self.always_firing

                def arrived(n: Notification, t: Target = target, amb: bool = ambiguous) -> bool:
                    return bool(
                        matching(
                            [n], t, rule.name, status, ambiguous=amb, unnamed_after=unnamed_after
                        )
                    )

                limit = bound(target) if bound is not None else deadline_s
                try:
                    first = self.sinks.wait_for(
                        arrived,
                        deadline_s,
                        f"{status} {rule.name} at {target.name} (the routing sends it to: {shown})",
                        since=since,
                    )[0]
                except WaitTimeout:
                    self._record(rule, target, status, None, start, fired_at, limit, "", what)
                    raise
                self._record(rule, target, status, first, start, fired_at, limit, "", what)
                got.append(first)
            for note in got:
                self._check_content(rule, fired, note)
        return got

    def _check_content(self, rule: AlertRule, fired: Alert, note: Notification) -> None:
        """What the payload carries must be what Prometheus fired (user templates may carry
        less: only what is there is compared)."""
        wrong = {
            k: note.labels.get(k)
            for k, v in rule.labels.items()
            if k in note.labels and note.labels[k] != v
        }
        assert not wrong, f"{note.describe()}: labels {wrong}, the rule says {dict(rule.labels)}"
        if rule.name in self.always_firing or not note.annotations:
            return
        for key in EXACT_ANNOTATIONS:
            if key in note.annotations:
                assert note.annotations[key] == fired.annotations.get(key), (
                    f"{note.describe()}: annotation {key} is {note.annotations[key]!r}, "
                    f"Prometheus fired {fired.annotations.get(key)!r}"
                )

    def _record(
        self,
        rule: AlertRule,
        target: Target,
        status: str,
        note: Notification | None,
        since: float,
        alert_at: float | None,
        bound: float,
        why: str,
        cause: str = "",
    ) -> None:
        self.deliveries.append(
            Delivery(
                alert=rule.name, receiver=target.receiver, integration=target.integration,
                index=target.index, status=status, delivered=note is not None,
                after_cause_s=None if note is None else note.time - since,
                after_alert_s=None if note is None or alert_at is None else note.time - alert_at,
                bound_s=bound, scale=self.stack.time_scale, note=why, cause=cause,
            )
        )  # fmt: skip

    def check_policy(self, rule: AlertRule, labels: Mapping[str, str], since: float) -> None:
        """The destinations reached satisfy the project's policy for the alert's labels."""
        if self.policy is None:
            return
        notes = [n for n in self.sinks.notifications(since) if is_of(n, rule.name, ambiguous=False)]
        violations = self.policy.violations(labels, reached(notes))
        with evidence.step(f"Verify the policy for {rule.name}"):
            assert not violations, f"{rule.name}: policy violated: " + "; ".join(violations)

    def check_nobody_else(
        self, rule: AlertRule, targets: Sequence[Target], since: float, window_s: float
    ) -> None:
        names = ", ".join(t.name for t in targets) or "nobody"
        with evidence.step(f"Verify nobody but {names} is notified of {rule.name}"):
            self.sinks.expect_none(
                lambda n: bool(elsewhere([n], targets, rule.name)),
                window_s,
                f"of {rule.name} outside the destinations the routing sends it to ({names})",
                since=since,
            )

    def check_no_failed_delivery(self, rule: AlertRule, before: Mapping[str, float]) -> None:
        """Alertmanager gave up on no notification: every destination was redirected to a sink
        that took it (in a namespace with loopback only, a missed rewrite fails here)."""
        now = self.alertmanager.failed_notifications()
        failed = {k: v - before.get(k, 0.0) for k, v in now.items() if v > before.get(k, 0.0)}
        if not failed:
            return
        log = self.stack.runner.tail("alertmanager", 200) if self.stack.runner else ""
        why = [ln.strip() for ln in log.splitlines() if "Notify" in ln and "failed" in ln]
        raise AssertionError(
            f"{rule.name}: Alertmanager failed {sum(failed.values()):g} notification(s) "
            f"({', '.join(f'{k}: {v:g}' for k, v in sorted(failed.items()))}); its log: "
            + ("; ".join(why[-3:]) or "(no failure line)")
        )

    def run(
        self,
        name: str,
        fault: AbstractContextManager[object],
        cause: str = "",
        *,
        investigate: Investigation | None = None,
        baseline: AbstractContextManager[object] | None = None,
    ) -> None:
        """The whole scenario for alert ``name``, with ``fault`` (described by ``cause``); with
        ``investigate``, while the alert fires the slowest traces must show where the time went
        (against traces of ``baseline``, the scenario's traffic alone, before the fault)."""
        rule = self.alerts[name]
        self.deliveries, self.exercised, self.attribution = [], None, None
        deadlines = Deadlines.for_rule(rule, self.stack, self.config)
        self.settle(rule, deadlines)
        window = take_baseline(baseline) if investigate is not None else None
        failed_before = self.alertmanager.failed_notifications()
        started = time.time()
        with contextlib.ExitStack() as injected:
            with evidence.step(f"Inject fault: {cause or name}"):
                injected.enter_context(fault)
            fired = self.wait_firing(rule, deadlines.fire, started)
            fired_at = self.check_not_early(rule, fired, started)
            labels = self.live_labels(rule, deadlines.notify)
            routed = self.routed(labels)
            targets = routed.targets
            got = self.check_notified(
                rule, fired, "firing", started, deadlines.notify, targets=targets,
                fired_at=fired_at,
                bound=lambda t: deadlines.fire_bound + routed.timers(t).group_wait_s,
            )  # fmt: skip
            self.check_policy(rule, labels, started)
            self.check_nobody_else(rule, targets, started, self.stack.evaluation_interval_s * 2)
            if investigate is not None:
                self.attribution = check_traces(
                    self.stack, investigate, started, window, self.traces
                )
                judge(self.attribution)
            # from when the removal begins: undoing a stop waits for the service to be ready,
            # and its resolved notification can arrive before that wait ends (seen on compose)
            removed = time.time()
            with evidence.step(f"Remove fault: {cause or name}"):
                injected.close()
        ended = self.wait_inactive(rule, deadlines.resolve)
        self.check_notified(
            rule, fired, "resolved", removed, deadlines.resolve + deadlines.notify,
            targets=targets, fired_at=ended, unnamed_after=ended,
            bound=lambda t: deadlines.resolve_bound + routed.timers(t).group_interval_s,
        )  # fmt: skip
        self.check_nobody_else(rule, targets, started, 0)
        self.check_no_failed_delivery(rule, failed_before)
        self.exercised = routed.exercised(rule.name, got)

    def run_always_firing(self, name: str, deadline_s: float = 30.0) -> None:
        """An always-firing alert (a dead man's switch) fires and reaches exactly the
        destinations the routing sends it to: the pipeline itself is alive, end to end."""
        rule = self.alerts[name]
        self.deliveries, self.exercised = [], None
        fired = self.wait_firing(rule, deadline_s, since=0.0)
        self.check_no_failed_delivery(rule, {})
        labels = self.live_labels(rule, deadline_s)
        routed = self.routed(labels)
        began = fired.active_at if fired.active_at is not None else 0.0
        got = self.check_notified(
            rule, fired, "firing", 0.0, deadline_s, targets=routed.targets,
            cause=(began, "it began firing"),
            bound=lambda t: routed.timers(t).group_wait_s + STARTUP_SEND_S,
        )  # fmt: skip
        self.check_policy(rule, labels, 0.0)
        self.check_nobody_else(rule, routed.targets, since=0.0, window_s=0)
        self.exercised = routed.exercised(rule.name, got)
