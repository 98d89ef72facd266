"""Prometheus alerting rule files: a time-scaled rendering for the test stack, and a typed listing.

The files under ``stack/prometheus/rules/`` keep production timings. The test stack compresses
time by one factor, so :func:`scale_rules` divides every ``for:``, ``keep_firing_for:``, group
``interval:`` and every PromQL range window, subquery and ``offset`` by it: the rules under test
are the production rules, not a hand-written fast copy. Thresholds, labels and annotation text
are left exactly as they are. A rule named in ``unscaled`` (the project's
``monitoring.unscaled_windows``) keeps its expression's durations as written; its timers scale.
:func:`read_alerts` lists the alerts for scenarios, and :func:`alert_deadline` says how long
one may take to fire after its fault.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from synthmon.durations import format_duration, parse_duration
from synthmon.errors import ConfigError
from synthmon.yamlfile import parse_yaml, read_text

__all__ = [
    "DEFAULT_MIN_WINDOW_S",
    "MIN_FOR_S",
    "MIN_STEP_S",
    "AlertRule",
    "alert_deadline",
    "load_alerts",
    "range_windows",
    "read_alerts",
    "read_rule_names",
    "rule_deadline",
    "scale_expr",
    "scale_rules",
]

# The test stack scrapes every second; rate() needs at least two samples in its window, and a
# few more keep it from flapping on one late scrape.
DEFAULT_MIN_WINDOW_S = 4.0
# Prometheus evaluates rules at most every second or so; a shorter non-zero `for:` is noise.
MIN_FOR_S = 1.0
# Subquery resolution floor: finer than the scrape interval only re-reads the same samples.
MIN_STEP_S = 1.0

# One pass over a PromQL expression. String literals and comments are matched first so that a
# `[...]` or `offset 5m` inside them is copied untouched; a lone quote or bracket is an error.
_TOKEN = re.compile(
    r"""
      (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`[^`]*`)
    | (?P<comment>\#[^\n]*)
    | \[(?P<range>[^\[\]"'`]*)\]
    | (?P<offset>\boffset\b\s*)(?P<sign>-?)\s*(?P<odur>\w+)
    | (?P<bad>["'`\[\]])
    """,
    re.VERBOSE | re.IGNORECASE,
)
_TIMED_RULE_KEYS = ("for", "keep_firing_for")


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule as a scenario needs it: what it watches, how long it waits, whom it pages.

    Built from the production file, so ``for_seconds`` and :attr:`windows` are production
    values; :func:`alert_deadline` scales them.
    """

    name: str
    group: str
    expr: str
    for_seconds: float
    labels: Mapping[str, str] = field(hash=False)
    annotations: Mapping[str, str] = field(hash=False)

    @property
    def severity(self) -> str | None:
        """The ``severity`` label (critical, warning, info, none), if set."""
        return self.labels.get("severity")

    @property
    def windows(self) -> tuple[float, ...]:
        """Seconds of every range and subquery window in ``expr``, in order."""
        return range_windows(self.expr)


def scale_expr(
    expr: str, factor: float, min_window: float = DEFAULT_MIN_WINDOW_S, *, where: str = "expr"
) -> str:
    """``expr`` with range windows, subquery windows/steps and offsets divided by ``factor``.

    Windows never go below ``min_window`` seconds (rate() needs samples in them), subquery
    steps never below :data:`MIN_STEP_S` nor above their window; offsets are plain time shifts
    and have no floor. Strings, comments and everything else are copied as they are.
    """
    _check_factor(factor, min_window, where)

    def on_range(window: float, step: float | None) -> tuple[float, float | None]:
        scaled = max(window / factor, min_window)
        if step is None:
            return scaled, None
        return scaled, min(max(step / factor, MIN_STEP_S), scaled)

    return _walk(expr, where, on_range, lambda offset: offset / factor)


def range_windows(expr: str, *, where: str = "expr") -> tuple[float, ...]:
    """Seconds of every range and subquery window in ``expr`` (not offsets), in order."""
    found: list[float] = []

    def on_range(window: float, step: float | None) -> tuple[float, float | None]:
        found.append(window)
        return window, step

    _walk(expr, where, on_range, lambda offset: offset)
    return tuple(found)


def scale_rules(
    text: str,
    factor: float,
    min_window: float = DEFAULT_MIN_WINDOW_S,
    *,
    source: str = "rules",
    unscaled: Collection[str] = (),
) -> str:
    """The rule file ``text`` with every timing divided by ``factor``, as YAML.

    ``for:``/``keep_firing_for:`` and group ``interval:`` keep a floor of :data:`MIN_FOR_S`
    (zero stays zero: an alert without ``for:`` still fires at once); expressions go through
    :func:`scale_expr`, except those of the rules (alert or record names) in ``unscaled``: their
    range and subquery windows and offsets stay as written (still checked), their ``for:`` and
    ``keep_firing_for:`` scale. ``source`` names the file in error messages.
    """
    _check_factor(factor, min_window, source)
    document = _load(text, source)
    if document is None:
        return text
    kept: list[str] = []
    for group in document["groups"]:
        gwhere = f"{source}: group {group['name']!r}"
        if "interval" in group:
            group["interval"] = _scale_timer(group["interval"], factor, f"{gwhere}, interval")
        for rule in group["rules"]:
            where = _rule_where(gwhere, rule)
            for key in _TIMED_RULE_KEYS:
                if key in rule:
                    rule[key] = _scale_timer(rule[key], factor, f"{where}, {key}")
            if not isinstance(rule["expr"], str):
                continue
            if _rule_name(rule) in unscaled:
                range_windows(rule["expr"], where=f"{where}, expr")
                kept.append(_rule_name(rule))
            else:
                rule["expr"] = scale_expr(rule["expr"], factor, min_window, where=f"{where}, expr")
    origin = " ".join(source.split())
    header = f"# Rendered from {origin} by synthmon.stack.rules.scale_rules (time / {factor:g}).\n"
    if kept:
        header += f"# Windows kept as written (monitoring.unscaled_windows): {', '.join(kept)}.\n"
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096, indent=2
    )
    return header + body


def load_alerts(text: str, *, source: str = "rules") -> dict[str, AlertRule]:
    """The alerting rules of one rule file by name (recording rules are skipped).

    A name used twice is an error: scenarios look alerts up by name and need one answer.
    """
    document = _load(text, source)
    alerts: dict[str, AlertRule] = {}
    for group in [] if document is None else document["groups"]:
        gwhere = f"{source}: group {group['name']!r}"
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            where = _rule_where(gwhere, rule)
            name = rule["alert"]
            if name in alerts:
                raise ConfigError(f"{where}: alert name used twice (expected unique alert names)")
            range_windows(str(rule["expr"]), where=f"{where}, expr")
            alerts[name] = AlertRule(
                name=name,
                group=group["name"],
                expr=str(rule["expr"]),
                for_seconds=_timer_seconds(rule.get("for", "0s"), f"{where}, for"),
                labels=_string_map(rule.get("labels"), f"{where}, labels"),
                annotations=_string_map(rule.get("annotations"), f"{where}, annotations"),
            )
    return alerts


def read_rule_names(path: Path) -> set[str]:
    """The names of every rule (alerting and recording) of a rule file or rules directory."""
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    names: set[str] = set()
    for file in files:
        document = _load(read_text(file, "rule file"), str(file))
        for group in [] if document is None else document["groups"]:
            names |= {_rule_name(rule) for rule in group["rules"]}
    return names


def read_alerts(path: Path) -> dict[str, AlertRule]:
    """The alerts of a rule file, or of every ``*.yml`` in a rules directory, by name."""
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    alerts: dict[str, AlertRule] = {}
    for file in files:
        text = read_text(file, "rule file")
        for name, alert in load_alerts(text, source=str(file)).items():
            if name in alerts:
                raise ConfigError(
                    f"{file}: alert {name!r} is also defined in another rule file of {path}"
                )
            alerts[name] = alert
    return alerts


def rule_deadline(
    rule_for: str | float,
    factor: float,
    scrape_interval: float,
    eval_interval: float,
    *,
    window: str | float = 0.0,
    min_window: float = DEFAULT_MIN_WINDOW_S,
    scale_window: bool = True,
) -> float:
    """Worst-case seconds from a fault until Prometheus fires the alert on the scaled stack.

    The fault shows at the next scrape; a rate over ``window`` may need the whole (scaled)
    window of bad samples to cross its threshold; the next evaluation makes the alert
    pending, and it fires at the first evaluation at least the scaled ``for:`` later.
    ``rule_for`` and ``window`` are production values (duration strings or seconds);
    ``scale_window=False``: the rule keeps its windows as written (``unscaled_windows``).
    Alertmanager's group_wait and delivery come on top.
    """
    _check_factor(factor, min_window, "rule deadline")
    if scrape_interval <= 0 or eval_interval <= 0:
        raise ConfigError(
            "rule deadline: scrape and evaluation intervals must be > 0, "
            f"got {scrape_interval} and {eval_interval}"
        )
    for_s = _seconds(rule_for, "rule deadline, for") / factor
    if for_s:
        for_s = max(for_s, MIN_FOR_S)
    window_s = _seconds(window, "rule deadline, window")
    if window_s and scale_window:
        window_s = max(window_s / factor, min_window)
    evaluations = math.ceil(for_s / eval_interval - 1e-9)
    return scrape_interval + window_s + eval_interval + evaluations * eval_interval


def alert_deadline(
    alert: AlertRule,
    factor: float,
    scrape_interval: float,
    eval_interval: float,
    *,
    min_window: float = DEFAULT_MIN_WINDOW_S,
    scale_window: bool = True,
) -> float:
    """:func:`rule_deadline` for a production alert, using its ``for:`` and longest window."""
    return rule_deadline(
        alert.for_seconds,
        factor,
        scrape_interval,
        eval_interval,
        window=max(alert.windows, default=0.0),
        min_window=min_window,
        scale_window=scale_window,
    )


# -- internals ---------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML without YAML 1.1 booleans: Prometheus (YAML 1.2) reads ``yes``/``on`` as text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Dumper(yaml.SafeDumper):
    """Safe YAML that writes multi-line strings (PromQL, descriptions) as ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _check_factor(factor: float, min_window: float, where: str) -> None:
    if not factor > 0 or math.isinf(factor):
        raise ConfigError(f"{where}: time scale factor must be a number > 0, got {factor}")
    if not min_window >= 0:
        raise ConfigError(f"{where}: min_window must be >= 0 seconds, got {min_window}")


def _walk(
    expr: str,
    where: str,
    on_range: Callable[[float, float | None], tuple[float, float | None]],
    on_offset: Callable[[float], float],
) -> str:
    """Rewrite the durations of ``expr`` through the callbacks; strings/comments stay as is."""

    def replace(match: re.Match[str]) -> str:
        if match["string"] is not None or match["comment"] is not None:
            return match[0]
        if match["bad"] is not None:
            column = match.start() + 1
            raise ConfigError(
                f"{where}: unbalanced {match['bad']!r} at column {column} "
                "(expected closed quotes and ranges like [5m] or [5m:30s])"
            )
        if match["range"] is not None:
            body = match["range"]
            window_text, colon, step_text = (part.strip() for part in body.partition(":"))
            window = _duration(window_text, where, f"[{body}]")
            step = _duration(step_text, where, f"[{body}]") if step_text else None
            new_window, new_step = on_range(window, step)
            if not colon:
                return f"[{format_duration(new_window)}]"
            return f"[{format_duration(new_window)}:{_fmt_opt(new_step)}]"
        offset = _duration(match["odur"], where, f"offset {match['sign']}{match['odur']}")
        return f"{match['offset']}{match['sign']}{format_duration(on_offset(offset))}"

    return _TOKEN.sub(replace, expr)


def _fmt_opt(seconds: float | None) -> str:
    return "" if seconds is None else format_duration(seconds)


def _duration(text: str, where: str, context: str) -> float:
    if text == "0":
        return 0.0
    try:
        return parse_duration(text)
    except ConfigError:
        raise ConfigError(
            f"{where}: {text!r} in {context} is not a duration "
            "(expected a range like [5m], a subquery like [5m:30s] or offset 5m)"
        ) from None


def _seconds(value: object, where: str) -> float:
    """Seconds of a YAML duration value: a duration string or a number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: got {value!r} (expected a duration like 30s or 5m)")
    if isinstance(value, int | float):
        return float(value)
    if value == "0":
        return 0.0
    if not isinstance(value, str):
        raise ConfigError(f"{where}: got {value!r} (expected a duration like 30s or 5m)")
    try:
        return parse_duration(value)
    except ConfigError:
        raise ConfigError(
            f"{where}: {value!r} is not a Prometheus duration (expected e.g. 30s, 5m, 1h30m)"
        ) from None


def _timer_seconds(value: object, where: str) -> float:
    """Seconds of a ``for:``-like field; Prometheus wants a duration string there, not a number."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: got {value!r} (expected a duration string like 5m)")
    return _seconds(value, where)


def _scale_timer(value: object, factor: float, where: str) -> str:
    """A ``for:``-like timer divided by ``factor``; zero stays zero, else >= MIN_FOR_S."""
    seconds = _timer_seconds(value, where)
    return format_duration(max(seconds / factor, MIN_FOR_S) if seconds else 0.0)


def _load(text: str, source: str) -> dict[str, Any] | None:
    """The parsed rule file, its shape checked; None for an empty file (Prometheus allows it)."""
    document = parse_yaml(text, source, _Loader)
    if document is None:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'groups:' list at the top")
    for index, group in enumerate(document["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            raise ConfigError(f"{source}: groups[{index}] needs a 'name:' string")
        if not isinstance(group.get("rules"), list):
            raise ConfigError(f"{source}: group {group['name']!r} needs a 'rules:' list")
        for rindex, rule in enumerate(group["rules"]):
            _check_rule(rule, f"{source}: group {group['name']!r}, rules[{rindex}]")
    return document


def _check_rule(rule: object, where: str) -> None:
    if not isinstance(rule, dict):
        raise ConfigError(f"{where}: expected a mapping with 'alert:' or 'record:' and 'expr:'")
    names = [key for key in ("alert", "record") if isinstance(rule.get(key), str)]
    if len(names) != 1:
        raise ConfigError(f"{where}: expected exactly one of 'alert:' or 'record:' (a string)")
    expr = rule.get("expr")
    if isinstance(expr, bool) or not isinstance(expr, str | int | float):
        raise ConfigError(
            f"{_rule_where(where, rule)}: expected an 'expr:' PromQL string, got {expr!r}"
        )


def _rule_name(rule: Mapping[str, Any]) -> str:
    return str(rule["alert"] if "alert" in rule else rule["record"])


def _rule_where(gwhere: str, rule: Mapping[str, Any]) -> str:
    if "alert" in rule:
        return f"{gwhere}, alert {rule['alert']!r}"
    return f"{gwhere}, record {rule['record']!r}"


def _string_map(value: object, where: str) -> Mapping[str, str]:
    """A read-only label/annotation map; scalars become strings as Prometheus reads them."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of names to strings, got {value!r}")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or isinstance(item, dict | list) or item is None:
            raise ConfigError(f"{where}: {key!r}: expected a string value, got {item!r}")
        result[key] = str(item).lower() if isinstance(item, bool) else str(item)
    return MappingProxyType(result)
