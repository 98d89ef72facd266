"""Regression gate: an objective that still holds may have got much worse than last time.

``synthmon gate --baseline previous/slo-report.json --max-regression p95=10%,error_rate=0.5pp``
compares each objective's figure with the baseline report's and fails when it got worse by
more than its margin, saying by how much. Every SLO figure here is "lower is better".

Figures: latency compares the percentile itself (the report's ``histogram_quantile_s``), the
others their measured value. Margins: ``10%`` relative, ``0.5pp`` percentage points (shares),
``20ms`` absolute (latency). A margin's key is an objective name, ``pNN`` (latency at that
percentile) or a type; the most specific wins; a key matching nothing is an error (a typo must
not turn the gate off). Defaults: latency, cpu, memory +10%; error_rate +0.5pp.

Verdicts: ``ok``, ``regressed``, ``error`` (a figure is missing on either side: the gate cannot
vouch, exit 2), ``new``/``dropped`` (only in one report: shown, not judged).

Capacity (``capacity=10%``, the report's ``capacity`` key) is higher-is-better and compared in
:mod:`.regression_capacity`. Fingerprints (synthmon.fingerprint): two reports measured on
machines or with profiles known to differ cannot be compared (exit 2), whatever the figures.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from synthmon.errors import ConfigError
from synthmon.fingerprint import Fingerprint, differences
from synthmon.jsonfile import read_json
from synthmon.slo.decide import ms, pct
from synthmon.slo.regression_capacity import Capacity, compare_capacity, parse_capacity

Unit = Literal["%", "pp", "s"]
_SHARES = ("error_rate", "cpu", "memory")
_MARGIN = re.compile(r"\s*([A-Za-z0-9_.:-]+)\s*=\s*(\d+(?:\.\d+)?)\s*(%|pp|ms|s)\s*")
_PERCENTILE = re.compile(r"P(\d+(?:\.\d+)?)\b")
EXIT_CODES = {"ok": 0, "regressed": 1, "error": 2}
_EPS = 1e-12
CAPACITY = "capacity"  # the margin key of the capacity search (not an objective)


@dataclass(frozen=True)
class ReportRow:
    """One objective of an slo-report.json, with the figure a regression compares."""

    name: str
    type: str
    verdict: str
    measured: float | None
    threshold: float
    figure: float | None
    percentile: str | None = None  # "95" for a P95 latency objective

    @property
    def figure_name(self) -> str:
        names = {"latency": f"P{self.percentile or '?'}", "error_rate": "error rate"}
        return names.get(self.type, self.type)

    def show(self, value: float) -> str:
        if self.type == "latency":
            return ms(value)
        return f"{value * 100:.1f}% of a core" if self.type == "cpu" else pct(value)


@dataclass(frozen=True)
class Report:
    path: str
    service: str
    rows: tuple[ReportRow, ...]
    capacity: Capacity | None = None
    fingerprint: Fingerprint | None = None


def _number(value: object) -> float | None:
    """A finite number, else None (the report writes NaN/Infinity as strings)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def parse_report(doc: object, where: str) -> Report:
    """A report as ``SLOReport.to_dict()`` writes it; ConfigError naming the field otherwise."""
    if not isinstance(doc, dict) or not isinstance(doc.get("objectives"), list):
        raise ConfigError(f"{where}: expected an SLO report with an 'objectives' list")
    rows = []
    for i, row in enumerate(doc["objectives"]):
        at = f"{where}: objectives[{i}]"
        if not isinstance(row, dict):
            raise ConfigError(f"{at}: expected an object, got {row!r:.80}")
        for key in ("name", "type", "verdict"):
            if not isinstance(row.get(key), str):
                raise ConfigError(f"{at}.{key}: expected a string, got {row.get(key)!r:.80}")
        measured, threshold = row.get("measured"), _number(row.get("threshold"))
        if measured is not None and not isinstance(measured, int | float | str):
            raise ConfigError(f"{at}.measured: expected a number or null, got {measured!r:.80}")
        if threshold is None:
            raise ConfigError(f"{at}.threshold: expected a number, got {row.get('threshold')!r}")
        details = row.get("details") or {}
        if not isinstance(details, dict):
            raise ConfigError(f"{at}.details: expected an object, got {details!r:.80}")
        found = _PERCENTILE.match(str(row.get("threshold_text", "")))
        figure = _number(measured)
        if row["type"] == "latency":
            figure = _number(details.get("histogram_quantile_s"))
        rows.append(
            ReportRow(
                name=row["name"],
                type=row["type"],
                verdict=row["verdict"],
                measured=_number(measured),
                threshold=threshold,
                figure=figure,
                percentile=found.group(1) if found else None,
            )
        )
    raw = doc.get("fingerprint")
    fingerprint = None if raw is None else Fingerprint.from_dict(raw, f"{where}: fingerprint")
    capacity = parse_capacity(doc.get("capacity"), f"{where}: capacity")
    return Report(where, str(doc.get("service", "")), tuple(rows), capacity, fingerprint)


def read_report(path: str | Path) -> Report:
    return parse_report(read_json(path, "SLO report"), str(path))


@dataclass(frozen=True)
class Margin:
    """How much worse a figure may get: relative (%), in percentage points, or in seconds."""

    amount: float  # a fraction for % and pp, seconds for s
    unit: Unit
    text: str

    def limit(self, baseline: float) -> float:
        return baseline * (1 + self.amount) if self.unit == "%" else baseline + self.amount


DEFAULT_MARGINS: Mapping[str, Margin] = {
    "latency": Margin(0.10, "%", "+10%"),
    "error_rate": Margin(0.005, "pp", "+0.5pp"),
    "cpu": Margin(0.10, "%", "+10%"),
    "memory": Margin(0.10, "%", "+10%"),
}


def parse_margins(text: str | None, where: str = "--max-regression") -> dict[str, Margin]:
    """``p95=10%,error_rate=0.5pp,p95-latency=20ms`` -> key -> Margin."""
    margins: dict[str, Margin] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        found = _MARGIN.fullmatch(item)
        if found is None:
            raise ConfigError(
                f"{where}: {item.strip()!r}: expected KEY=AMOUNT with a unit, "
                "e.g. p95=10%, error_rate=0.5pp, p95-latency=20ms"
            )
        key, amount, unit = found.group(1), float(found.group(2)), found.group(3)
        if key in margins:
            raise ConfigError(f"{where}: {key} is given twice")
        value = {"%": amount / 100, "pp": amount / 100, "ms": amount / 1000, "s": amount}[unit]
        kind: Unit = "%" if unit == "%" else "pp" if unit == "pp" else "s"
        margins[key] = Margin(value, kind, f"+{amount:g}{unit}")
    return margins


@dataclass(frozen=True)
class Comparison:
    name: str
    figure: str
    baseline: str
    current: str
    change: str
    allowed: str
    verdict: Literal["ok", "regressed", "error", "new", "dropped"]
    reason: str


def _margin(row: ReportRow, margins: Mapping[str, Margin], used: set[str], where: str) -> Margin:
    keys = [row.name, f"p{row.percentile}" if row.type == "latency" else "", row.type]
    matching = [k for k in keys if k and k in margins]
    used.update(matching)  # a key shadowed by a more specific one still matched something
    if not matching:
        return DEFAULT_MARGINS.get(row.type, Margin(0.10, "%", "+10%"))
    key = matching[0]
    margin = margins[key]
    if margin.unit == "pp" and row.type not in _SHARES:
        raise ConfigError(f"{where}: {key}={margin.text[1:]}: pp is for shares, not {row.type}")
    if margin.unit == "s" and row.type != "latency":
        raise ConfigError(f"{where}: {key}={margin.text[1:]}: ms/s is for latency, not {row.type}")
    return margin


def _compare(base: ReportRow, now: ReportRow, margin: Margin) -> Comparison:
    figure = now.figure_name
    if base.figure is None or now.figure is None:
        side = "baseline" if base.figure is None else "current run"
        verdict = (base if base.figure is None else now).verdict
        return Comparison(
            now.name, figure, "n/a" if base.figure is None else now.show(base.figure),
            "n/a" if now.figure is None else now.show(now.figure), "n/a", margin.text, "error",
            f"{now.name}: cannot compare: the {side} has no {figure} figure (verdict {verdict})",
        )  # fmt: skip
    delta = now.figure - base.figure
    if now.type == "latency":
        absolute = f"{'+' if delta >= 0 else '-'}{ms(abs(delta))}"
    else:
        absolute = f"{delta * 100:+.2f} pp"
    relative = "" if base.figure == 0 else f" ({delta / base.figure * 100:+.1f}%)"
    change = absolute + relative
    worse = now.figure > margin.limit(base.figure) + _EPS
    shown = f"{figure} {now.show(base.figure)} -> {now.show(now.figure)}"
    reason = (
        f"{now.name}: {figure} got worse by {change}, more than the allowed {margin.text} ({shown})"
        if worse
        else f"{now.name}: {shown}, change {change} within {margin.text}"
    )
    return Comparison(
        now.name, figure, now.show(base.figure), now.show(now.figure), change, margin.text,
        "regressed" if worse else "ok", reason,
    )  # fmt: skip


@dataclass(frozen=True)
class RegressionResult:
    baseline: str
    comparisons: tuple[Comparison, ...]

    @property
    def verdict(self) -> Literal["ok", "regressed", "error"]:
        judged = {c.verdict for c in self.comparisons} & set(EXIT_CODES)
        if "error" in judged or not judged:  # nothing compared is not "no regression"
            return "error"
        return "regressed" if "regressed" in judged else "ok"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        rows = [c.__dict__ for c in self.comparisons]
        return {"baseline": self.baseline, "verdict": self.verdict, "exit_code": self.exit_code,
                "comparisons": rows}  # fmt: skip

    def render(self) -> str:
        head = ("OBJECTIVE", "FIGURE", "BASELINE", "NOW", "CHANGE", "ALLOWED", "VERDICT")
        rows = [
            (c.name, c.figure, c.baseline, c.current, c.change, c.allowed, c.verdict.upper())
            for c in self.comparisons
        ]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        out = [f"regression against {self.baseline}:", "", line(head)]
        out += [line(tuple("-" * w for w in widths)), *map(line, rows), ""]
        bad = [c.reason for c in self.comparisons if c.verdict in ("regressed", "error")]
        out += bad or ["no objective got worse than its margin allows"]
        if not any(c.verdict in EXIT_CODES for c in self.comparisons):
            out.append("no objective is in both reports: nothing was compared")
        out.append(f"regression: {self.verdict.upper()} (exit {self.exit_code})")
        return "\n".join(out) + "\n"


def compare(
    baseline: Report,
    current: Report,
    margins: Mapping[str, Margin] | None = None,
    where: str = "--max-regression",
) -> RegressionResult:
    """Each current objective against the baseline's of the same name."""
    if baseline.service and current.service and baseline.service != current.service:
        raise ConfigError(
            f"{baseline.path}: service {baseline.service!r} is not {current.service!r}: "
            "a baseline must come from the same service"
        )
    margins = dict(margins or {})
    used: set[str] = set()
    base_rows = {row.name: row for row in baseline.rows}
    out = []
    for row in current.rows:
        margin = _margin(row, margins, used, where)
        base = base_rows.get(row.name)
        if base is None:
            reason = f"{row.name}: not in the baseline, nothing to compare"
            out.append(Comparison(row.name, row.figure_name, "-", "-", "-", "-", "new", reason))
        else:
            out.append(_compare(base, row, margin))
    names = {row.name for row in current.rows}
    for row in baseline.rows:
        if row.name not in names:
            reason = f"{row.name}: only in the baseline (not in this spec any more)"
            out.append(Comparison(row.name, row.figure_name, "-", "-", "-", "-", "dropped", reason))
    unlike = _unlike(baseline.fingerprint, current.fingerprint)
    if unlike:  # the figures may be right, but they are not of the same thing
        out = [_not_vouched(c, unlike) for c in out]
    out += _capacity(baseline, current, margins, used, where)
    unused = sorted(set(margins) - used)
    if unused:
        known = sorted({r.name for r in current.rows} | {r.type for r in current.rows})
        raise ConfigError(
            f"{where}: {', '.join(unused)} matches no objective "
            f"(names and types: {', '.join(known)}; or pNN for a latency percentile; "
            f"{CAPACITY} needs a capacity search in both reports)"
        )
    return RegressionResult(baseline.path, tuple(out))


def _unlike(base: Fingerprint | None, now: Fingerprint | None) -> str:
    """What is known to differ between two fingerprints ("" when nothing is, or one lacks)."""
    return "" if base is None or now is None else ", ".join(differences(base, now)[0])


def _not_vouched(c: Comparison, unlike: str) -> Comparison:
    if c.verdict not in ("ok", "regressed"):
        return c
    why = f"{c.name}: cannot be vouched for: measured differently ({unlike}); "
    return dataclasses.replace(c, verdict="error", reason=why + c.reason.split(": ", 1)[-1])


def _capacity(
    baseline: Report, current: Report, margins: Mapping[str, Margin], used: set[str], where: str
) -> list[Comparison]:
    """The capacity row: judged when both reports have a search, else shown (or an error when
    ``capacity=N%`` asked for a comparison one report cannot give)."""
    if baseline.capacity is None and current.capacity is None:
        return []
    used.add(CAPACITY)
    asked = margins.get(CAPACITY)
    if asked is not None and asked.unit != "%":
        raise ConfigError(
            f"{where}: {CAPACITY}={asked.text[1:]}: capacity takes a relative drop, e.g. "
            f"{CAPACITY}=10%"
        )
    margin = asked or Margin(0.10, "%", "+10%")
    allowed = f"-{margin.amount * 100:g}%"
    if baseline.capacity is None or current.capacity is None:
        side = "baseline" if baseline.capacity is None else "current report"
        verdict: Literal["error", "new", "dropped"] = (
            "error" if asked else "new" if baseline.capacity is None else "dropped"
        )
        reason = f"{CAPACITY}: the {side} has no capacity search" + (
            f", so {CAPACITY}={asked.text[1:]} cannot be checked" if asked else ""
        )
        return [Comparison(CAPACITY, "knee low", "-", "-", "-", allowed, verdict, reason)]
    got = compare_capacity(
        baseline.capacity,
        current.capacity,
        margin.amount,
        (baseline.fingerprint, current.fingerprint),
    )
    return [
        Comparison(CAPACITY, "knee low", f"{got.baseline} req/s", f"{got.current} req/s",
                   got.change, allowed, got.verdict, got.reason)
    ]  # fmt: skip
