"""Whether an alert is inhibited by the firing ones, as ``inhibit.Inhibitor.Mutes`` decides.

A rule inhibits an alert that its target side matches when a firing alert matches its source
side and agrees on every ``equal`` label (missing on both sides counts as equal: both are "").
When the alert matches the source side too, source alerts that also match the target side do
not count, so an alert never inhibits itself (``excludeTwoSidedMatch``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from synthmon.amconfig.matchers import Matcher, ParserMode, config_matchers, matches_all
from synthmon.errors import ConfigError

Labels = Mapping[str, str]


@dataclass(frozen=True)
class InhibitRule:
    """One entry of ``inhibit_rules``; ``index`` is its position in the file."""

    index: int
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def inhibits(self, alert: Labels, firing: Iterable[Labels]) -> bool:
        """Whether this rule keeps ``alert`` back while ``firing`` alerts fire."""
        if not matches_all(self.target, alert):
            return False
        two_sided = matches_all(self.source, alert)
        for other in firing:
            if not matches_all(self.source, other):
                continue
            if any(other.get(n, "") != alert.get(n, "") for n in self.equal):
                continue
            if two_sided and matches_all(self.target, other):
                continue
            return True
        return False


def inhibit_rules(config: Mapping[str, Any], mode: ParserMode = "fallback") -> list[InhibitRule]:
    """The ``inhibit_rules`` of an alertmanager.yml dict; ConfigError naming the rule."""
    items = config.get("inhibit_rules") or []
    if not isinstance(items, list):
        raise ConfigError("alertmanager config: inhibit_rules: expected a list")
    rules = []
    for n, item in enumerate(items):
        where = f"alertmanager config: inhibit_rules[{n}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping")
        equal = item.get("equal") or []
        if not isinstance(equal, list):
            raise ConfigError(f"{where}.equal: expected a list of label names")
        rules.append(
            InhibitRule(
                n,
                config_matchers(item, where, "source_", mode),
                config_matchers(item, where, "target_", mode),
                tuple(str(e) for e in equal),
            )
        )
    return rules


def inhibited_by(
    rules: Iterable[InhibitRule], alert: Labels, firing: Iterable[Labels]
) -> int | None:
    """The index of the first rule that inhibits ``alert`` while ``firing`` fire, else None.

    ``firing`` may include ``alert`` itself (as Alertmanager's cache does)."""
    others = list(firing)
    return next((r.index for r in rules if r.inhibits(alert, others)), None)
