"""synthmon.upstream run for real: a subprocess on a free 127.0.0.1 port, driven over HTTP.

Routes answer their status, body, headers and delay; the shared quota counts down to the
configured answer; the control API changes take effect on the next request and reset goes
back to the file; a bad routes file is one line naming file and key; nothing outlives a test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthmon.errors import ConfigError, HttpError
from synthmon.load.process import ProcessGroup
from synthmon.ports import HOST, free_ports
from synthmon.upstream import UpstreamClient, load_routes
from synthmon.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
GITHUB_ROUTES = ROOT / "examples" / "manager-app" / "upstreams" / "github.yaml"
STATUS_ROUTES = ROOT / "examples" / "linkcheck" / "upstreams" / "status.yaml"
ROUTES = """\
quota:
  limit: 3
  reset_s: 3600
  headers: {used: null}          # X-RateLimit-Limit/-Remaining/-Reset, no -Used
  exhausted:
    status: 429
    body: {error: "quota spent ({used} of {limit})"}
    headers: {Retry-After: "60"}
default:
  status: 404
  body: {missing: true}
routes:
  - name: item
    path: /items/{item_id}
    body: {id: "{item_id}", left: "{remaining}", note: "item {item_id} of {{all}}"}
    headers: {X-Item: "{item_id}"}
  - name: create
    method: post
    path: /items
    status: 201
    body: {created: true}
  - name: paid
    path: /paid/{what}
    quota: true
    body: {what: "{what}", remaining: "{remaining}"}
  - name: empty
    path: /empty
    status: 204
"""


def spawn(group: ProcessGroup, routes: Path, workdir: Path) -> str:
    """Start the fake upstream on ``routes``; its base URL once its control API answers."""
    port = free_ports(1)[0]
    argv = [sys.executable, "-m", "synthmon.upstream", "--host", HOST, "--port", str(port)]
    log = workdir / f"upstream-{port}.log"
    group.spawn([*argv, "--routes", str(routes)], log, dict(os.environ), workdir)
    url = f"http://{HOST}:{port}"
    with UpstreamClient(url) as client:
        wait_until(client.ready, timeout_s=15, interval_s=0.05, what=f"the fake upstream at {url}")
    return url


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("upstream")
    routes = workdir / "routes.yaml"
    routes.write_text(ROUTES, encoding="utf-8")
    with ProcessGroup() as group:
        yield spawn(group, routes, workdir)
        pids = group.pids
    assert not any(alive(pid) for pid in pids), "the fake upstream outlived its test"


@pytest.fixture
def control(server: str) -> Iterator[UpstreamClient]:
    with UpstreamClient(server) as client:
        client.reset()
        yield client


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10, trust_env=False) as client:
        yield client


def test_routes_answer_their_status_body_and_headers(
    control: UpstreamClient, http: httpx.Client
) -> None:
    item = http.get("/items/a-7")
    assert item.status_code == 200
    assert item.json() == {"id": "a-7", "left": 3, "note": "item a-7 of {all}"}
    assert item.headers["X-Item"] == "a-7"
    assert item.headers["X-RateLimit-Limit"] == "3"  # quota headers on every answer
    assert item.headers["X-RateLimit-Remaining"] == "3"  # ... not counted: free
    assert int(item.headers["X-RateLimit-Reset"]) > time.time() + 3000
    assert "X-RateLimit-Used" not in item.headers  # switched off in the file
    assert http.post("/items").status_code == 201
    assert http.post("/items").json() == {"created": True}
    empty = http.get("/empty")
    assert empty.status_code == 204 and empty.content == b""
    missing = http.get("/no/such/path")
    assert missing.status_code == 404 and missing.json() == {"missing": True}
    wrong = http.delete("/items")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert http.get("/items/a/b").status_code == 404  # a parameter is one segment


def test_quota_counts_down_to_the_configured_answer(
    control: UpstreamClient, http: httpx.Client
) -> None:
    answers = [http.get(f"/paid/{n}") for n in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0", "0"]
    assert answers[0].json() == {"what": "0", "remaining": 2}
    assert answers[3].json() == {"error": "quota spent (3 of 3)"}
    assert answers[3].headers["Retry-After"] == "60"
    assert http.get("/items/x").status_code == 200  # a free route still answers
    quota = control.state()["quota"]
    assert quota["remaining"] == 0 and quota["used"] == 3 and quota["limit"] == 3

    assert control.set_quota(remaining=1, limit=10)["remaining"] == 1
    assert http.get("/paid/again").status_code == 200
    assert http.get("/paid/again").status_code == 429
    control.reset()
    assert control.state()["quota"]["remaining"] == 3
    assert http.get("/paid/after-reset").headers["X-RateLimit-Remaining"] == "2"


def test_route_changes_take_effect_at_once_and_reset_restores(
    control: UpstreamClient, http: httpx.Client
) -> None:
    changed = control.set_route("item", status=503)
    assert changed["item"]["status"] == 503
    failing = http.get("/items/1")
    assert failing.status_code == 503
    assert failing.json() == {"message": "Service Unavailable", "route": "item"}
    assert http.post("/items").status_code == 201  # other routes untouched

    control.set_route("*", status=500)
    assert {name: r["status"] for name, r in control.state()["routes"].items()} == {
        "item": 500, "create": 500, "paid": 500, "empty": 500,
    }  # fmt: skip
    assert http.post("/items").status_code == 500
    assert http.get("/no/such/path").status_code == 404  # the default is not a route

    control.reset()
    assert http.get("/items/1").status_code == 200
    assert http.post("/items").status_code == 201
    assert control.state()["routes"]["item"] == {
        "method": "GET", "path": "/items/{item_id}", "status": 200, "delay_ms": 0.0,
        "quota": False,
    }  # fmt: skip


def test_delay_is_slept_before_answering(control: UpstreamClient, http: httpx.Client) -> None:
    def timed(path: str) -> float:
        started = time.perf_counter()
        assert http.get(path).status_code == 200
        return time.perf_counter() - started

    timed("/items/warm")  # the connection is open: the timings below measure the route only
    assert timed("/items/1") < 0.1
    control.set_route("item", delay_ms=300)
    assert abs(timed("/items/1") - 0.3) < 0.05
    assert timed("/paid/x") < 0.1  # only the route that was changed
    with control.route_set("item", delay_ms=0, status=502):
        started = time.perf_counter()
        assert http.get("/items/1").status_code == 502
        assert time.perf_counter() - started < 0.1
    assert control.state()["routes"]["item"]["delay_ms"] == 300  # route_set put it back
    control.reset()
    assert timed("/items/1") < 0.1


def test_requests_are_counted_per_route(control: UpstreamClient, http: httpx.Client) -> None:
    before = control.requests()
    http.get("/items/1", headers={"Authorization": "Bearer not-kept"})
    http.get("/items/2")
    http.get("/nowhere")
    after = control.requests()
    assert after["routes"]["item"]["count"] - before["routes"]["item"]["count"] == 2
    assert after["routes"]["item"]["last_auth_scheme"] == "Bearer"
    assert after["unmatched"] - before["unmatched"] == 1
    assert "not-kept" not in str(after)


def test_control_api_rejects_what_it_cannot_do(control: UpstreamClient, server: str) -> None:
    with pytest.raises(HttpError) as unknown:
        control.set_route("nope", status=500)
    assert unknown.value.status == 404
    assert "no route 'nope' (have: item, create, paid, empty; * for all)" in str(unknown.value)
    assert str(unknown.value).startswith(f"fake upstream {server}: PUT /_fake/routes/nope")
    with pytest.raises(HttpError, match=r"HTTP 422: .*status: must be an HTTP status"):
        control.set_route("item", status=99)
    bad = httpx.put(f"{server}/_fake/quota", json={"remainig": 1})
    assert bad.status_code == 422 and "unknown key 'remainig'" in bad.json()["error"]
    assert httpx.get(f"{server}/_fake/nothing").status_code == 404
    assert control.state()["routes"]["item"]["status"] == 200  # nothing changed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "routes:\n  - {name: a, path: /a, stauts: 200}\n",
            "routes[0].stauts: unknown key (allowed: name, method, path, status, body, "
            "delay_ms, headers, quota)",
        ),
        (
            "routes:\n  a: {path: /a, status: 999}\n",
            "routes.a.status: must be an HTTP status (100-599), got 999",
        ),
        ("routes:\n  - {name: a, status: 200}\n", "routes[0]: missing key path"),
        ("routes:\n  - {name: a, path: '/a/{id}', body: '{idd}'}\n", "routes[0].body: {idd}"),
        ("routes:\n  - {name: a, path: /a, quota: true}\n", "routes[0].quota: the file has no"),
        ("quota: {limit: -1}\nroutes: []\n", "quota.limit: must be >= 0, got -1"),
        ("routes:\n  - {name: a, path: /_fake/x}\n", "routes[0].path: '/_fake/x'"),
        ("rutes: []\n", "rutes: unknown key (allowed: routes, quota, default)"),
        ("routes: [\n", "line 2: not valid YAML"),
    ],
    ids=["unknown-key", "bad-status", "missing-path", "bad-ref", "no-quota", "quota", "control",
         "top-key", "yaml"],
)  # fmt: skip
def test_bad_routes_file_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    routes = tmp_path / "bad.yaml"
    routes.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as problem:
        load_routes(routes)
    assert str(problem.value).startswith(f"{routes}: ")
    assert expected in str(problem.value)
    assert "\n" not in str(problem.value)


def test_bad_routes_file_stops_the_server_before_it_listens(tmp_path: Path) -> None:
    routes = tmp_path / "bad.yaml"
    routes.write_text("routes:\n  - {name: a, path: /a, status: 9000}\n", encoding="utf-8")
    port = str(free_ports(1)[0])
    argv = [sys.executable, "-m", "synthmon.upstream", "--port", port, "--routes", str(routes)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"synthmon.upstream: {routes}: routes[0].status: must be an HTTP status (100-599), got 9000"
    ]


def test_teardown_leaves_no_process_even_mid_delay(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  - {name: slow, path: /slow, delay_ms: 60000}\n", "utf-8")
    results: list[BaseException | int] = []
    with ProcessGroup() as group:
        url = spawn(group, routes, tmp_path)

        def call() -> None:
            try:
                results.append(httpx.get(f"{url}/slow", timeout=30).status_code)
            except httpx.HTTPError as exc:
                results.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.3)  # the request is in its delay
        started = time.monotonic()
    assert time.monotonic() - started < 4.0  # SIGTERM ended it, not a 60 s drain
    caller.join(timeout=10)
    assert results and not isinstance(results[0], int)  # the in-flight request was cut off
    assert not any(alive(pid) for pid in group.pids)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_fake/state", timeout=2)


def test_example_configurations(tmp_path: Path) -> None:
    """The manager app's fake GitHub and linkcheck's status API, as their services call them."""
    github, status = load_routes(GITHUB_ROUTES), load_routes(STATUS_ROUTES)
    assert [r.name for r in github.routes] == ["rate_limit", "repo_missing", "repo"]
    assert [r.name for r in status.routes] == ["ping", "status"]
    with ProcessGroup() as group:
        gh, st = spawn(group, GITHUB_ROUTES, tmp_path), spawn(group, STATUS_ROUTES, tmp_path)
        rate = httpx.get(f"{gh}/rate_limit")
        core = rate.json()["resources"]["core"]
        assert core == {**rate.json()["rate"], "limit": 5000, "remaining": 5000, "used": 0}
        assert rate.headers["X-RateLimit-Remaining"] == "5000"
        repo = httpx.get(f"{gh}/repos/octo-org/widgets")
        assert repo.json()["full_name"] == "octo-org/widgets"
        assert repo.json()["owner"]["login"] == "octo-org"
        assert repo.headers["X-RateLimit-Remaining"] == "4999"
        assert httpx.get(f"{gh}/repos/octo-org/missing-repo").status_code == 404
        with UpstreamClient(gh) as control:
            control.set_quota(remaining=0)
        spent = httpx.get(f"{gh}/repos/octo-org/widgets")
        assert spent.status_code == 403 and spent.json()["message"] == "API rate limit exceeded"
        assert httpx.get(f"{gh}/rate_limit").json()["rate"]["remaining"] == 0  # free

        assert httpx.get(f"{st}/status/link-1").json() == {"id": "link-1", "ok": True}
        assert httpx.get(f"{st}/status/ping").status_code == 200
        with UpstreamClient(st) as control:
            control.set_route("status", status=503)
            assert httpx.get(f"{st}/status/link-1").status_code == 503
            assert httpx.get(f"{st}/status/ping").status_code == 200  # its own route
