"""Dashboards as code: every panel's PromQL, Grafana variables filled in, run against Prometheus.

Why: a dashboard that errors or stays empty is found during an incident, the worst moment.
Grafana is not needed for this: each panel target's ``expr`` is what Grafana would send to the
Prometheus datasource, once its variables are replaced. Built-in interval variables get fixed
values (``$__rate_interval`` a window given by the caller, ``$__interval`` the query step,
``$__range`` the dashboard's time range); dashboard variables their current (default) value.
Each query runs as a range query over the dashboard's own time range (``time.from``, e.g.
``now-1h``), as a person opening it would see it; a query error or a result with no finite
point is a problem that names the panel.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthmon.durations import format_duration, parse_duration
from synthmon.errors import ConfigError, QueryError, WaitTimeout
from synthmon.jsonfile import read_json
from synthmon.prom import Prometheus
from synthmon.waiting import NotYet, wait_until

DEFAULT_RANGE_S = 3600.0
POINTS = 120  # points per range query: Grafana asks for about one per pixel column; enough
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
_RELATIVE = re.compile(r"now-(\S+)")


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel, with its PromQL as sent (variables replaced)."""

    file: str
    dashboard: str
    panel: str
    ref: str
    expr: str
    promql: str
    range_s: float

    @property
    def id(self) -> str:
        return f"{self.dashboard}: {self.panel} [{self.ref}]"

    def where(self) -> str:
        return f"panel {self.panel!r} (dashboard {self.dashboard!r}, query {self.ref}, {self.file})"


def _load(path: Path) -> dict[str, Any]:
    doc = read_json(path, "dashboard")
    if not isinstance(doc, dict) or not isinstance(doc.get("panels"), list):
        raise ConfigError(f"{path}: panels: expected a Grafana dashboard with a 'panels' list")
    return doc


def dashboard_files(path: str | Path) -> list[Path]:
    """``path`` itself, or the ``*.json`` files in it (sorted); none is an error."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise ConfigError(f"{path}: no Grafana dashboard JSON here (expected a .json file or dir)")
    return files


def panels(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those inside (collapsed) rows."""
    out: list[dict[str, Any]] = []
    for panel in doc.get("panels", []):
        if isinstance(panel, dict):
            out.append(panel)
            out.extend(p for p in panel.get("panels", []) if isinstance(p, dict))
    return out


def variables(doc: Mapping[str, Any]) -> dict[str, str]:
    """Dashboard variables -> their current value (a multi-value joins as a regex ``a|b``)."""
    out: dict[str, str] = {}
    for var in doc.get("templating", {}).get("list", []):
        if not isinstance(var, dict) or not isinstance(var.get("name"), str):
            continue
        value = (var.get("current") or {}).get("value", var.get("query", ""))
        if value in ("$__all", ["$__all"]):
            value = var.get("allValue") or ".*"
        out[var["name"]] = "|".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


def time_range_s(doc: Mapping[str, Any], where: str) -> float:
    """The dashboard's relative time range (``now-1h`` -> 3600), default one hour."""
    text = str((doc.get("time") or {}).get("from", "now-1h"))
    found = _RELATIVE.fullmatch(text)
    if found is None:
        raise ConfigError(f"{where}: time.from: expected now-<duration> like now-1h, got {text!r}")
    try:
        return parse_duration(found.group(1))
    except ConfigError as exc:
        raise ConfigError(f"{where}: time.from: {exc}") from None


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with every known ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]`` replaced.

    Unknown ones stay as they are, as Grafana leaves them (``$1`` in label_replace is not a
    variable); a misspelt variable then fails as the PromQL error Grafana would show.
    """

    def one(found: re.Match[str]) -> str:
        name = next(g for g in found.groups() if g)
        return values.get(name, found.group(0))

    return _VARIABLE.sub(one, expr)


def panel_queries(path: str | Path, rate_interval: str) -> list[PanelQuery]:
    """Every Prometheus query of every dashboard under ``path``, ready to run."""
    out = []
    for file in dashboard_files(path):
        doc = _load(file)
        title = str(doc.get("title") or file.stem)
        range_s = time_range_s(doc, str(file))
        step = max(range_s / POINTS, 1.0)
        values = {
            **variables(doc),
            "__rate_interval": rate_interval,
            "__interval": format_duration(step),
            "__interval_ms": str(round(step * 1000)),
            "__range": format_duration(range_s),
            "__range_s": str(round(range_s)),
            "__range_ms": str(round(range_s * 1000)),
        }
        for number, panel in enumerate(panels(doc)):
            name = str(panel.get("title") or f"panels[{number}]")
            for i, target in enumerate(panel.get("targets") or []):
                if not isinstance(target, dict) or target.get("hide"):
                    continue
                ref = str(target.get("refId") or f"targets[{i}]")
                expr = str(target.get("expr") or "")
                promql = substitute(expr, values)
                out.append(PanelQuery(str(file), title, name, ref, expr, promql, range_s))
    return out


def problem(prom: Prometheus, query: PanelQuery, settle_s: float = 0.0) -> str | None:
    """What is wrong with ``query`` on ``prom`` (None: it shows data), naming the panel.

    "No data" is asked again for up to ``settle_s``: a stack started seconds ago may not have
    the two samples ``rate()`` needs yet. A query error is final at once.
    """

    def settled() -> tuple[str | None] | NotYet:
        found = _problem(prom, query)
        if found is not None and "no data" in found:
            return NotYet(found)
        return (found,)  # a 1-tuple: truthy even when the answer is None (it shows data)

    try:
        [found] = wait_until(settled, timeout_s=settle_s, interval_s=0.5, what=query.id)
    except WaitTimeout as exc:
        return exc.seen  # still no data: that is the problem
    return found


def _problem(prom: Prometheus, query: PanelQuery) -> str | None:
    if not query.promql.strip():
        return f"{query.where()}: the target has no PromQL (expr is empty)"
    end = time.time()
    step = max(query.range_s / POINTS, 1.0)
    try:
        series = prom.query_range(query.promql, end - query.range_s, end, step)
    except QueryError as exc:
        return f"{query.where()}: query error: {exc}"
    points = sum(math.isfinite(v) for s in series for _, v in s.points)
    if not points:
        shown = "no series" if not series else f"{len(series)} series, no finite value"
        span = format_duration(query.range_s)
        return f"{query.where()}: no data over the last {span} ({shown}): {query.promql}"
    return None
