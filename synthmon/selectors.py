"""Are a rule's selectors live? Each vector selector of an alert's expression must return
series in the running stack, so a renamed metric or label is caught even for an alert that no
scenario exercises (the spirit of pint's ``promql/series``).

Expressions are parsed with promql-parser, never with a regex. Not checked, because the rule
means them to be absent at times (:data:`EXCEPTED`):

- every selector inside ``absent(...)`` or ``absent_over_time(...)``;
- the left side of ``A or B`` when ``B`` has no selector at all (``... or vector(0)``: a
  fallback for when ``A`` has no series);
- the right side of ``A unless B`` when ``B`` is a bare selector (its presence is the
  condition; ``A unless B > 5`` compares a value, so ``B`` is checked).

A selector is live when it returned series at any instant of a window (``present_over_time``):
the session so far, so the series a scenario's fault created count once it ran. Offsets and
``@`` are dropped: the question is whether the series exist, not whether they are old enough.
When one is not live, :func:`diagnose` says why: no metric of that name at all, or the metric
with other labels (the values each matched label does have).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

from synthmon.durations import format_duration
from synthmon.errors import ConfigError
from synthmon.prom import Prometheus

__all__ = [
    "EXCEPTED",
    "LoadedRule",
    "Selector",
    "dead_selectors",
    "diagnose",
    "loaded_rules",
    "selectors_of",
    "wait_evaluated",
]

#: Why a selector is not checked, by the construct that makes it optional.
EXCEPTED: Mapping[str, str] = {
    "absent": "inside absent(): meant to be missing",
    "absent_over_time": "inside absent_over_time(): meant to be missing",
    "or": "left of an `or` fallback without selectors (like `or vector(0)`)",
    "unless": "right of `unless`: its presence is the condition",
}
_SHOWN_VALUES = 10
_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}  # MatchOp is not hashable


@dataclass(frozen=True)
class Selector:
    """One vector selector: its PromQL without offset/``@``, and why it is excepted ("" if not)."""

    promql: str
    metric: str | None
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value), no __name__
    excepted: str = ""


@dataclass(frozen=True)
class LoadedRule:
    """A rule as Prometheus loaded it (the time-scaled copy), from /api/v1/rules."""

    name: str
    kind: str  # "alerting" or "recording"
    query: str
    group: str


def selectors_of(expr: str, *, where: str = "expr") -> list[Selector]:
    """Every vector selector of ``expr`` in order, each with :attr:`Selector.excepted` set."""
    try:
        tree = pp.parse(expr)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"{where}: not PromQL ({exc}): {' '.join(expr.split())}") from None
    return list(_walk(tree, ""))


def _walk(node: Any, excepted: str) -> Iterator[Selector]:
    if isinstance(node, pp.VectorSelector):
        yield _selector(node, excepted)
    elif isinstance(node, pp.MatrixSelector):
        yield _selector(node.vector_selector, excepted)
    elif isinstance(node, pp.Call):
        for arg in node.args:  # EXCEPTED names the two absent functions
            yield from _walk(arg, excepted or EXCEPTED.get(node.func.name, ""))
    elif isinstance(node, pp.BinaryExpr):
        op = str(node.op)
        fallback = op == "or" and not list(_walk(node.rhs, ""))
        yield from _walk(node.lhs, excepted or (EXCEPTED["or"] if fallback else ""))
        presence = op == "unless" and isinstance(_unparen(node.rhs), pp.VectorSelector)
        yield from _walk(node.rhs, excepted or (EXCEPTED["unless"] if presence else ""))
    elif isinstance(node, pp.AggregateExpr):
        if node.param is not None:
            yield from _walk(node.param, excepted)
        yield from _walk(node.expr, excepted)
    elif isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        yield from _walk(node.expr, excepted)


def _unparen(node: Any) -> Any:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return node


def _selector(node: pp.VectorSelector, excepted: str) -> Selector:
    every = [(m.name, _OPS[str(m.op).rpartition(".")[2]], m.value) for m in node.matchers.matchers]
    shown = ",".join(f"{label}{op}{_quoted(value)}" for label, op, value in every)
    promql = f"{node.name or ''}{{{shown}}}" if shown or not node.name else node.name
    matchers = tuple(m for m in every if m[0] != "__name__")
    return Selector(promql, node.name, matchers, excepted)


def _quoted(value: str) -> str:
    """A PromQL string literal (the parser hands out unescaped values)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- against a live Prometheus --------------------------------------------------------------


def loaded_rules(prom: Prometheus) -> dict[str, LoadedRule]:
    """Every rule Prometheus loaded, by name (the alert name, or a recording rule's output)."""
    found: dict[str, LoadedRule] = {}
    for group in prom.rules():
        for rule in group.get("rules", []):
            name, kind = str(rule.get("name", "")), str(rule.get("type", ""))
            found[name] = LoadedRule(name, kind, str(rule.get("query", "")), str(group["name"]))
    return found


def wait_evaluated(prom: Prometheus, since: float, timeout_s: float) -> dict[str, LoadedRule]:
    """Wait until Prometheus evaluated every rule at or after ``since`` (unix seconds), then
    the rules: a recording rule's output is a series from its first evaluation that saw its
    inputs. WaitTimeout names the rules not evaluated since then."""

    prom.wait_evaluated(since, timeout_s)
    return loaded_rules(prom)


def _window(seconds: float) -> str:
    return format_duration(max(1.0, math.ceil(seconds)))


def _count(prom: Prometheus, promql: str, window: str) -> int:
    return len(prom.query(f"present_over_time({promql}[{window}])"))


def _values(prom: Prometheus, metric: str, label: str, window: str) -> list[str]:
    promql = f"count by ({label}) (present_over_time({metric}[{window}]))"
    return sorted(s.labels.get(label, "") for s in prom.query(promql))


def diagnose(prom: Prometheus, selector: Selector, window_s: float) -> str | None:
    """None if ``selector`` returned series within the last ``window_s``; else why not."""
    window = _window(window_s)
    if _count(prom, selector.promql, window):
        return None
    if selector.metric is None:
        return "no series match it (it names no metric, so nothing narrows it down further)"
    metric = f"{{__name__={_quoted(selector.metric)}}}"
    if not _count(prom, metric, window):
        return f"no metric {selector.metric} exists in the stack (with any labels)"
    notes = []
    for label, op, value in selector.matchers:
        if _count(prom, f"{metric[:-1]},{label}{op}{_quoted(value)}}}", window):
            continue
        values = [v for v in _values(prom, metric, label, window) if v]
        shown = ", ".join(values[:_SHOWN_VALUES]) + (" ..." if len(values) > _SHOWN_VALUES else "")
        notes.append(
            f"{label}{op}{_quoted(value)} matches none of its series "
            + (f"({label} has: {shown})" if values else f"(none has a {label} label)")
        )
    if not notes:
        notes.append("each matcher matches some series, but no series matches all of them")
    return f"metric {selector.metric} exists with other labels: " + "; ".join(notes)


def dead_selectors(
    prom: Prometheus, rule: str, expr: str, window_s: float
) -> tuple[list[str], list[Selector]]:
    """The problems of alert ``rule`` (one line per selector that is not live, naming the rule
    and the selector), and the selectors excepted from the check."""
    problems: list[str] = []
    excepted: list[Selector] = []
    found = selectors_of(expr, where=f"alert {rule}")
    checked = {s.promql for s in found if not s.excepted}
    for selector in dict.fromkeys(found):  # each once, in order
        if selector.excepted:
            if selector.promql not in checked:
                excepted.append(selector)
            continue
        why = diagnose(prom, selector, window_s)
        if why is not None:
            problems.append(
                f"alert {rule}: selector {selector.promql} returned no series in the last "
                f"{_window(window_s)}: {why}"
            )
    return problems, excepted
