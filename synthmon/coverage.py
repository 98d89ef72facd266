"""Coverage of the monitoring config, like code coverage: what the run's scenarios exercised.

Which alert rules have a passing scenario, which receivers and leaf routes (by id, such as
``route.routes[2].routes[0]``) a passing scenario reached, and which inhibit rules one proved.
A scenario records what it exercised as JSON in a JUnit user property, so the records of xdist
workers reach the summary with the outcome of the test that recorded them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

PROPERTY = "synthmon_coverage"


@dataclass(frozen=True)
class Exercised:
    """What one scenario reached: its alert, the routes it matched, the receivers notified."""

    alert: str
    routes: tuple[str, ...] = ()
    receivers: tuple[str, ...] = ()
    inhibit_rules: tuple[int, ...] = ()

    def encode(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, text: str) -> Exercised:
        data = json.loads(text)
        return cls(
            alert=str(data["alert"]),
            routes=tuple(data.get("routes", ())),
            receivers=tuple(data.get("receivers", ())),
            inhibit_rules=tuple(int(i) for i in data.get("inhibit_rules", ())),
        )


@dataclass(frozen=True)
class Universe:
    """Everything the configs define that a scenario could exercise."""

    alerts: frozenset[str]
    receivers: frozenset[str]
    leaf_routes: Mapping[str, str]  # route id → its receiver
    inhibit_rules: int
    exempt: frozenset[str] = field(default_factory=frozenset)  # always firing: not scenarios'

    @classmethod
    def of(
        cls, config: Mapping[str, Any], alerts: Iterable[str], exempt: Iterable[str] = ()
    ) -> Universe:
        receivers = frozenset(str(r.get("name")) for r in config.get("receivers") or [])
        return cls(
            alerts=frozenset(alerts),
            receivers=receivers,
            leaf_routes=dict(_leaves(config.get("route") or {}, "route", "")),
            inhibit_rules=len(config.get("inhibit_rules") or []),
            exempt=frozenset(exempt),
        )


def _leaves(route: Mapping[str, Any], where: str, receiver: str) -> Iterator[tuple[str, str]]:
    receiver = str(route.get("receiver", receiver))
    children = route.get("routes") or []
    if not children:
        yield where, receiver
    for index, child in enumerate(children):
        yield from _leaves(child, f"{where}.routes[{index}]", receiver)


@dataclass(frozen=True)
class Part:
    """One line of the report: ``covered`` of ``total``, and what is missing."""

    what: str
    covered: int
    total: int
    missing: tuple[str, ...]

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    def line(self) -> str:
        missing = f"; missing: {', '.join(self.missing)}" if self.missing else ""
        return f"{self.what}: {self.covered}/{self.total} ({self.percent:.0f}%){missing}"


def measure(universe: Universe, passed: Sequence[Exercised]) -> list[Part]:
    """Coverage by the scenarios that passed: alerts, receivers, leaf routes, inhibit rules."""
    alerts = universe.alerts - universe.exempt
    done = {e.alert for e in passed} & alerts
    receivers = {r for e in passed for r in e.receivers} & universe.receivers
    routes = {r for e in passed for r in e.routes} & set(universe.leaf_routes)
    inhibits = {i for e in passed for i in e.inhibit_rules}
    return [
        Part("alert rules with a passing scenario", len(done), len(alerts), _sorted(alerts - done)),
        Part(
            "receivers reached",
            len(receivers),
            len(universe.receivers),
            _sorted(universe.receivers - receivers),
        ),
        Part(
            "leaf routes reached",
            len(routes),
            len(universe.leaf_routes),
            tuple(
                f"{rid} ({receiver})"
                for rid, receiver in universe.leaf_routes.items()
                if rid not in routes
            ),
        ),
        Part(
            "inhibit rules exercised",
            len(inhibits),
            universe.inhibit_rules,
            tuple(
                f"inhibit_rules[{i}]" for i in range(universe.inhibit_rules) if i not in inhibits
            ),
        ),
    ]


def _sorted(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(names))
