"""linkcheck against a real redis-server and a tiny local upstream, over real HTTP.

    .venv/bin/pip install -r examples/linkcheck/requirements.txt
    .venv/bin/pytest examples/linkcheck/tests/test_service.py

Starts redis-server (Debian's; on PATH), a stand-in for the status API (an http.server thread
whose status and delay the tests set) and ``python -m linkcheck`` under uvicorn, each on a
free 127.0.0.1 port; all are stopped at the end of the module, also when a test fails. The
tests run in file order: the last one stops Redis.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

EXAMPLE = Path(__file__).resolve().parents[1]
CHECK = "/v1/links/{link_id}"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, ready: Callable[[], bool], timeout_s: float, log: Path | None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise AssertionError(f"{what} not ready within {timeout_s:g}s\n{tail}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate our own child by PID; kill it if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)


# ---------------------------------------------------------------- redis-server


class RedisServer:
    """A redis-server child on a fixed port, which the tests can stop and start again."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make setup installs it)"
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        wait_for("redis-server", self._pong, START_TIMEOUT_S, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


# ---------------------------------------------------------------- the upstream stand-in


@dataclass
class Upstream:
    """What GET /status/... answers: ``status`` after ``delay_s``; counts requests by path."""

    status: int = 200
    delay_s: float = 0.0
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, status: int = 200, delay_s: float = 0.0) -> None:
        with self.lock:
            self.status, self.delay_s = status, delay_s

    def answer(self, path: str) -> tuple[int, float]:
        with self.lock:
            self.hits[path] += 1
            return self.status, self.delay_s


def serve_upstream(state: Upstream) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not self.path.startswith("/status/"):
                self.send_error(404)
                return
            status, delay_s = state.answer(self.path)
            time.sleep(delay_s)
            link = self.path.removeprefix("/status/")
            body = json.dumps({"id": link, "state": "ok" if status < 400 else "error"}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout is shorter than our delay)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="upstream", daemon=True).start()
    return server


# ---------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Stack:
    url: str
    redis: RedisServer
    upstream: Upstream
    log: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("linkcheck")
    redis = RedisServer(free_port(), tmp / "redis.log")
    state = Upstream()
    server = serve_upstream(state)
    service: subprocess.Popen[bytes] | None = None
    try:
        redis.start()
        port = free_port()
        env = {
            **os.environ,
            "LINKCHECK_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
            "LINKCHECK_UPSTREAM_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "LINKCHECK_UPSTREAM_TIMEOUT_S": "1.0",
            "LINKCHECK_PROBE_TIMEOUT_S": "0.5",
            "LINKCHECK_PROBE_INTERVAL_S": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log = tmp / "linkcheck.log"
        argv = [sys.executable, "-m", "linkcheck", "--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as out:
            service = subprocess.Popen(
                argv, cwd=EXAMPLE, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert service is not None
            if service.poll() is not None:
                raise AssertionError(f"linkcheck exited {service.returncode}: {log.read_text()}")
            try:
                httpx.get(f"{url}/healthz", timeout=1.0)
            except httpx.HTTPError:
                return False
            return True

        wait_for("linkcheck", answers, START_TIMEOUT_S, log)
        yield Stack(url, redis, state, log)
    finally:
        if service is not None:
            stop(service)
        server.shutdown()
        server.server_close()
        redis.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    stack.upstream.set()
    with httpx.Client(base_url=stack.url, timeout=10.0) as c:
        yield c
    stack.upstream.set()


# ---------------------------------------------------------------- metrics helpers


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics by (name, labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_total(client: httpx.Client, status: str, handler: str = CHECK) -> float:
    return value(
        scrape(client), "http_requests_total", handler=handler, method="GET", status=status
    )


def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


# ---------------------------------------------------------------- tests


def test_healthz_reports_every_dependency_ok(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["dependencies"]) == {"redis", "upstream"}
    assert all(dep["ok"] is True for dep in body["dependencies"].values()), body


def test_check_calls_the_upstream_every_time_and_stores_the_result(
    client: httpx.Client, stack: Stack
) -> None:
    before = stack.upstream.hits["/status/link-0001"]
    for _ in range(3):
        response = client.get("/v1/links/link-0001")
        assert response.status_code == 200, response.text
        assert response.json()["stored"] is True
    assert stack.upstream.hits["/status/link-0001"] == before + 3  # no cache in front
    last = client.get("/v1/links/link-0001/last")
    assert last.status_code == 200
    assert last.json()["id"] == "link-0001"
    assert client.get("/v1/links/never-checked/last").status_code == 404


def test_metrics_are_the_instrumentators_with_the_slo_bucket(client: httpx.Client) -> None:
    assert client.get("/v1/links/link-0002").status_code == 200
    samples = scrape(client)
    assert value(samples, "http_requests_total", handler=CHECK, method="GET", status="2xx") >= 1
    for le in ("0.2", "0.25", "+Inf"):
        bucket = value(
            samples, "http_request_duration_seconds_bucket", handler=CHECK, method="GET", le=le
        )
        assert bucket >= 1, f"no http_request_duration_seconds bucket le={le}"
    assert value(samples, "http_request_duration_highr_seconds_bucket", le="0.2") >= 1
    assert value(samples, "linkcheck_dependency_up", dependency="redis") == 1.0
    assert value(samples, "linkcheck_dependency_up", dependency="upstream") == 1.0
    handlers = {
        dict(labels).get("handler") for name, labels in samples if name == "http_requests_total"
    }
    assert "/healthz" not in handlers and "/metrics" not in handlers, handlers


def test_upstream_5xx_is_a_counted_5xx(client: httpx.Client, stack: Stack) -> None:
    errors_before = requests_total(client, "5xx")
    stack.upstream.set(status=503)
    codes = [client.get(f"/v1/links/link-{n:04d}").status_code for n in range(10, 15)]
    assert codes == [502] * 5
    assert requests_total(client, "5xx") == errors_before + 5
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["dependencies"]["upstream"]["ok"] is False
    assert health.json()["dependencies"]["upstream"]["status_code"] == 503


def test_upstream_delay_is_service_latency(client: httpx.Client, stack: Stack) -> None:
    def bucket(le: str) -> float:
        return value(
            scrape(client),
            "http_request_duration_seconds_bucket",
            handler=CHECK,
            method="GET",
            le=le,
        )

    fast_before, all_before = bucket("0.25"), bucket("+Inf")
    stack.upstream.set(delay_s=0.4)
    start = time.perf_counter()
    response = client.get("/v1/links/link-0020")
    elapsed = time.perf_counter() - start
    assert response.status_code == 200
    assert elapsed >= 0.4
    assert bucket("0.25") == fast_before  # the slow request is above 0.25 s ...
    assert bucket("+Inf") == all_before + 1  # ... and counted
    # Slower than the 1 s upstream timeout (set by the fixture): 504, in about 1 s.
    stack.upstream.set(delay_s=1.5)
    start = time.perf_counter()
    response = client.get("/v1/links/link-0021")
    assert response.status_code == 504, response.text
    assert 0.9 <= time.perf_counter() - start < 1.5


def test_redis_stopped_turns_healthz_and_the_gauge_red_then_recovers(
    client: httpx.Client, stack: Stack
) -> None:
    stack.redis.stop()
    try:
        health = client.get("/healthz")
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["status"] == "degraded"
        assert body["dependencies"]["redis"]["ok"] is False
        assert body["dependencies"]["upstream"]["ok"] is True
        # the background prober keeps the gauge current even without /healthz calls
        assert eventually(
            lambda: value(scrape(client), "linkcheck_dependency_up", dependency="redis") == 0.0
        )
        check = client.get("/v1/links/link-0030")
        assert check.status_code == 200 and check.json()["stored"] is False
        assert client.get("/v1/links/link-0030/last").status_code == 503
    finally:
        stack.redis.start()
    assert eventually(lambda: client.get("/healthz").status_code == 200)
    assert eventually(
        lambda: value(scrape(client), "linkcheck_dependency_up", dependency="redis") == 1.0
    )


def test_the_service_logged_no_traceback(stack: Stack) -> None:
    text = stack.log.read_text(errors="replace")
    assert not re.search(r"^Traceback", text, re.MULTILINE), text[-3000:]
