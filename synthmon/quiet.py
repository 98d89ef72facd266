"""No false positives: over a healthy time range no alert fired or was pending, except those the
project declares always firing (a dead man's switch). An alert that fires under normal load is
noise, and the runbook asks to reduce it; each offender is named with its expression's value.

Prometheus writes every pending or firing alert as an ``ALERTS`` series at each evaluation, so
one range query at the evaluation interval sees every alert of the range, however short.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from synthmon.errors import QueryError
from synthmon.project import Project
from synthmon.prom import Prometheus
from synthmon.selectors import loaded_rules

__all__ = ["Offender", "allowed_alerts", "noisy_message", "offenders"]

_SHOWN_VALUES = 5


def allowed_alerts(project: Project) -> frozenset[str]:
    """The alerts that may fire without a fault: the policy's always-firing ones and those it
    says fire in a healthy test stack (with a reason)."""
    if project.policy is None:
        return frozenset()
    return frozenset(project.policy.always_firing) | frozenset(project.policy.fires_when_healthy)


@dataclass(frozen=True)
class Offender:
    """An alert that was active in a range it should have been quiet in."""

    alert: str
    labels: Mapping[str, str]  # the alert's labels, without alertname and alertstate
    fired: bool  # else it was only pending
    at: float  # when it first fired (else first was pending)
    expr: str  # the expression as loaded in Prometheus ("" if it is not loaded)
    value: str  # what the expression returned at ``at``

    def describe(self, during: str) -> str:
        """``HighResponseTime fired at 12:03:04 during the load run: its expression ... = 0.31``."""
        state = "fired" if self.fired else "was pending"
        shown = " ".join(self.expr.split()) or "(not loaded)"
        labels = f"{{{', '.join(f'{k}={v}' for k, v in sorted(self.labels.items()))}}}"
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        return (
            f"{self.alert}{labels} {state} at {clock} {during}: its expression "
            f"`{shown}` = {self.value}"
        )


def offenders(
    prom: Prometheus, start: float, end: float, allowed: Iterable[str], step: float
) -> list[Offender]:
    """Every alert but ``allowed`` that was pending or firing in ``[start, end]`` (one per
    alert and label set), sorted by time, each with its expression's value when it fired."""
    if end < start:
        raise QueryError(f"quiet range: end {end} is before start {start}")
    skip = set(allowed)
    first: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[bool, float]] = {}
    for series in prom.query_range("ALERTS", start, end, max(step, 0.001)):
        name = series.labels.get("alertname", "")
        if name in skip or not series.points:
            continue
        labels = tuple(
            sorted((k, v) for k, v in series.labels.items() if k not in _NOT_ALERT_LABELS)
        )
        fired, at = series.labels.get("alertstate") == "firing", series.points[0][0]
        key = (name, labels)
        seen = first.get(key)
        if seen is None or (fired, -at) > (seen[0], -seen[1]):  # firing wins, then earliest
            first[key] = (fired, at)
    rules = loaded_rules(prom) if first else {}
    found = []
    for (name, labels), (fired, at) in first.items():
        rule = rules.get(name)
        expr = rule.query if rule is not None else ""
        found.append(
            Offender(name, dict(labels), fired, at, expr, _value(prom, expr, dict(labels), at))
        )
    return sorted(found, key=lambda o: (o.at, o.alert))


_NOT_ALERT_LABELS = frozenset({"__name__", "alertname", "alertstate"})


def _value(prom: Prometheus, expr: str, labels: Mapping[str, str], at: float) -> str:
    """The expression's value at ``at`` for the series behind this alert (its labels are a
    subset of the alert's, which add the rule's own)."""
    if not expr:
        return "unknown"
    try:
        samples = prom.query(expr, at=at)
    except QueryError as exc:
        return f"unknown ({exc})"
    mine = [s for s in samples if all(labels.get(k) == v for k, v in s.labels.items())]
    shown = [f"{s.value:g}" for s in (mine or samples)[:_SHOWN_VALUES]]
    return ", ".join(shown) or "nothing (it had stopped by then)"


def noisy_message(found: Iterable[Offender], during: str) -> str:
    """One line per offender, for an assertion."""
    lines = [o.describe(during) for o in found]
    return f"{len(lines)} alert(s) active {during} (false positives):\n" + "\n".join(lines)
