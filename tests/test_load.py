"""Real Locust runs (subprocesses) against local stub targets: window, counts, validity, cleanup.

Every run is a few seconds long; the module takes roughly 30-40 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from synthmon.errors import ConfigError
from synthmon.load import LoadError, LoadProfile, LoadResult, load_profiles, run_load
from synthmon.load.results import Window, csv_totals, from_history
from tests._stubs import nginx_stub, slow_stub

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "examples" / "manager-app" / "load" / "locustfile.py"
RAMPED = LoadProfile(
    "ramped", users=10, spawn_rate=4, ramp_s=3, steady_s=4, target_rps=20, constant_throughput=True
)
QUICK = LoadProfile(
    "quick", users=4, spawn_rate=4, ramp_s=1, steady_s=3, target_rps=16, constant_throughput=True
)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nginx_stub(tmp_path_factory.mktemp("nginx")) as url:
        yield url


def leftovers(out_dir: Path) -> list[psutil.Process]:
    """Live processes whose command line mentions this run's output directory."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(out_dir) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def assert_group_gone(result: LoadResult) -> None:
    for pid in result.pids:
        assert not psutil.pid_exists(pid), f"pid {pid} still exists"
    with pytest.raises(ProcessLookupError):
        os.killpg(result.pids[0], 0)


def test_window_excludes_ramp_and_counts_match_csv(nginx: str, tmp_path: Path) -> None:
    result = run_load(nginx, RAMPED, tmp_path, locustfile=LOCUSTFILE)

    timing = json.loads((tmp_path / "shape-timing.json").read_text())
    # 10 users at 4/s: spawning takes ~2 s, and the window starts only after it.
    assert result.window_start - timing["test_start"] >= 1.5
    assert result.window_start == timing["spawned_at"]
    assert result.duration_s == pytest.approx(RAMPED.steady_s, abs=1e-6)
    history = (tmp_path / "locust_stats_history.csv").read_text().splitlines()
    rows = [r.split(",") for r in history[1:] if ",Aggregated," in r]
    assert any(0 < int(r[1]) < RAMPED.users for r in rows), "ramp-up visible in history"
    inside = [r for r in rows if result.window_start <= int(r[0]) <= result.window_end]
    assert inside and all(int(r[1]) == RAMPED.users for r in inside), "window is full load only"

    # Records cover every request Locust counted; the window holds fewer (ramp excluded).
    assert (result.total_requests, result.total_failures) == csv_totals(
        tmp_path / "locust_stats.csv"
    )
    assert result.exact and 0 < result.requests < result.total_requests
    assert result.requests == sum(e.requests for e in result.endpoints.values())
    window = Window(result.window_start, result.window_end, True, "10")
    approx, _, _ = from_history(
        tmp_path / "locust_stats_history.csv", tmp_path / "locust_stats.csv", window
    )
    assert abs(approx - result.requests) <= 0.25 * result.requests + 5

    assert result.valid, result.reason
    assert result.achieved_rps == pytest.approx(20, rel=0.15)
    assert result.failures == 0 and result.p95_ms is not None
    assert "GET /api/tasks" in result.endpoints
    assert "GET /api/tasks/{task_id}" in result.endpoints
    doc = json.loads((tmp_path / "load-window.json").read_text())
    assert (doc["start"], doc["end"], doc["profile"]) == (
        result.window_start,
        result.window_end,
        "ramped",
    )
    assert doc["target_url"] == nginx
    client = json.loads((tmp_path / "load-client-stats.json").read_text())
    assert client == {"requests": result.requests, "failures": 0, "p95_ms": result.p95_ms}
    for key in ("stats_csv", "history_csv", "html", "json"):
        assert result.files[key].stat().st_size > 0, key
    assert_group_gone(result)


def test_rate_shortfall_is_invalid(tmp_path: Path) -> None:
    """3 users against a 0.25 s server can do ≤ 12 req/s, far below the 60 req/s target."""
    profile = LoadProfile(
        "starved",
        users=3,
        spawn_rate=3,
        ramp_s=1,
        steady_s=3,
        target_rps=60,
        constant_throughput=True,
    )
    with slow_stub(tmp_path / "slow", delay_s=0.25) as url:
        result = run_load(url, profile, tmp_path / "out", locustfile=LOCUSTFILE)
    assert not result.valid
    assert result.achieved_rps < 15
    assert f"achieved {result.achieved_rps:.1f} req/s vs target 60.0" in result.reason
    assert "coordinated omission" in result.reason
    assert result.p95_ms is not None and result.p95_ms >= 250
    assert json.loads((tmp_path / "out" / "load-window.json").read_text())["valid"] is False


def test_master_and_two_workers_leave_nothing_behind(nginx: str, tmp_path: Path) -> None:
    result = run_load(nginx, QUICK, tmp_path, workers=2, locustfile=LOCUSTFILE)
    assert len(result.pids) == 3
    assert len(list(tmp_path.glob("requests-*.tsv"))) == 2, "one record file per worker"
    assert (result.total_requests, result.total_failures) == csv_totals(
        tmp_path / "locust_stats.csv"
    )
    assert result.valid, result.reason
    assert_group_gone(result)
    assert leftovers(tmp_path) == []


def test_hard_timeout_kills_the_group(nginx: str, tmp_path: Path) -> None:
    """A budget shorter than the run (negative margin) must raise and kill master and workers."""
    started = time.monotonic()
    with pytest.raises(LoadError, match="still running after"):
        run_load(
            nginx,
            QUICK,
            tmp_path,
            workers=1,
            locustfile=LOCUSTFILE,
            timeout_margin_s=-QUICK.max_run_s - 27,
        )
    assert time.monotonic() - started < 15
    assert leftovers(tmp_path) == []


def test_keyboard_interrupt_tears_down_master_and_workers(nginx: str, tmp_path: Path) -> None:
    """SIGINT to the process calling run_load (Ctrl-C) must not orphan Locust processes."""
    driver = (
        "import sys; from pathlib import Path; from synthmon.load import LoadProfile, run_load; "
        "p = LoadProfile('long', users=2, spawn_rate=2, ramp_s=1, steady_s=60); "
        "run_load(sys.argv[1], p, Path(sys.argv[2]), workers=1, locustfile=Path(sys.argv[3]))"
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", driver, nginx, str(out), str(LOCUSTFILE)], cwd=REPO
    )
    try:
        deadline = time.monotonic() + 20
        while not list(out.glob("requests-*.tsv")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert leftovers(out), "locust should be running"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert leftovers(out) == []


def test_repo_profiles_file_is_valid() -> None:
    profiles = load_profiles(REPO / "examples/manager-app/load/profiles.yaml")
    assert {"smoke", "baseline", "stress", "constant_rate"} <= set(profiles)
    smoke = profiles["smoke"]
    assert smoke.max_run_s - 5 <= 20, "smoke must fit CI: ramp + steady ≤ ~20 s"
    assert profiles["constant_rate"].per_user_rps is not None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "profiles:\n  smoke: {users: 0, spawn_rate: 1, ramp_s: 1, steady_s: 5}\n",
            "profiles.smoke.users: expected an integer ≥ 1, got 0",
        ),
        (
            "profiles:\n  smoke: {users: 10, spawn_rate: 2, ramp_s: 1, steady_s: 5}\n",
            "profiles.smoke.ramp_s: 1 s is too short to spawn 10 users at 2/s (needs ≥ 5 s)",
        ),
        (
            "profiles:\n  x: {users: 1, spawn_rate: 1, ramp_s: 1, steady_s: 5,"
            " wait: constant_throughput}\n",
            "profiles.x.target_rps: required when wait is constant_throughput",
        ),
        (
            "profiles:\n  x: {users: 1, spawn_rate: 1, ramp_s: 1, steady_s: 5,"
            " wait: {min_s: 2, max_s: 1}}\n",
            "profiles.x.wait.max_s: expected ≥ wait.min_s (2), got 1",
        ),
        (
            "profiles:\n  x: {users: 1, spawn_rate: 1, ramp_s: 1, steady: 5}\n",
            "profiles.x.steady: unknown field",
        ),
        ("profiles: [1, 2\n", "line 2: not valid YAML"),
    ],
)
def test_bad_profiles_file_is_one_line_config_error(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_profiles(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text


PLAIN = '''\
"""A user's own locustfile: Locust only."""
from locust import FastHttpUser, constant_throughput, task


class PlainUser(FastHttpUser):
    wait_time = constant_throughput(4)

    @task(3)
    def list_tasks(self) -> None:
        self.client.get("/api/tasks")

    @task(1)
    def missing(self) -> None:
        self.client.get("/no-such-page")  # nginx answers 404: a Locust failure
'''


def assert_exact_window(result: LoadResult, out: Path, profile: LoadProfile) -> None:
    timing = json.loads((out / "shape-timing.json").read_text())
    assert result.window_start == timing["spawned_at"]
    assert result.duration_s == pytest.approx(profile.steady_s, abs=1e-6)
    assert timing["why"] == "steady phase over"
    assert result.exact and list(out.glob("requests-*.tsv")), "per-request records"
    # Locust's final figures: locust.json is written at shutdown (its _stats.csv is rewritten
    # once a second, with no final write, so it can miss the last second's requests).
    final = json.loads((out / "locust.json").read_text())
    assert (result.total_requests, result.total_failures) == (
        sum(e["num_requests"] for e in final),
        sum(e["num_failures"] for e in final),
    )
    assert 0 < result.requests <= result.total_requests
    assert result.requests == sum(e.requests for e in result.endpoints.values())
    assert_group_gone(result)


def test_plain_locustfile_gets_the_exact_window_and_records(nginx: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(PLAIN)
    assert "synthmon" not in PLAIN.lower()
    out = tmp_path / "out"
    result = run_load(nginx, QUICK, out, locustfile=locustfile)
    assert_exact_window(result, out, QUICK)
    assert result.valid, result.reason
    assert {"GET /api/tasks", "GET /no-such-page"} == set(result.endpoints)
    assert result.endpoints["GET /api/tasks"].failures == 0
    missing = result.endpoints["GET /no-such-page"]
    assert missing.requests > 0 and missing.failures == missing.requests
    assert result.failures == missing.failures
    # the gate's recount over other instants reads the same records
    figures = result.client_figures(result.window_start, result.window_end)
    assert (figures["requests"], figures["failures"]) == (result.requests, result.failures)


def test_linkcheck_locustfile_runs_unchanged(nginx: str, tmp_path: Path) -> None:
    """The second example's plain locustfile (the stub 404s its paths: every check fails; a
    404 on /last for a link never checked is a success in that file)."""
    locustfile = REPO / "examples" / "linkcheck" / "load" / "locustfile.py"
    assert "synthmon" not in locustfile.read_text()
    result = run_load(
        nginx, QUICK, tmp_path, locustfile=locustfile,
        extra_env={"LINKCHECK_LOAD_RPS_PER_USER": "4"},
    )  # fmt: skip
    assert_exact_window(result, tmp_path, QUICK)
    checks = result.endpoints["GET /v1/links/{link_id}"]
    assert checks.requests > 0 and checks.failures == checks.requests
    assert result.endpoints["GET /v1/links/{link_id}/last"].failures == 0
    assert result.failures == checks.failures


def test_a_locustfile_with_its_own_shape_is_refused(nginx: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "shaped.py"
    locustfile.write_text(
        PLAIN + "\n\nfrom locust import LoadTestShape\n\n\nclass Mine(LoadTestShape):\n"
        "    def tick(self):\n        return None\n"
    )
    # Locust would run the first shape it finds (synthmon's) and ignore this one: refused.
    with pytest.raises(LoadError, match=r"defines its own LoadTestShape \(Mine\)"):
        run_load(nginx, QUICK, tmp_path / "out", locustfile=locustfile)
    assert leftovers(tmp_path / "out") == []


def test_bad_locustfile_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"locustfile: expected an existing \.py file"):
        run_load("http://127.0.0.1:1", QUICK, tmp_path, locustfile=tmp_path / "a,b.py")
