"""The real Toxiproxy (built from its Go module by synthmon.gobuild) is the reference synthmon's
fault proxy is held to: the same checks, through the same client, run against both servers on
127.0.0.1 (fixture ``server``), so that a user's own Toxiproxy is driven exactly as ours. The
toxics' checks and measures are tests/test_faultproxy.py's (collected here again, self-tested
in tests/test_selftest_faultproxy.py); the table of API answers is self-tested here. Last, the
look-alike image of the real server on podman."""

# ruff: noqa: F811 (the fixtures come from tests/test_faultproxy.py, by name)

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthmon.errors import ConfigError, StackError
from synthmon.faultproxy import ToxiproxyClient, running
from synthmon.gobuild import TOXIPROXY_VERSION, toxiproxy_server
from synthmon.ports import HOST, free_ports
from synthmon.settings import Settings
from synthmon.waiting import wait_until
from tests._engine import engine_with
from tests.test_faultproxy import (  # noqa: F401
    Echo,
    assert_reset,
    client,
    conn,
    echo,
    listen_port,
    port,
    redis_port,
    round_trip_ms,
    # tests/test_faultproxy.py's behavioural checks, collected here again: their fixtures
    # (client, port, conn) resolve to this module's, on both servers. Not taken: those of ours
    # alone (the program, the API table with ours' stricter toxicity) and the reset of an open
    # connection, where the servers differ (see test_reset_peer_on_an_open_connection).
    test_a_dead_upstream_closes_the_client_and_delete_refuses,
    test_a_streaming_connection_sees_the_toxic_come_and_go,
    test_bandwidth_within_25_percent,
    test_client_context_managers_undo_after_an_exception,
    test_down_refuses_then_comes_back_on_the_same_port,
    test_jitter_stays_within_its_bounds,
    test_latency_added_within_20ms,
    test_latency_comes_and_goes_on_an_open_connection,
    test_populate_keeps_same_and_reset_clears,
    test_timeout_holds_the_data_then_closes,
    test_timeout_zero_hangs_until_removed,
    test_toxicity_is_rolled_per_connection,
    test_toxicity_zero_does_nothing,
    test_upstream_and_downstream_are_told_apart,
)

Server = tuple[str, str]  # (kind, API URL)
PROXY_KEYS = {"name", "listen", "upstream", "enabled", "toxics"}  # the real one adds "Logger"


@contextlib.contextmanager
def real_toxiproxy(log: Path) -> Iterator[str]:
    """The real Toxiproxy server on 127.0.0.1 for the block (terminated and reaped after)."""
    port = free_ports(1)[0]
    argv = [str(toxiproxy_server()), "-host", HOST, "-port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    try:
        with ToxiproxyClient(url) as probe:

            def ready() -> bool:
                if proc.poll() is not None:
                    pytest.fail(f"toxiproxy exited {proc.returncode}: {log.read_text()[-500:]}")
                return probe.ready()

            wait_until(ready, timeout_s=20, interval_s=0.05, what=f"toxiproxy {url}/version")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["toxiproxy", "synthmon"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """Each server in turn: (kind, API URL); stopped, with every proxy, after the test."""
    if request.param == "toxiproxy":
        with real_toxiproxy(tmp_path / "toxiproxy.log") as url:
            yield request.param, url
    else:
        with running() as url:
            yield request.param, url


@pytest.fixture
def api(server: Server) -> str:
    """The API URL tests/test_faultproxy.py's fixtures (client, port, conn) take: each server's."""
    return server[1]


# -- the API: proxies, answers and their shapes ---------------------------------------------------


def test_version_is_read_from_both(server: Server, client: ToxiproxyClient) -> None:
    expected = TOXIPROXY_VERSION if server[0] == "toxiproxy" else "2.9.0-synthmon"
    assert client.version() == expected


def test_proxies_are_created_listed_populated_and_deleted(
    client: ToxiproxyClient, echo: Echo
) -> None:
    client.create("one", f"{HOST}:0", echo.address)
    shown = client.proxies()["one"]
    assert set(shown) >= PROXY_KEYS, shown
    assert (shown["name"], shown["upstream"], shown["enabled"], shown["toxics"]) == (
        "one", echo.address, True, []
    )  # fmt: skip
    assert shown["listen"].startswith(f"{HOST}:") and not shown["listen"].endswith(":0")
    same = {"name": "one", "listen": shown["listen"], "upstream": echo.address}
    client.populate([same, {"name": "two", "listen": f"{HOST}:0", "upstream": echo.address}])
    assert sorted(client.proxies()) == ["one", "two"]
    with socket.create_connection((HOST, listen_port(client, "two")), timeout=5) as sock:
        assert round_trip_ms(sock) < 50
    with httpx.Client(base_url=client.base_url) as http:
        assert http.delete("/proxies/two").status_code == 204
        assert http.delete("/proxies/two").status_code == 404
    assert sorted(client.proxies()) == ["one"]


# (what, method, path, body) -> (status, the error's text, or its start)
ANSWERS: list[tuple[str, str, str, Any, int, str]] = [
    ("unknown proxy", "GET", "/proxies/nope", None, 404, "proxy not found"),
    ("unknown toxic", "GET", "/proxies/echo/toxics/nope", None, 404, "toxic not found"),
    ("remove unknown toxic", "DELETE", "/proxies/echo/toxics/nope", None, 404, "toxic not found"),
    ("delete unknown proxy", "DELETE", "/proxies/nope", None, 404, "proxy not found"),
    ("duplicate proxy", "POST", "/proxies",
     {"name": "echo", "listen": f"{HOST}:0", "upstream": "x:1"}, 409, "proxy already exists"),
    ("no upstream", "POST", "/proxies", {"name": "other"}, 400,
     "missing required field: upstream"),
    ("proxy not JSON", "POST", "/proxies", b"{", 400, "bad request body"),
    ("bad type", "POST", "/proxies/echo/toxics", {"type": "slowness"}, 400,
     "invalid toxic type"),
    ("bad stream", "POST", "/proxies/echo/toxics", {"type": "latency", "stream": "sideways"},
     400, "stream was invalid, can be either upstream or downstream"),
    ("bad attribute", "POST", "/proxies/echo/toxics",
     {"type": "latency", "attributes": {"latency": "x"}}, 400, "bad request body"),
    ("toxic not JSON", "POST", "/proxies/echo/toxics", b"{", 400, "bad request body"),
    ("populate no upstream", "POST", "/populate", [{"name": "x"}], 400,
     "missing required field: upstream at proxy 1"),
]  # fmt: skip


def wrong_answers(http: httpx.Client, table: list[tuple[str, str, str, Any, int, str]]) -> str:
    """Every row of ``table`` the server answers otherwise (status, body shape, error text),
    one line each; empty when all agree."""
    wrong = []
    for what, method, path, body, status, error in table:
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        answer = http.request(method, path, **kwargs)
        try:
            doc = answer.json()
        except ValueError:
            doc = None
        shape = isinstance(doc, dict) and doc.get("status") == status and "error" in doc
        if answer.status_code != status or not shape or not doc["error"].startswith(error):
            wrong.append(
                f"{what}: {method} {path}: expected HTTP {status} "
                f'{{"error": "{error}...", "status": {status}}}, got HTTP {answer.status_code} '
                f"{answer.text.strip()[:200]}"
            )
    return "\n".join(wrong)


def test_errors_have_the_same_codes_and_json_shapes(client: ToxiproxyClient, port: int) -> None:
    with httpx.Client(base_url=client.base_url) as http:
        assert not (wrong := wrong_answers(http, ANSWERS)), wrong


def test_the_answer_table_fails_when_a_row_is_wrong(client: ToxiproxyClient, port: int) -> None:
    """Self-test: a server answering otherwise than a row says is named, with what it said."""
    row = ("unknown proxy", "GET", "/proxies/nope", None, 409, "proxy already exists")
    with httpx.Client(base_url=client.base_url) as http:
        found = wrong_answers(http, [row, ANSWERS[0]])
    assert found.count("\n") == 0, found
    assert found.startswith("unknown proxy: GET /proxies/nope: expected HTTP 409"), found
    assert 'got HTTP 404 {"error":"proxy not found","status":404}' in found, found


def test_toxics_are_shown_updated_and_removed_alike(client: ToxiproxyClient, port: int) -> None:
    with httpx.Client(base_url=client.base_url) as http:
        made = http.post("/proxies/echo/toxics", json={"type": "latency", "attributes": {}})
        assert made.status_code == 200, made.text
        assert made.json() == {
            "name": "latency_downstream",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1,
            "attributes": {"latency": 0, "jitter": 0},
        }
        again = http.post("/proxies/echo/toxics", json={"type": "latency"})
        assert (again.status_code, again.json()["error"]) == (409, "toxic already exists")
        updated = http.post(
            "/proxies/echo/toxics/latency_downstream", json={"attributes": {"latency": 7}}
        )
        assert updated.json()["attributes"] == {"latency": 7, "jitter": 0}
        for kind, attributes in (("timeout", {"timeout": 0}), ("bandwidth", {"rate": 0})):
            shown = http.post("/proxies/echo/toxics", json={"type": kind, "stream": "upstream"})
            assert (shown.json()["name"], shown.json()["attributes"]) == (
                f"{kind}_upstream", attributes
            )  # fmt: skip
        listed = http.get("/proxies/echo/toxics").json()
        assert sorted(t["name"] for t in listed) == [
            "bandwidth_upstream", "latency_downstream", "timeout_upstream"
        ]  # fmt: skip
        assert http.delete("/proxies/echo/toxics/latency_downstream").status_code == 204
        assert len(http.get("/proxies/echo/toxics").json()) == 2


def test_client_errors_are_one_line_on_both(client: ToxiproxyClient, port: int) -> None:
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
    # the real one takes any toxicity: the client refuses what ours would, before sending
    with pytest.raises(ConfigError, match=r"^toxic 'latency_downstream' of proxy 'echo': tox"):
        client.add_toxic("echo", "latency", toxicity=2)
    assert client.proxies()["echo"]["toxics"] == []


def test_reset_enables_and_clears(client: ToxiproxyClient, port: int) -> None:
    client.add_toxic("echo", "latency", latency=10)
    client.set_enabled("echo", False)
    client.reset()
    shown = client.proxies()["echo"]
    assert shown["enabled"] is True and shown["toxics"] == [], shown
    with socket.create_connection((HOST, port), timeout=5) as sock:
        assert round_trip_ms(sock) < 50


# -- the toxics, measured ---------------------------------------------------------------------


def test_reset_peer_is_econnreset(client: ToxiproxyClient, port: int) -> None:
    """On a connection opened while the toxic is in place (see the next test for one before)."""
    with (
        client.toxic("echo", "reset_peer", timeout=200),
        socket.create_connection((HOST, port), timeout=5) as sock,
    ):
        start = time.monotonic()
        assert_reset(sock)
        assert time.monotonic() - start >= 0.19


def test_reset_peer_on_an_open_connection(
    server: Server, client: ToxiproxyClient, conn: socket.socket
) -> None:
    """A known difference: Toxiproxy 2.5 sets SO_LINGER 0 only on connections that start with
    the toxic (link.go Start), so one already open gets a plain close; ours resets it."""
    round_trip_ms(conn)
    with client.toxic("echo", "reset_peer", timeout=100):
        if server[0] == "synthmon":
            assert_reset(conn)
        else:
            with pytest.raises(ConnectionError, match="closed the connection"):
                round_trip_ms(conn)


def test_a_real_redis_behind_either(client: ToxiproxyClient, redis_port: int) -> None:
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
    with (
        client.toxic("redis", "reset_peer"),
        socket.create_connection((HOST, listen_port(client, "redis")), timeout=5) as sock,
        pytest.raises(ConnectionResetError),
    ):
        sock.sendall(b"PING\r\n")
        sock.recv(16)


# -- the look-alike image (images/build.sh toxiproxy), driven through published ports ----------

IMAGE = Settings().images.get("toxiproxy", f"ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION}")


@pytest.fixture
def toxiproxy_container(traversable_tmp: Path) -> Iterator[tuple[str, int]]:
    """The image as a compose stack runs it, with a ``-config`` file proxying its own API
    (``api``: 0.0.0.0:8666 -> 127.0.0.1:8474), both published on 127.0.0.1: (API URL, proxy
    port). Skipped without an engine unless SYNTHMON_REQUIRE_CONTAINERS=1 (as
    tests/test_images.py); a missing image fails."""
    found = engine_with({"toxiproxy": IMAGE}, "images")
    config = [{"name": "api", "listen": "0.0.0.0:8666", "upstream": "127.0.0.1:8474"}]
    (traversable_tmp / "toxiproxy.json").write_text(json.dumps(config))
    (traversable_tmp / "toxiproxy.json").chmod(0o644)
    api_port, proxy_port = free_ports(2)
    docker = found.client()
    try:
        started = docker.containers.run(
            IMAGE, ["-host=0.0.0.0", "-config=/config/toxiproxy.json"], detach=True,
            volumes={str(traversable_tmp): {"bind": "/config", "mode": "ro"}},
            ports={"8474/tcp": (HOST, api_port), "8666/tcp": (HOST, proxy_port)},
        )  # fmt: skip
        try:
            yield f"http://{HOST}:{api_port}", proxy_port
        finally:
            started.remove(force=True, v=True)
    finally:
        docker.close()


@pytest.mark.selftest
def test_the_image_serves_its_config_and_takes_toxics(
    toxiproxy_container: tuple[str, int],
) -> None:
    url, proxy_port = toxiproxy_container
    with ToxiproxyClient(url) as client, httpx.Client(timeout=5) as http:
        wait_until(client.ready, timeout_s=30, interval_s=0.2, what=f"{IMAGE} at {url}/version")
        assert client.version() == TOXIPROXY_VERSION
        assert client.proxies()["api"]["listen"] == "[::]:8666"
        through = f"http://{HOST}:{proxy_port}/version"

        def took_ms() -> float:
            start = time.monotonic()
            assert http.get(through).text == TOXIPROXY_VERSION
            return (time.monotonic() - start) * 1000

        baseline = statistics.median(took_ms() for _ in range(7))
        with client.toxic("api", "latency", latency=100):
            slow = statistics.median(took_ms() for _ in range(7))
        assert abs(slow - baseline - 100) <= 20, (
            f"GET /version through the image's proxy took {slow:.0f} ms with a 100 ms latency "
            f"toxic (baseline {baseline:.0f} ms)"
        )
