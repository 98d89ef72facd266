"""The runbook's tracing, for real: the OpenTelemetry Collector's health (``curl :13133/``)
and a synthetic request to the target becoming a trace in Jaeger with the expected spans.

The collector is Jaeger v2 (an OpenTelemetry Collector distribution) on a stack synthmon runs;
an external stack names it with ``--otel-url`` and Jaeger with ``--jaeger-url``. The expected
spans are the project file's ``telemetry.trace_checks``. Jaeger is read through ``/api/v3``
(synthmon.traces.jaeger says why).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import httpx
import pytest

from synthmon import evidence
from synthmon.project import Project
from synthmon.settings import Settings
from synthmon.stack import Stack
from synthmon.traces.expect import TraceCheck, describe
from synthmon.traces.jaeger import JaegerClient
from synthmon.traces.pipeline import (
    COLLECTOR,
    SCHEDULE_DELAY,
    Pipeline,
    TraceCheckFailed,
    collector_problem,
    schedule_delay_s,
    trace_deadline_s,
)
from synthmon.traces.pipeline import traced_request as _traced_request

pytestmark = pytest.mark.traces


def _health_url(stack: Stack, settings: Settings) -> str | None:
    """The stack's collector health URL, else ``--otel-url`` (an external stack)."""
    return stack.otel_health_url or settings.otel_url


def _target_env(project: Project) -> Mapping[str, str]:
    spec = next((s for s in project.services if s.name == project.target), None)
    return spec.env if spec is not None else {}


def _trace_checks(project: Project) -> tuple[TraceCheck, ...]:
    return project.telemetry.trace_checks if project.telemetry is not None else ()


@pytest.mark.health
def test_collector_is_healthy(
    stack: Stack, synthmon_settings: Settings, http: httpx.Client
) -> None:
    url = _health_url(stack, synthmon_settings)
    if url is None:
        pytest.skip(f"not configured: no collector here; set {synthmon_settings.where('otel_url')}")
    with evidence.step(f"Check {COLLECTOR}: GET {url}"):
        problem = collector_problem(http, url)
        if problem is not None:
            pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="module")
def pipeline(stack: Stack, project: Project, synthmon_settings: Settings) -> Iterator[Pipeline]:
    jaeger_url = stack.jaeger_url or synthmon_settings.jaeger_url
    telemetry = project.telemetry
    if jaeger_url is None or telemetry is None:
        pytest.skip("not configured: no Jaeger (the project has no `telemetry:` / --jaeger-url)")
    env = _target_env(project)
    delay = stack.telemetry_delay_s
    why = (
        f"{SCHEDULE_DELAY} {schedule_delay_s(env):g} s + the stack's telemetry delay "
        f"{delay:g} s + margin"
    )
    with httpx.Client(timeout=5) as client:
        yield Pipeline(
            JaegerClient(jaeger_url, client),
            telemetry.service_name,
            _health_url(stack, synthmon_settings),
            trace_deadline_s(env, delay),
            why,
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per ``telemetry.trace_checks`` entry, its id the request."""
    if "trace_check" in metafunc.fixturenames:
        from synthmon.plugin import settings_of

        project = settings_of(metafunc.config).project
        checks = _trace_checks(project) if project is not None else ()
        metafunc.parametrize(
            "trace_check", checks or [None], ids=[c.request for c in checks] or ["none"]
        )


def test_request_produces_a_trace_with_the_expected_spans(
    trace_check: TraceCheck | None, stack: Stack, pipeline: Pipeline, http: httpx.Client
) -> None:
    """Deadline: the target's OTEL_BSP_SCHEDULE_DELAY (its env; the SDK's 5 s when unset) +
    Stack.telemetry_delay_s (the collector's batch timeout, storage) + 5 s margin."""
    if trace_check is None:
        pytest.skip("not configured: the project file has no `telemetry.trace_checks`")
    with evidence.step(
        f"{trace_check.request} -> a trace in Jaeger within {pipeline.deadline_s:g} s"
    ):
        try:
            trace = _traced_request(http, stack.app_url, trace_check, pipeline)
        except TraceCheckFailed as exc:
            pytest.fail(str(exc), pytrace=False)
        evidence.attach_text(f"trace {trace.trace_id}", describe(trace, limit=100))
