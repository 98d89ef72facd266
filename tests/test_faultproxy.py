"""synthmon's fault proxy, measured on real sockets: every toxic against an echo server on
127.0.0.1, the Toxiproxy API's answers, the client's errors and context managers, and the
program (``python -m synthmon.faultproxy``). The measuring helpers are self-tested in
tests/test_selftest_faultproxy.py (each fails when its toxic is absent)."""

from __future__ import annotations

import json
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthmon.errors import StackError
from synthmon.faultproxy import ToxiproxyClient, running
from synthmon.ports import HOST, free_ports
from synthmon.waiting import wait_until
from tests import _programs

REPO = Path(__file__).resolve().parents[1]


class Echo(socketserver.ThreadingTCPServer):
    """Echoes every chunk back and notes when it arrived (the upstream side of a measure)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _EchoHandler)
        self.arrivals: list[float] = []

    @property
    def address(self) -> str:
        return f"{HOST}:{self.server_address[1]}"


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with self.request:
            try:
                while data := self.request.recv(65536):
                    self.server.arrivals.append(time.monotonic())  # type: ignore[attr-defined]
                    self.request.sendall(data)
            except OSError:
                pass


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def api() -> Iterator[str]:
    """A fault proxy in this process (its thread and every proxy closed after)."""
    with running() as url:
        yield url


@pytest.fixture
def client(api: str) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(api) as made:
        yield made


@pytest.fixture
def port(client: ToxiproxyClient, echo: Echo) -> int:
    """The listening port of proxy ``echo`` (to the echo server)."""
    client.create("echo", f"{HOST}:0", echo.address)
    return listen_port(client, "echo")


def listen_port(client: ToxiproxyClient, name: str) -> int:
    return int(client.proxies()[name]["listen"].rpartition(":")[2])


@pytest.fixture
def conn(port: int) -> Iterator[socket.socket]:
    sock = socket.create_connection((HOST, port), timeout=5)
    yield sock
    sock.close()


def round_trip_ms(sock: socket.socket, payload: bytes = b"ping") -> float:
    start = time.monotonic()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the proxy closed the connection during a round trip")
        got += chunk
    return (time.monotonic() - start) * 1000


def pct90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def median_ms(sock: socket.socket, n: int = 11) -> float:
    return statistics.median(round_trip_ms(sock) for _ in range(n))


def assert_added_latency(sock: socket.socket, baseline_ms: float, expected_ms: float) -> None:
    """The median round trip on ``sock`` is ``expected_ms`` (±20 ms) above ``baseline_ms``."""
    added = median_ms(sock) - baseline_ms
    assert abs(added - expected_ms) <= 20, (
        f"expected the proxy to add {expected_ms:g} ms (±20) to a round trip, it added "
        f"{added:.1f} ms (is the latency toxic in place?)"
    )


def assert_rate(port: int, rate_kb_s: int, size: int = 150_000) -> None:
    """Echoing ``size`` bytes through the proxy takes size/rate (±25%)."""
    expected = size / (rate_kb_s * 1000)
    with socket.create_connection((HOST, port), timeout=10) as sock:
        start = time.monotonic()
        sender = threading.Thread(target=sock.sendall, args=(b"x" * size,), daemon=True)
        sender.start()
        got = 0
        while got < size:
            chunk = sock.recv(65536)
            assert chunk, "the proxy closed the connection while streaming"
            got += len(chunk)
        took = time.monotonic() - start
        sender.join(5)
    assert abs(took - expected) <= 0.25 * expected, (
        f"expected {size} bytes at {rate_kb_s} KB/s to take {expected:.2f} s (±25%), "
        f"they took {took:.2f} s (is the bandwidth toxic in place?)"
    )


def assert_reset(sock: socket.socket) -> None:
    """The next round trip on ``sock`` ends in a TCP reset (ECONNRESET), not data or EOF."""
    try:
        round_trip_ms(sock)
    except ConnectionResetError:
        return
    except (ConnectionError, TimeoutError) as exc:
        raise AssertionError(f"expected a connection reset, got {exc!r}") from None
    raise AssertionError("expected a connection reset, the connection still carries data")


def test_latency_added_within_20ms(client: ToxiproxyClient, conn: socket.socket) -> None:
    baseline = median_ms(conn)
    with client.toxic("echo", "latency", latency=100):
        assert_added_latency(conn, baseline, 100)


def test_jitter_stays_within_its_bounds(client: ToxiproxyClient, conn: socket.socket) -> None:
    with client.toxic("echo", "latency", latency=100, jitter=40):
        samples = [round_trip_ms(conn) for _ in range(20)]
    # never below latency - jitter; above latency + jitter only by a busy machine's delay
    assert min(samples) >= 60 - 1 and pct90(samples) <= 140 + 20, samples
    assert max(samples) - min(samples) >= 15, f"no jitter seen: {samples}"


def test_latency_comes_and_goes_on_an_open_connection(
    client: ToxiproxyClient, conn: socket.socket
) -> None:
    before = median_ms(conn)
    with client.toxic("echo", "latency", latency=100):
        assert_added_latency(conn, before, 100)
    assert median_ms(conn) < before + 10, "the latency stayed after its toxic was removed"


def test_upstream_and_downstream_are_told_apart(
    client: ToxiproxyClient, conn: socket.socket, echo: Echo
) -> None:
    """Upstream delays what the server receives; downstream only what the client gets back."""
    for stream, server_delay in (("upstream", 100), ("downstream", 0)):
        with client.toxic("echo", "latency", stream=stream, latency=100):
            start = time.monotonic()
            took = round_trip_ms(conn)
            reached = (echo.arrivals[-1] - start) * 1000
        assert abs(took - 100) <= 20, f"{stream}: round trip {took:.0f} ms"
        assert abs(reached - server_delay) <= 20, f"{stream}: server got it after {reached:.0f} ms"


def test_toxicity_zero_does_nothing(client: ToxiproxyClient, port: int) -> None:
    with (
        client.toxic("echo", "latency", toxicity=0.0, latency=300),
        socket.create_connection((HOST, port), timeout=5) as sock,
    ):
        assert median_ms(sock, 5) < 50


def test_toxicity_is_rolled_per_connection(client: ToxiproxyClient, port: int) -> None:
    with client.toxic("echo", "latency", toxicity=0.5, latency=60):
        slow = 0
        for _ in range(24):
            with socket.create_connection((HOST, port), timeout=5) as sock:
                first, second = round_trip_ms(sock), round_trip_ms(sock)
            assert (first > 40) == (second > 40), "the toxic changed within one connection"
            slow += first > 40
    assert 2 <= slow <= 22, f"{slow} of 24 connections got a toxicity-0.5 toxic"


def test_reset_peer_resets_the_client(client: ToxiproxyClient, conn: socket.socket) -> None:
    round_trip_ms(conn)
    with client.toxic("echo", "reset_peer", timeout=200):
        start = time.monotonic()
        assert_reset(conn)
        assert time.monotonic() - start >= 0.19


def test_down_refuses_then_comes_back_on_the_same_port(
    client: ToxiproxyClient, port: int, conn: socket.socket
) -> None:
    round_trip_ms(conn)
    with client.disabled("echo"):
        assert client.proxies()["echo"]["enabled"] is False
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, port), timeout=2)
        assert conn.recv(10) == b"", "an open connection survived the proxy going down"
    with socket.create_connection((HOST, port), timeout=5) as again:
        assert round_trip_ms(again) < 50


def test_timeout_holds_the_data_then_closes(client: ToxiproxyClient, conn: socket.socket) -> None:
    with client.toxic("echo", "timeout", timeout=400):
        start = time.monotonic()
        conn.sendall(b"ping")
        assert conn.recv(10) == b"", "data got through a timeout toxic"
        took = time.monotonic() - start
    assert 0.35 <= took <= 1.5, f"closed after {took:.2f} s, expected 0.4 s"


def test_timeout_zero_hangs_until_removed(client: ToxiproxyClient, conn: socket.socket) -> None:
    conn.settimeout(0.5)
    with client.toxic("echo", "timeout", timeout=0):
        conn.sendall(b"ping")
        with pytest.raises(TimeoutError):
            conn.recv(10)
    # as in Toxiproxy: removing it closes what it held (the data it dropped is lost)
    conn.settimeout(5)
    assert conn.recv(10) == b""


def test_bandwidth_within_25_percent(client: ToxiproxyClient, port: int) -> None:
    with client.toxic("echo", "bandwidth", rate=100):
        assert_rate(port, 100)


def test_api_answers_like_toxiproxy(api: str, port: int) -> None:
    with httpx.Client(base_url=api) as http:
        answers = {
            "unknown proxy": http.get("/proxies/nope"),
            "unknown toxic": http.get("/proxies/echo/toxics/nope"),
            "duplicate proxy": http.post(
                "/proxies", json={"name": "echo", "listen": f"{HOST}:0", "upstream": "x:1"}
            ),
            "bad type": http.post("/proxies/echo/toxics", json={"type": "slowness"}),
            "bad stream": http.post(
                "/proxies/echo/toxics", json={"type": "latency", "stream": "sideways"}
            ),
            "bad attributes": http.post(
                "/proxies/echo/toxics", json={"type": "latency", "attributes": {"latency": "x"}}
            ),
            "bad toxicity": http.post(
                "/proxies/echo/toxics", json={"type": "latency", "toxicity": 2}
            ),
            "not JSON": http.post("/proxies/echo/toxics", content=b"{"),
            "no upstream": http.post("/proxies", json={"name": "other"}),
        }
        statuses = {what: (r.status_code, r.json()["status"]) for what, r in answers.items()}
        assert statuses == {
            "unknown proxy": (404, 404),
            "unknown toxic": (404, 404),
            "duplicate proxy": (409, 409),
            "bad type": (400, 400),
            "bad stream": (400, 400),
            "bad attributes": (400, 400),
            "bad toxicity": (400, 400),
            "not JSON": (400, 400),
            "no upstream": (400, 400),
        }
        assert answers["unknown proxy"].json()["error"] == "proxy not found"
        made = http.post("/proxies/echo/toxics", json={"type": "latency", "attributes": {}})
        assert made.status_code == 200
        assert made.json() == {
            "name": "latency_downstream",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {"latency": 0, "jitter": 0},
        }
        assert http.post("/proxies/echo/toxics", json={"type": "latency"}).status_code == 409
        updated = http.post(
            "/proxies/echo/toxics/latency_downstream", json={"attributes": {"latency": 7}}
        )
        assert updated.json()["attributes"] == {"latency": 7, "jitter": 0}
        assert http.delete("/proxies/echo/toxics/latency_downstream").status_code == 204
        assert http.get("/proxies/echo/toxics").json() == []
        assert http.get("/version").json()["version"]


def test_client_errors_are_one_line_naming_what(client: ToxiproxyClient, port: int) -> None:
    cases = [
        (lambda: client.add_toxic("echo", "slowness"), "'slowness_downstream'", "HTTP 400"),
        (lambda: client.remove_toxic("echo", "gone"), "'gone'", "HTTP 404: error: toxic not"),
        (lambda: client.add_toxic("nope", "latency"), "proxy 'nope'", "HTTP 404"),
        (lambda: client.create("echo", f"{HOST}:0", "x:1"), "'echo'", "HTTP 409"),
    ]
    for call, names, answer in cases:
        with pytest.raises(StackError) as caught:
            call()
        message = str(caught.value)
        assert names in message and answer in message and "\n" not in message, message
    with (
        ToxiproxyClient(f"http://{HOST}:{free_ports(1)[0]}") as nobody,
        pytest.raises(StackError, match=r"listing proxies: .*unreachable"),
    ):
        nobody.proxies()


def test_client_context_managers_undo_after_an_exception(
    client: ToxiproxyClient, port: int
) -> None:
    with pytest.raises(RuntimeError), client.toxic("echo", "latency", latency=10):
        assert client.proxies()["echo"]["toxics"]
        raise RuntimeError("the check failed")
    assert client.proxies()["echo"]["toxics"] == []
    with pytest.raises(RuntimeError), client.disabled("echo"):
        raise RuntimeError("the check failed")
    assert client.proxies()["echo"]["enabled"] is True


def test_populate_keeps_same_and_reset_clears(
    client: ToxiproxyClient, port: int, echo: Echo
) -> None:
    client.add_toxic("echo", "latency", latency=10)
    client.set_enabled("echo", False)
    listen = f"{HOST}:{port}"
    client.populate([{"name": "echo", "listen": listen, "upstream": echo.address}])
    assert client.proxies()["echo"]["toxics"], "populate replaced an unchanged proxy"
    client.reset()
    shown = client.proxies()["echo"]
    assert shown["enabled"] is True and shown["toxics"] == [] and shown["listen"] == listen


def _program(*args: str, log: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", "synthmon.faultproxy", "--host", HOST, *args]
    return argv + (["--log", str(log)] if log else [])


def test_program_serves_a_config_and_stops(tmp_path: Path, echo: Echo) -> None:
    api_port, proxy_port = free_ports(2)
    config = tmp_path / "proxies.json"
    proxies = [{"name": "echo", "listen": f"{HOST}:{proxy_port}", "upstream": echo.address}]
    config.write_text(json.dumps(proxies))
    log = tmp_path / "faultproxy.log"
    argv = _program("--port", str(api_port), "--config", str(config), log=log)
    proc = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        with ToxiproxyClient(f"http://{HOST}:{api_port}") as client:
            wait_until(client.ready, timeout_s=20, interval_s=0.1, what="faultproxy /version")
            with socket.create_connection((HOST, proxy_port), timeout=5) as sock:
                baseline = median_ms(sock)
                with client.toxic("echo", "latency", latency=100):
                    assert_added_latency(sock, baseline, 100)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "toxic latency_downstream added" in log.read_text()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, proxy_port), timeout=2)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("[{", "not a JSON document"),
        ('{"name": "x"}', "expected a list of proxies"),
        ('[{"name": "x"}]', "missing required field: upstream at proxy 1"),
        (
            '[{"name": "x", "upstream": "u:1", "listen": "nohost"}]',
            "listen of proxy 'x': expected host:port",
        ),
    ],
)
def test_program_bad_config_is_one_line(tmp_path: Path, config: str, expected: str) -> None:
    path = tmp_path / "proxies.json"
    path.write_text(config)
    argv = _program("--port", str(free_ports(1)[0]), "--config", str(path))
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
    assert str(path) in done.stderr


def test_program_port_in_use_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        argv = _program("--port", str(busy.getsockname()[1]))
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Address already in use" in done.stderr, done.stderr


def test_a_dead_upstream_closes_the_client_and_delete_refuses(client: ToxiproxyClient) -> None:
    dead = free_ports(1)[0]
    client.create("dead", f"{HOST}:0", f"{HOST}:{dead}")
    port = listen_port(client, "dead")
    with socket.create_connection((HOST, port), timeout=5) as sock:
        assert sock.recv(10) == b"", "a connection to a dead upstream stayed open"
    with httpx.Client(base_url=client.base_url) as http:
        assert http.delete("/proxies/dead").status_code == 204
    assert "dead" not in client.proxies()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=2)


def test_a_streaming_connection_sees_the_toxic_come_and_go(
    client: ToxiproxyClient, conn: socket.socket
) -> None:
    """Round trips run back to back in a thread while the toxic is added, then removed."""
    seen: list[tuple[float, float]] = []  # (when it ended, how long it took)
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            took = round_trip_ms(conn)
            seen.append((time.monotonic(), took))

    runner = threading.Thread(target=stream, daemon=True)
    runner.start()
    try:
        time.sleep(0.3)
        adding = time.monotonic()
        client.add_toxic("echo", "latency", latency=100)
        added = time.monotonic()  # in place once the API answered
        time.sleep(0.8)
        removing = time.monotonic()
        client.remove_toxic("echo", "latency_downstream")
        removed = time.monotonic()
        time.sleep(0.3)
    finally:
        stop.set()
        runner.join(5)
    before = [ms for at, ms in seen if at < adding]
    during = [ms for at, ms in seen if added + 0.12 < at < removing]
    after = [ms for at, ms in seen if at > removed + 0.15]
    assert before and max(before) < 50, before
    assert during and min(during) >= 95 and abs(statistics.median(during) - 100) <= 20, during
    assert len(after) > 10 and statistics.median(after) < 10, after[:10]


# what a small image holds: the standard library, starlette and uvicorn (and their own deps)
SMALL_IMAGE = {"starlette", "uvicorn", "anyio", "click", "h11", "idna", "sniffio"}
SMALL_IMAGE |= {"typing_extensions", "_distutils_hack", "sitecustomize"}  # the venv, exec guard


def test_program_imports_only_what_a_small_image_has() -> None:
    probe = (
        "import sys, synthmon.faultproxy.__main__\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('synthmon'))))\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} - "
        "set(sys.stdlib_module_names))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    ours, others = (line.split() for line in done.stdout.splitlines())
    assert {m for m in ours if not m.startswith("synthmon.faultproxy")} <= {
        "synthmon",
        "synthmon.errors",
    }, ours
    foreign = {m for m in others if not m.startswith("__") and m != "synthmon"} - SMALL_IMAGE
    assert not foreign, f"the fault proxy program imports {sorted(foreign)}"


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A real redis-server on 127.0.0.1 (stopped after): a dependency as a service sees it."""
    port = free_ports(1)[0]
    argv = [_programs.require("redis-server"), "--bind", HOST, "--port", str(port)]
    proc = subprocess.Popen([*argv, "--save", "", "--appendonly", "no"], cwd=tmp_path)
    try:

        def answers() -> bool:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16) == b"+PONG\r\n"

        wait_until(answers, timeout_s=10, interval_s=0.1, what="redis PONG", retry_on=(OSError,))
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_real_redis_behind_the_proxy(client: ToxiproxyClient, redis_port: int) -> None:
    client.create("redis", f"{HOST}:0", f"{HOST}:{redis_port}")
    with socket.create_connection((HOST, listen_port(client, "redis")), timeout=5) as sock:

        def ping_ms() -> float:
            start = time.monotonic()
            sock.sendall(b"PING\r\n")
            assert sock.recv(16) == b"+PONG\r\n"
            return (time.monotonic() - start) * 1000

        baseline = statistics.median(ping_ms() for _ in range(5))
        with client.toxic("redis", "latency", stream="upstream", latency=100):
            slow = statistics.median(ping_ms() for _ in range(5))
        assert abs(slow - baseline - 100) <= 20, f"PING took {slow:.0f} ms with 100 ms latency"
        with client.toxic("redis", "reset_peer"), pytest.raises(ConnectionResetError):
            ping_ms()
