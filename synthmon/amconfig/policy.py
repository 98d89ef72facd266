"""Who must be told of which alert: the project's paging policy, checked against the routing.

A rule's ``match`` (Alertmanager matchers, all must match an alert's labels) says which alerts
it covers; ``reach`` what each must reach: an integration (``pagerduty``, ``slack``, ...) on
any receiver, or ``receiver:NAME``. An alert must reach the union of every matching rule's
``reach``. What it does reach comes from the routing (:func:`reached`), so a policy is a
promise the alertmanager.yml keeps or breaks, not a second copy of the routing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from synthmon.amconfig.matchers import Matcher, matches_all, parse_matchers
from synthmon.amconfig.routing import RouteTree, integrations

#: Alertmanager's integrations (``<name>_configs`` in a receiver)
INTEGRATIONS = (
    "discord", "email", "jira", "msteams", "msteamsv2", "opsgenie", "pagerduty", "pushover",
    "rocketchat", "slack", "sns", "telegram", "victorops", "webex", "webhook", "wechat",
)  # fmt: skip
RECEIVER = "receiver:"
Reached = frozenset[tuple[str, str]]  # (receiver, integration)


def check_reach(text: str) -> str:
    """``text`` when it is an integration or ``receiver:NAME``; ValueError otherwise."""
    if text in INTEGRATIONS or (text.startswith(RECEIVER) and text != RECEIVER):
        return text
    raise ValueError(
        f"{text!r} is neither an integration ({', '.join(INTEGRATIONS)}) nor receiver:NAME"
    )


@dataclass(frozen=True)
class PolicyRule:
    """Alerts whose labels match ``matchers`` must reach each of ``reach``."""

    matchers: tuple[Matcher, ...]
    reach: tuple[str, ...]

    @classmethod
    def parse(cls, match: Iterable[str], reach: Iterable[str]) -> PolicyRule:
        """From the project file's strings; ValueError naming the one that is bad."""
        matchers: list[Matcher] = []
        for text in match:
            try:
                matchers += parse_matchers(text)
            except ValueError as exc:
                raise ValueError(f"{text!r}: {exc}") from None
        return cls(tuple(matchers), tuple(check_reach(r) for r in reach))

    def label(self) -> str:
        """The rule's matchers as a short text: ``severity=critical``."""
        return ",".join(f"{m.name}{m.op}{m.value}" for m in self.matchers) or "every alert"


@dataclass(frozen=True)
class Inhibition:
    """The project's promise that alert ``source`` firing keeps ``target`` back; ``labels``:
    what a real firing alert carries besides its rule's labels (from its series: ``service``)."""

    source: str
    target: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """The project's ``policy:``; ``always_firing`` names dead man's switch alerts."""

    rules: tuple[PolicyRule, ...] = ()
    always_firing: tuple[str, ...] = ()
    # alert → why it fires in a healthy test stack (not a false positive, but said in the report)
    fires_when_healthy: Mapping[str, str] = field(default_factory=dict)
    inhibitions: tuple[Inhibition, ...] = ()

    def required(self, labels: Mapping[str, str]) -> frozenset[str]:
        """What an alert with ``labels`` must reach: the union of its rules' ``reach``."""
        return frozenset(
            r for rule in self.rules if matches_all(rule.matchers, labels) for r in rule.reach
        )

    def receivers(self) -> frozenset[str]:
        """The receivers the policy names (``receiver:NAME``)."""
        return frozenset(
            r.removeprefix(RECEIVER)
            for rule in self.rules
            for r in rule.reach
            if r.startswith(RECEIVER)
        )

    def violations(
        self, labels: Mapping[str, str], reached: Iterable[tuple[str, str]]
    ) -> list[str]:
        """One line per requirement ``reached`` (receiver, integration) pairs do not meet."""
        got = frozenset(reached)
        problems: list[str] = []
        seen: set[str] = set()
        for rule in self.rules:
            if not matches_all(rule.matchers, labels):
                continue
            for want in rule.reach:
                if want in seen or _meets(want, got):
                    continue
                seen.add(want)
                problems.append(f"{rule.label()} must reach {want}: reached {describe(got)}")
        return problems


def _meets(want: str, got: Reached) -> bool:
    if want.startswith(RECEIVER):
        return any(receiver == want.removeprefix(RECEIVER) for receiver, _ in got)
    return any(integration == want for _, integration in got)


def describe(got: Iterable[tuple[str, str]]) -> str:
    """``team-mail (email, slack) + pager (pagerduty)``; ``nothing`` when empty."""
    by_receiver: dict[str, list[str]] = {}
    for receiver, integration in sorted(got):
        by_receiver.setdefault(receiver, [])
        if integration:
            by_receiver[receiver].append(integration)
    if not by_receiver:
        return "nothing"
    return " + ".join(
        f"{name} ({', '.join(kinds)})" if kinds else f"{name} (no integration)"
        for name, kinds in by_receiver.items()
    )


def reached(
    config: Mapping[str, Any],
    labels: Mapping[str, str],
    at: datetime | None = None,
    tree: RouteTree | None = None,
) -> Reached:
    """The (receiver, integration) pairs an alert with ``labels`` reaches in ``config``; at
    ``at``, routes muted by their time intervals reach nothing. A receiver without any
    integration is there with integration ""."""
    kinds = integrations(config)
    found: set[tuple[str, str]] = set()
    for route in (tree or RouteTree(config)).match(labels, at):
        if route.muted:
            continue
        found |= {(route.receiver, kind) for kind in kinds.get(route.receiver, ())}
        if not kinds.get(route.receiver):
            found.add((route.receiver, ""))
    return frozenset(found)
