"""SLO gate: a spec file, exact evaluation over one window, a report, an exit code.

Pipeline: :func:`load_spec` (``slo/baseline.yaml``, strict) -> :func:`evaluate` (PromQL from
:mod:`.promql`, counts from :mod:`.counters`, verdicts from :mod:`.decide`) -> :class:`SLOReport`
(table, ``slo-report.json``, exit code 0 pass / 1 violated / 2 could not evaluate).

Metric and label names come from the spec's optional ``metrics:`` block (:class:`SLOMetrics`:
``request_counter``, ``duration_histogram``, ``status_label``, ``error_status``,
``endpoint_label``, ``cpu_counter``, ``memory_rss``, ``memory_limit``); every default is the
reference app's name, ``error_status`` defaults to ``5..`` (a fully anchored regex on the
status label's value), and null means "not exported" (an objective needing it is a spec error).

Decisions, each explained where it is implemented:

* Window: ``(start, end)`` unix seconds to the millisecond, queried at those exact instants
  (range selectors use the length rounded up to whole seconds). Counts are the increments
  *scraped* in (start, end]: the traffic of the window shifted earlier by less than one
  scrape interval (exact in length when the window is a whole number of scrape intervals).
* Counts are exact: counter value at ``end`` minus value at ``start`` per series, reset-aware,
  never ``increase()`` (which extrapolates and drops a new series' first sample).
* Latency is decided from the histogram bucket at the threshold (share of requests <= it vs.
  the percentile); histogram_quantile's interpolated figure is shown for information only.
  Without such a bucket the nearest lower bucket decides (conservative) and the error bound is
  stated.
* Thresholds are inclusive budgets; minimum sample: one bad event must fit the budget
  (20 requests at P95, 100 at a 1% error rate), overridable per objective (``min_requests``).
* No data, too few requests, a query failure: verdict ``error``, never ``pass``.
* Locust figures, when given, are set beside Prometheus's; request counts > 5% apart or error
  rates > 1 point apart fail the objective as a "pipeline disagreement".
"""

from synthmon.slo.client import ClientStats, load_client_stats
from synthmon.slo.evaluate import evaluate
from synthmon.slo.report import ObjectiveResult, SLOReport
from synthmon.slo.spec import Objective, SLOMetrics, SLOSpec, load_spec

__all__ = [
    "ClientStats",
    "Objective",
    "ObjectiveResult",
    "SLOMetrics",
    "SLOReport",
    "SLOSpec",
    "evaluate",
    "load_client_stats",
    "load_spec",
]
