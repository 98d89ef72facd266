"""A run's results, pushed to a Pushgateway: the synthetic runs are monitored like a service.

Why push: a nightly run is a batch job, gone before any scrape. It leaves its verdict in the
Pushgateway (one group per environment, replaced by every run: a check that is gone is gone),
Prometheus scrapes it with ``honor_labels``, and a project's rules alert when the last run
failed or when no run has reported for a day.

Metrics (job ``synthmon``, grouping label ``instance``):

* ``synthmon_check_success{check}`` 1/0 per check that ran (a skipped check has no sample:
  it neither passed nor failed), ``synthmon_check_duration_seconds{check}`` its call time;
* ``synthmon_run_checks{outcome}`` how many passed, failed, skipped;
* ``synthmon_slo_measured_value{objective,type}`` (absent when nothing was measured: no data
  is not zero), ``synthmon_slo_threshold{objective,type}``,
  ``synthmon_slo_verdict{objective,verdict}`` 1 for the verdict, 0 for the others;
* after a capacity search: ``synthmon_capacity_knee_low_rps``/``_high_rps``,
  ``synthmon_capacity_at_least``, ``synthmon_capacity_generator_bound``,
  ``synthmon_capacity_steps``;
* ``synthmon_run_success`` 1 only if checks ran, none failed and the SLOs held;
* ``synthmon_last_run_timestamp_seconds`` and ``synthmon_run_duration_seconds``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from synthmon.clients import ClientConfig, client_config
from synthmon.errors import PushError, SynthmonError
from synthmon.http_errors import json_of, send
from synthmon.masking import hide_password
from synthmon.slo.regression import ReportRow, read_report

if TYPE_CHECKING:
    from synthmon.settings import Settings
    from synthmon.stack import Stack

JOB = "synthmon"
Outcome = Literal["passed", "failed", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "skipped")
VERDICTS = ("pass", "fail", "error")


@dataclass
class CheckResult:
    """One check's outcome over its setup, call and teardown."""

    outcome: Outcome = "passed"
    duration_s: float = 0.0


@dataclass
class RunRecorder:
    """Each check's outcome, from pytest's reports (setup, call, teardown), in run order."""

    checks: dict[str, CheckResult] = field(default_factory=dict)

    def record(self, check: str, when: str, outcome: str, duration_s: float) -> None:
        """A failed phase fails the check; a skipped setup or call skips it."""
        result = self.checks.setdefault(check, CheckResult())
        if when == "call":
            result.duration_s = duration_s
        if outcome == "failed":
            result.outcome = "failed"
        elif outcome == "skipped" and result.outcome != "failed":
            result.outcome = "skipped"

    def counts(self) -> dict[Outcome, int]:
        return {o: sum(r.outcome == o for r in self.checks.values()) for o in OUTCOMES}


@dataclass(frozen=True)
class RunSummary:
    """What is pushed: the checks, the SLO rows (if a gate ran) and the run's verdict."""

    checks: Mapping[str, CheckResult]
    slo: tuple[ReportRow, ...]
    exit_status: int
    started: float
    finished: float
    capacity: Mapping[str, Any] | None = None  # slo-report.json's ``capacity`` (a search ran)

    @property
    def success(self) -> bool:
        """No data is never success: a run that passed nothing did not pass."""
        outcomes = [r.outcome for r in self.checks.values()]
        return (
            self.exit_status == 0
            and "passed" in outcomes
            and "failed" not in outcomes
            and all(row.verdict == "pass" for row in self.slo)
        )


def build_registry(summary: RunSummary) -> CollectorRegistry:
    """The run as Prometheus metrics in a private registry (never the process-wide one)."""
    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, doc: str, labels: Iterable[str] = ()) -> Gauge:
        return Gauge(name, doc, list(labels), registry=registry)

    success = gauge("synthmon_check_success", "1 if the check passed, 0 if it failed", ["check"])
    duration = gauge("synthmon_check_duration_seconds", "the check's call time", ["check"])
    for check, result in summary.checks.items():
        if result.outcome == "skipped":
            continue
        success.labels(check).set(1 if result.outcome == "passed" else 0)
        duration.labels(check).set(result.duration_s)
    counts = gauge("synthmon_run_checks", "checks of the run by outcome", ["outcome"])
    for outcome in OUTCOMES:
        counts.labels(outcome).set(sum(r.outcome == outcome for r in summary.checks.values()))
    measured = gauge(
        "synthmon_slo_measured_value", "what the SLO gate measured", ["objective", "type"]
    )
    threshold = gauge("synthmon_slo_threshold", "the objective's threshold", ["objective", "type"])
    verdict = gauge(
        "synthmon_slo_verdict",
        "1 for the objective's verdict, 0 otherwise",
        ["objective", "verdict"],
    )
    for row in summary.slo:
        if row.measured is not None and math.isfinite(row.measured):
            measured.labels(row.name, row.type).set(row.measured)
        threshold.labels(row.name, row.type).set(row.threshold)
        for name in VERDICTS:
            verdict.labels(row.name, name).set(1 if row.verdict == name else 0)
    if summary.capacity is not None:
        _capacity_gauges(gauge, summary.capacity)
    gauge("synthmon_run_success", "1 if the run passed").set(1 if summary.success else 0)
    gauge("synthmon_last_run_timestamp_seconds", "when the run ended").set(summary.finished)
    gauge("synthmon_run_duration_seconds", "how long the run took").set(
        max(0.0, summary.finished - summary.started)
    )
    return registry


def _capacity_gauges(gauge: Callable[..., Gauge], capacity: Mapping[str, Any]) -> None:
    """The knee (absent bounds have no sample: unknown is not zero), "at least", whether
    the generator was the limit, and the number of steps."""
    knee = capacity.get("knee") or {}
    for bound in ("low", "high"):
        value = knee.get(bound)
        if isinstance(value, int | float) and math.isfinite(value):
            gauge(f"synthmon_capacity_knee_{bound}_rps", f"capacity search: knee {bound}").set(
                value
            )
    gauge("synthmon_capacity_at_least", "1 if the knee is only a lower bound").set(
        1 if knee.get("at_least") else 0
    )
    gauge("synthmon_capacity_generator_bound", "1 if the generator was the limit").set(
        1 if capacity.get("generator_bound") else 0
    )
    gauge("synthmon_capacity_steps", "steps of the capacity search").set(
        len(capacity.get("steps") or ())
    )


Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]


def _handler(config: ClientConfig, gateway: str) -> Handler:
    """push_to_gateway's transport, over httpx with the stack's TLS trust, one-line errors
    naming the ``gateway`` URL (PushError)."""

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send_push() -> None:
            with config.httpx_client(timeout or 30.0) as client:
                send(
                    client,
                    "Pushgateway",
                    method,
                    url,
                    base_url=gateway,
                    error=PushError,
                    headers=headers,
                    content=data,
                )

        return send_push

    return handler


def push(
    url: str,
    registry: CollectorRegistry,
    instance: str,
    config: ClientConfig | None = None,
    timeout: float = 10.0,
) -> None:
    """Replace the group ``job=synthmon, instance=<instance>`` with ``registry``'s metrics.

    The Pushgateway gets the stack's TLS trust but never its credentials (another service).
    """
    transport = (config or ClientConfig()).without_auth()
    push_to_gateway(
        url,
        job=JOB,
        registry=registry,
        grouping_key={"instance": instance},
        timeout=timeout,
        handler=_handler(transport, url),
    )


def delete(url: str, instance: str, config: ClientConfig | None = None) -> None:
    """Remove a group (a test cleaning up after itself)."""
    from prometheus_client import delete_from_gateway

    transport = (config or ClientConfig()).without_auth()
    delete_from_gateway(
        url,
        job=JOB,
        grouping_key={"instance": instance},
        handler=_handler(transport, url),
    )


def pushed_metrics(url: str, instance: str, timeout: float = 5.0) -> dict[str, Any]:
    """The metric families the Pushgateway holds for our group (``/api/v1/metrics``)."""
    base = url.rstrip("/")
    with httpx.Client(timeout=timeout) as client:
        response = send(client, "Pushgateway", "GET", f"{base}/api/v1/metrics", base_url=base)
    for group in json_of("Pushgateway", base, response).get("data", []):
        labels = group.get("labels", {})
        if labels.get("job") == JOB and labels.get("instance") == instance:
            return {k: v for k, v in group.items() if isinstance(v, dict) and "metrics" in v}
    return {}


# -- the pytest side ---------------------------------------------------------------------------


def _capacity_of(path: Path | None) -> Mapping[str, Any] | None:
    """The ``capacity`` key of slo-report.json, if a capacity search wrote one."""
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = doc.get("capacity") if isinstance(doc, dict) else None
    return found if isinstance(found, dict) else None


class PushResults:
    """Records each check's outcome; at session end pushes the run to ``--pushgateway-url``.

    Registered only when a Pushgateway is configured, and not in xdist workers: the
    controller sees every worker's reports and pushes once.
    """

    def __init__(
        self, config: pytest.Config, settings: Settings, stack_of: Callable[[], Stack | None]
    ) -> None:
        self.config, self.settings, self.stack_of = config, settings, stack_of
        self.recorder = RunRecorder()
        self.started = time.time()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.recorder.record(report.nodeid, report.when, report.outcome, report.duration)

    def _slo_report(self) -> Path | None:
        """This session's slo-report.json: in its stack's run directory, or (xdist: the
        stacks were the workers') the newest one written under --run-dir since the start."""
        stack = self.stack_of()
        if stack is not None:
            path = stack.run_dir / "slo-report.json"
            return path if path.is_file() else None
        found = [
            p
            for p in self.settings.run_dir.glob("*/slo-report.json")
            if p.stat().st_mtime >= self.started
        ]
        return max(found, key=lambda p: p.stat().st_mtime, default=None)

    def _instance(self) -> str:
        stack = self.stack_of()
        target = self.settings.target_url or (stack.app_url if stack else None)
        netloc = urlsplit(target).netloc.rpartition("@")[2] if target else ""
        return self.settings.push_instance or netloc or "synthmon"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        url = self.settings.pushgateway_url
        assert url is not None  # registered only with one
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")

        def write(text: str, **markup: bool) -> None:
            if reporter is not None:
                reporter.write_line(text, **markup)  # on a line of its own

        try:
            path = self._slo_report()
            summary = RunSummary(
                checks=self.recorder.checks,
                slo=read_report(path).rows if path else (),
                exit_status=int(session.exitstatus),
                started=self.started,
                finished=time.time(),
                capacity=_capacity_of(path),
            )
            instance = self._instance()
            push(url, build_registry(summary), instance, client_config(self.settings))
        except SynthmonError as exc:
            write(f"synthmon: results NOT pushed: {exc}", red=True)
            if session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        counts = self.recorder.counts()
        write(
            f"synthmon: pushed {sum(counts.values())} checks ({counts['passed']} passed, "
            f"{counts['failed']} failed, {counts['skipped']} skipped), {len(summary.slo)} SLO "
            f"objectives and run_success={int(summary.success)} to {hide_password(url)} "
            f"(job={JOB}, instance={instance})"
        )
