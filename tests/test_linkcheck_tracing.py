"""linkcheck traced for real (FastAPI, Redis and httpx instrumentations) into a real Jaeger v2:
one trace per check with its server, upstream client and Redis spans, no Redis statement text,
and the trace and span IDs at the end of the log lines written inside it."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthmon.waiting import wait_until
from tests._app_stack import Stack, make_root
from tests._otel_backends import Backends, attribute_leaks, by_kind, jaeger_attributes, tags

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "linkcheck"


@pytest.fixture(scope="module")
def linkcheck() -> Iterator[tuple[str, Backends, Path, Stack]]:
    """Jaeger, Redis, the fake status API and linkcheck exporting to Jaeger; all ended by PID."""
    backends, deps = Backends(make_root()), Stack(make_root())
    proc: subprocess.Popen[bytes] | None = None
    try:
        backends.start()
        deps.start_redis()
        routes = EXAMPLE / "upstreams" / "status.yaml"
        deps.spawn(
            "status",
            [sys.executable, "-m", "synthmon.upstream", "--host", "127.0.0.1", "--routes",
             str(routes), "--port", str(deps.github_port)],
        )  # fmt: skip
        env = {
            **os.environ,
            "LINKCHECK_REDIS_URL": f"redis://127.0.0.1:{deps.redis_port}/0",
            "LINKCHECK_UPSTREAM_URL": deps.github_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": backends.otlp_url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        log = deps.root / "linkcheck.log"
        argv = [sys.executable, "-m", "linkcheck", "--port", str(deps.app_port)]
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=EXAMPLE, env=env, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{deps.app_port}"
        wait_until(
            lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
            timeout_s=20, interval_s=0.1, what="linkcheck /healthz", retry_on=(httpx.HTTPError,),
        )  # fmt: skip
        yield url, backends, log, deps
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        deps.teardown()
        backends.stop()


def test_a_link_check_is_traced_with_its_upstream_and_redis_spans(
    linkcheck: tuple[str, Backends, Path, Stack],
) -> None:
    url, backends, _, _ = linkcheck
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    assert httpx.get(f"{url}/v1/links/abc", headers=headers, timeout=5).status_code == 200
    trace = backends.trace(trace_id, want_spans=3)
    groups = by_kind(trace)
    assert [s["operationName"] for s in groups["server"]] == ["GET /v1/links/{link_id}"]
    assert "/status/abc" in str(
        [tags(s).get("url.full") or tags(s).get("http.url") for s in groups["client"]]
    )
    assert [tags(s).get("db.system") for s in groups["redis"]] == ["redis"]
    assert attribute_leaks(jaeger_attributes(trace), {}) == []


def test_a_warning_inside_a_request_ends_with_its_trace_id(
    linkcheck: tuple[str, Backends, Path, Stack],
) -> None:
    """Redis stopped (last test of the module): the check logs that it could not store."""
    url, _, log, deps = linkcheck
    deps.stop("redis")
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    httpx.get(f"{url}/v1/links/abc", headers=headers, timeout=5)
    lines = [line for line in log.read_text().splitlines() if "could not store" in line]
    assert lines and re.search(rf" trace_id={trace_id} span_id=[0-9a-f]{{16}}$", lines[-1]), lines


def test_log_lines_inside_a_span_end_with_its_ids() -> None:
    """The filter itself, in-process: inside a span the IDs, outside nothing."""
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    sys.path.insert(0, str(EXAMPLE))
    try:
        from linkcheck.telemetry import LOG_FORMAT, TraceIds
    finally:
        sys.path.remove(str(EXAMPLE))
    formatter, ids = logging.Formatter(LOG_FORMAT), TraceIds()
    record = logging.LogRecord("linkcheck", logging.WARNING, __file__, 1, "x", None, None)
    ids.filter(record)
    assert formatter.format(record).endswith(" x")
    with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
        ids.filter(record)
        ctx = span.get_span_context()
    expected = f" x trace_id={ctx.trace_id:032x} span_id={ctx.span_id:016x}"
    assert formatter.format(record).endswith(expected)
