"""Link faults through the fault proxy, on a real processes stack: the stack puts the proxy
between a service and the dependency a scenario names, only that service is pointed at it, a
toxic on the link is seen by the service (and by nothing else) and is gone after; a stack whose
scenarios name no link starts no proxy, and a link fault there is a clear StackError."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthmon.errors import StackError
from synthmon.faults import Faults
from synthmon.project import LinkFault
from synthmon.projectfile import load_project
from synthmon.settings import Settings
from synthmon.stack import Stack
from synthmon.stack.embedded import FAULT_PROXY, Context, port_names
from synthmon.stack.processes import ProcessRunner
from synthmon.stack.stack import _services, embedded_stack, new_run_dir
from tests._programs import require

# A service that times one Redis round trip (PING) over the address it was given, and serves
# /metrics so Prometheus has a job to scrape.
PROBE = """
import json, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, redis_port = int(sys.argv[1]), int(sys.argv[2])

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ping":
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", redis_port), timeout=5) as sock:
                sock.sendall(b"PING\\r\\n")
                answer = sock.recv(64)
            body = json.dumps({"ms": (time.monotonic() - start) * 1000,
                               "answer": answer.decode(), "port": redis_port}).encode()
        else:
            body = b"probe_up 1\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

PROJECT = """
name: links
services:
  redis: {kind: redis}
  probe:
    kind: command
    command: ["${python}", "${project}/probe.py", "${self.port}", "${redis.port}"]
    health_path: /metrics
    depends_on: [redis]
target: probe
monitoring: {prometheus_yml: prometheus.yml, rules: rules, alertmanager_yml: alertmanager.yml}
scrape_jobs: [probe, prometheus]
"""
SLOW = """
scenarios:
  ProbeSlow:
    cause: +300 ms on the Redis link
    faults: [{link: {to: redis, toxic: latency, latency: 300, jitter: 0}}]
"""
FILES = {
    "probe.py": PROBE,
    "prometheus.yml": "scrape_configs:\n  - job_name: probe\n    static_configs:\n"
    "      - targets: ['probe:8080']\n",
    "rules/probe.yml": textwrap.dedent("""\
        groups:
          - name: probe
            rules:
              - alert: ProbeSlow
                expr: probe_up == 0
        """),
    "alertmanager.yml": "route: {receiver: nobody}\nreceivers: [{name: nobody}]\n",
}
SLOW_FAULT = LinkFault("redis", "latency", "probe", attributes={"latency": 300, "jitter": 0})


def _project_dir(root: Path, scenarios: str) -> Path:
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "synthmon.yaml").write_text(PROJECT + scenarios)
    return root


def _settings(project: Path, base: Path) -> Settings:
    values = {"project": str(project), "stack": "processes", "run_dir": str(base)}
    return Settings.from_values(lambda o: values.get(o.name), {})


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One processes stack whose scenario names the probe → redis link (torn down after)."""
    for program in ("redis-server", "prometheus", "prometheus-alertmanager"):
        require(program)
    base = tmp_path_factory.mktemp("links")
    settings = _settings(_project_dir(base / "project", SLOW), base / "runs")
    base.joinpath("runs").mkdir()
    with embedded_stack(settings, new_run_dir(base / "runs")) as stack:
        yield stack


def _ping(stack: Stack) -> dict[str, object]:
    answer = httpx.get(f"{stack.app_url}/ping", timeout=10).json()
    assert answer["answer"].startswith("+PONG"), answer
    return dict(answer)


def test_the_linked_service_reaches_its_dependency_through_the_proxy(linked: Stack) -> None:
    assert linked.fault_proxy_url is not None
    assert linked.runner is not None and linked.runner.is_running(FAULT_PROXY)
    redis_port = int(linked.urls["redis"].rsplit(":", 1)[1].split("/")[0])
    seen = _ping(linked)
    assert seen["port"] != redis_port, "the probe must be pointed at the proxy, not at redis"
    with httpx.Client() as client:  # the proxy's upstream is redis's real port
        proxies = client.get(f"{linked.fault_proxy_url}/proxies").json()
    assert proxies["probe-redis"]["upstream"] == f"127.0.0.1:{redis_port}", proxies


def test_a_latency_toxic_on_the_link_is_seen_by_the_service_and_removed_after(
    linked: Stack,
) -> None:
    before = float(str(_ping(linked)["ms"]))
    assert before < 150, f"a healthy Redis round trip took {before:.0f} ms"
    with Faults(linked) as faults, faults.apply(SLOW_FAULT):
        slow = float(str(_ping(linked)["ms"]))
        assert slow >= 290, f"with +300 ms on the link a round trip took only {slow:.0f} ms"
    after = float(str(_ping(linked)["ms"]))
    assert after < 150, f"the toxic was not removed: a round trip took {after:.0f} ms after"


def test_a_link_the_proxy_does_not_carry_is_a_clear_error(linked: Stack) -> None:
    other = LinkFault("redis", "down", "worker")
    with Faults(linked) as faults, pytest.raises(StackError) as caught:
        faults.apply(other).__enter__()
    assert "fault link worker -> redis" in str(caught.value)
    assert "no proxy 'worker-redis' (have: probe-redis)" in str(caught.value)


def test_a_stack_without_links_starts_no_proxy(tmp_path: Path) -> None:
    settings = _settings(_project_dir(tmp_path / "project", ""), tmp_path / "runs")
    project = settings.project
    assert project is not None and not project.links()
    assert not any(name.startswith(FAULT_PROXY) for name in port_names(project))
    ctx = Context(project, dict.fromkeys(port_names(project), 9), {})
    services, _ = _services(settings, ctx, ProcessRunner(tmp_path / "run", 5))
    assert FAULT_PROXY not in [s.name for s in services]
    stack = Stack("processes", tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9",
                  project=project, runner=ProcessRunner(tmp_path / "run", 5))  # fmt: skip
    with Faults(stack) as faults, pytest.raises(StackError, match="has no fault proxy"):
        faults.apply(SLOW_FAULT).__enter__()


def test_the_proxy_starts_right_before_the_first_linked_service(tmp_path: Path) -> None:
    settings = _settings(_project_dir(tmp_path / "project", SLOW), tmp_path / "runs")
    project = load_project(tmp_path / "project")
    ctx = Context(project, dict.fromkeys(port_names(project), 9), {})
    services, _ = _services(settings, ctx, ProcessRunner(tmp_path / "run", 5))
    names = [s.name for s in services]
    assert names[: names.index("probe") + 1] == ["redis", FAULT_PROXY, "probe"], names
