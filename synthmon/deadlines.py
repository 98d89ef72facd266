"""How long each phase of an alert scenario may take, computed from the rendered configs.

scrape + evaluation + window fill + ``for:`` until the rule fires, then the route's
``group_wait`` (or ``group_interval`` when Alertmanager already holds the group) until the
notification; plus a margin for deadlines, none for the bounds the delivery report states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthmon.amconfig.routing import RouteTree
from synthmon.stack import Stack
from synthmon.stack.rules import AlertRule, alert_deadline, read_alerts

MARGIN_S = 5.0


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
    fire_bound: float  # what the configs allow from the fault to firing (no margin)
    resolve_bound: float  # from the fault's removal to the alert's end, without Alertmanager

    @classmethod
    def for_rule(cls, rule: AlertRule, stack: Stack, config: Mapping[str, Any]) -> Deadlines:
        routes = RouteTree(config).match({"alertname": rule.name, **rule.labels}, datetime.now(UTC))
        scaled = stack.project is None or rule.name not in stack.project.monitoring.unscaled_windows
        fire = alert_deadline(
            rule,
            stack.time_scale,
            stack.scrape_interval_s,
            stack.evaluation_interval_s,
            scale_window=scaled,
        )
        window = max(rule.windows, default=0.0) / (stack.time_scale if scaled else 1.0)
        group_interval = max(r.group_interval_s for r in routes)
        # A new aggregation group flushes after group_wait; one Alertmanager already holds
        # (the alert fired before, maybe only for an instant) flushes at its group_interval.
        ended = stack.scrape_interval_s + window + 2 * stack.evaluation_interval_s
        return cls(
            fire=fire + MARGIN_S,
            notify=max(max(r.group_wait_s, r.group_interval_s) for r in routes) + MARGIN_S,
            resolve=ended + group_interval + MARGIN_S,
            group_interval=group_interval,
            fire_bound=fire,
            resolve_bound=ended,
        )
