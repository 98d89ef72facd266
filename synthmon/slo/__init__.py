"""SLO gate: a spec file, exact PromQL-backed evaluation over a window, a report, an exit code.

Decisions and their reasons are documented in docs/slo.md and in each module's docstring.
"""

from synthmon.slo.client import ClientStats, load_client_stats
from synthmon.slo.evaluate import evaluate
from synthmon.slo.report import ObjectiveResult, SLOReport
from synthmon.slo.spec import Objective, SLOSpec, load_spec

__all__ = [
    "ClientStats",
    "Objective",
    "ObjectiveResult",
    "SLOReport",
    "SLOSpec",
    "evaluate",
    "load_client_stats",
    "load_spec",
]
