"""Per-receiver delivery and time to page, in test time and in production time.

A scenario records, for each destination the routing sends its alert to, whether the
notification came, how long after the fault (or its removal) and after the alert fired (or
ended), and the bound the configs allow. Test time is compressed by the stack's time scale, so
each figure is also shown multiplied back ("3.9 s after the fault = 3 min 54 s in production").
Records travel as JSON in JUnit user properties, so xdist workers' records reach the summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

PROPERTY = "synthmon_delivery"  # the JUnit user property that carries a scenario's records


@dataclass(frozen=True)
class Delivery:
    """One alert's notification (firing or resolved) at one destination."""

    alert: str
    receiver: str
    integration: str
    index: int
    status: str  # firing | resolved
    delivered: bool
    after_cause_s: float | None  # the fault (firing) or its removal (resolved) → notification
    after_alert_s: float | None  # firing (or inactive) in Prometheus → notification
    bound_s: float  # the most the configs allow for after_cause_s
    scale: float  # the stack's time scale: production seconds = test seconds * scale
    note: str = ""  # why there is no figure: "not verifiable here: ...", "send_resolved: false"
    cause: str = ""  # what after_cause_s counts from, when not the fault (or its removal)

    @property
    def destination(self) -> str:
        return f"{self.receiver}/{self.integration}[{self.index}]"

    @property
    def in_bound(self) -> bool:
        return self.after_cause_s is not None and self.after_cause_s <= self.bound_s

    def line(self) -> str:
        """``Down firing at pager/pagerduty[0]: 3.9 s after the fault …``."""
        head = f"{self.alert} {self.status} at {self.destination}"
        if not self.delivered or self.after_cause_s is None:
            return f"{head}: NOT DELIVERED{f' ({self.note})' if self.note else ''}"
        cause = self.cause or ("the fault" if self.status == "firing" else "the fault was removed")
        alert = "firing" if self.status == "firing" else "the alert ended"
        after_alert = (
            f", {_seconds(self.after_alert_s)} s after {alert}"
            if self.after_alert_s is not None and not self.cause
            else ""
        )
        verdict = "" if self.in_bound else " OVER BOUND"
        return (
            f"{head}: {self.after_cause_s:.1f} s after {cause}{after_alert} = "
            f"{production(self.after_cause_s, self.scale)} in production; bound "
            f"{production(self.bound_s, self.scale)}{verdict}"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(value: float) -> str:
    """One decimal, without a "-0.0" (a notification seen in the same poll as the alert)."""
    return f"{value:.1f}" if round(value, 1) else "0.0"


def production(seconds: float, scale: float) -> str:
    """Test seconds as production time, readable: ``3 min 54 s``, ``1 h 2 min``, ``12 s``."""
    total = round(seconds * scale)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    parts += [f"{secs} s"] if secs or not parts else []
    return " ".join(parts[:2])


def encode(records: Sequence[Delivery]) -> str:
    return json.dumps([r.to_json() for r in records])


def decode(values: Iterable[str]) -> list[Delivery]:
    """Records from the JSON values of :data:`PROPERTY` (a scenario's, or every worker's)."""
    return [Delivery(**item) for value in values for item in json.loads(value)]


def summary_lines(records: Sequence[Delivery]) -> list[str]:
    """The delivery report of the run: one line per alert, status and destination."""
    if not records:
        return []
    late = [r for r in records if r.delivered and not r.in_bound]
    missing = [r for r in records if not r.delivered and not r.note]
    head = (
        f"delivery: {sum(r.delivered for r in records)} of {len(records)} notifications "
        f"delivered, {len(late)} over their bound, {len(missing)} missing "
        f"(time scale {records[0].scale:g}: production = test time x {records[0].scale:g})"
    )
    return [head, *(f"  {r.line()}" for r in records)]


def report_text(records: Sequence[Delivery]) -> str:
    """The report as plain text (an attachment)."""
    return "\n".join(summary_lines(records)) + "\n"
