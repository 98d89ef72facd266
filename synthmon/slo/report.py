"""The SLO gate's result: rows, an overall verdict, an exit code, JSON and a text table.

Exit code: any objective that could not be evaluated -> 2 (the gate cannot vouch for the
service, whatever else passed or failed), else any violated -> 1, else 0. "Could not
evaluate" beats "violated" because an unevaluated objective may hide a worse violation, and
a CI step must not read "1, known violation" when part of the gate never ran.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from synthmon.fingerprint import Fingerprint
from synthmon.slo.client import ClientStats
from synthmon.slo.exemplar_model import ObjectiveExemplars
from synthmon.slo.promql import number

Verdict = Literal["pass", "fail", "error"]
EXIT_CODES: Mapping[str, int] = {"pass": 0, "fail": 1, "error": 2}
Detail = float | int | str | None


@dataclass(frozen=True)
class ObjectiveResult:
    """One objective's row: what was measured against what, the verdict, why, and the PromQL."""

    name: str
    type: str
    verdict: Verdict
    measured: float | None
    threshold: float
    measured_text: str
    threshold_text: str
    reason: str
    promql: tuple[str, ...] = ()
    endpoint: str | None = None
    details: Mapping[str, Detail] = field(default_factory=dict)


def _iso(ts: float) -> str:
    """ISO 8601 UTC, with milliseconds only when the instant has them."""
    moment = datetime.fromtimestamp(ts, UTC)
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(value: Detail) -> Detail:
    """JSON has no NaN/Infinity: they become strings rather than invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass(frozen=True)
class SLOReport:
    """The whole gate: per-objective rows over one window of one Prometheus."""

    service: str
    spec_path: str
    prometheus_url: str
    start: float
    end: float
    results: tuple[ObjectiveResult, ...]
    client: ClientStats | None = None
    #: the machine, profile and spec the figures were measured with (a regression compares
    #: only reports with the same one; see synthmon.fingerprint)
    fingerprint: Fingerprint | None = None
    #: the slow requests behind each latency objective (synthmon.slo.exemplars); () = not asked
    exemplars: tuple[ObjectiveExemplars, ...] = ()

    @property
    def verdict(self) -> Verdict:
        verdicts = {r.verdict for r in self.results}
        if "error" in verdicts or not self.results:
            return "error"
        return "fail" if "fail" in verdicts else "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, object]:
        rows = []
        for r in self.results:
            row = asdict(r)
            row["promql"] = list(r.promql)
            row["details"] = {k: _clean(v) for k, v in r.details.items()}
            row["measured"] = _clean(r.measured)
            rows.append(row)
        return {
            "service": self.service,
            "spec": self.spec_path,
            "prometheus_url": self.prometheus_url,
            "window": {
                "start": self.start,
                "end": self.end,
                "seconds": round(self.end - self.start, 3),
                "start_iso": _iso(self.start),
                "end_iso": _iso(self.end),
            },
            "fingerprint": None if self.fingerprint is None else self.fingerprint.to_dict(),
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "client": None if self.client is None else asdict(self.client),
            "objectives": rows,
            "exemplars": [e.to_dict() for e in self.exemplars],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON (``slo-report.json``); written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def render_table(self, show_promql: bool = False, show_exemplars: bool = True) -> str:
        """A plain-text table, one row per objective, reasons wrapped under it; then the
        latency objectives' exemplars (when asked for)."""
        head = ("OBJECTIVE", "VERDICT", "MEASURED", "THRESHOLD")
        rows = [
            (r.name, r.verdict.upper(), r.measured_text, r.threshold_text) for r in self.results
        ]
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(4)]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        out = [
            f"SLO gate: {self.service} ({self.spec_path}) on {self.prometheus_url}",
            f"window: {_iso(self.start)} .. {_iso(self.end)} ({number(self.end - self.start)} s)",
            "",
            line(head),
            line(tuple("-" * w for w in widths)),
        ]
        for result, row in zip(self.results, rows, strict=True):
            out.append(line(row))
            out.append(f"    {result.reason}")
            if show_promql:
                out.extend(f"    promql: {q}" for q in result.promql)
        out += ["", f"verdict: {self.verdict.upper()} (exit {self.exit_code})"]
        if show_exemplars:
            out += [line for e in self.exemplars for line in ("", e.render())]
        return "\n".join(out) + "\n"
