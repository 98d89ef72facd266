"""A pinned Alertmanager built from its Go module: a real build (cached), its version, its
amtool against Debian's, and the embedded stack's Alertmanager running it."""

from __future__ import annotations

import fcntl
import logging
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from synthmon import gobuild
from synthmon.errors import ConfigError, StackError, WaitTimeout
from synthmon.gobuild import ALERTMANAGER, alertmanager_binaries, ensure_built
from synthmon.ports import free_ports
from synthmon.stack import embedded
from synthmon.stack.processes import ProcessRunner
from tests._programs import require

ROOT = Path(__file__).resolve().parents[1]
PIN = "0.28.1"
TEAMS = yaml.safe_dump(
    {
        "route": {"receiver": "teams"},
        "receivers": [
            {"name": "teams", "msteams_configs": [{"webhook_url": "http://127.0.0.1:9/teams"}]}
        ],
    }
)


def checkout_state() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--ignored"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_a_build_is_cached_and_writes_nothing_in_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh synthmon cache: a real `go install` (seconds once Go's own caches are warm, about
    40 s on a new machine), then the same call finds it."""
    require("go", "the Go toolchain (/usr/local/go/bin on PATH)")
    monkeypatch.setenv(gobuild.CACHE_ENV, str(tmp_path))
    before = checkout_state()
    timings = []
    for _ in range(2):
        started = time.monotonic()
        bin_dir = ensure_built(ALERTMANAGER, f"v{PIN}")
        timings.append(time.monotonic() - started)
    print(f"ensure_built alertmanager v{PIN}: first call (builds) {timings[0]:.2f} s, "
          f"second (cached) {timings[1] * 1000:.2f} ms")  # fmt: skip
    assert timings[1] < 0.05, f"a cached build must cost nothing, took {timings[1]:.3f} s"
    assert bin_dir == tmp_path / f"{ALERTMANAGER.module}@v{PIN}" / "bin"
    assert sorted(p.name for p in bin_dir.iterdir()) == ["alertmanager", "amtool"]
    assert checkout_state() == before, "the build wrote in the checkout"


def test_two_workers_build_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two callers at once on a fresh cache: one builds, the other waits on the lock and finds
    its build."""
    require("go", "the Go toolchain (/usr/local/go/bin on PATH)")
    monkeypatch.setenv(gobuild.CACHE_ENV, str(tmp_path))
    caplog.set_level(logging.INFO, logger="synthmon.gobuild")
    with ThreadPoolExecutor(2) as pool:
        dirs = list(pool.map(lambda _: alertmanager_binaries(PIN).alertmanager, range(2)))
    assert dirs[0] == dirs[1]
    builds = [r.getMessage() for r in caplog.records if r.getMessage().startswith("built ")]
    assert len(builds) == 1, builds
    print(builds[0])


def test_the_build_says_its_version() -> None:
    built = alertmanager_binaries(PIN)
    assert (built.version, built.built) == (PIN, True)
    assert built.why == f"v{PIN}, pinned in synthmon.yaml versions"
    for program in (built.alertmanager, built.amtool):
        said = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
        print(said.stdout.splitlines()[0])
        assert f"version {PIN} " in said.stdout, said.stdout


def test_built_amtool_loads_msteams_that_debians_refuses(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(TEAMS)
    results = {}
    for name, amtool in (("debian", require("amtool")), (PIN, alertmanager_binaries(PIN).amtool)):
        done = subprocess.run([amtool, "check-config", str(path)], capture_output=True,
                              text=True, timeout=30)  # fmt: skip
        results[name] = done
        print(f"amtool {name}: exit {done.returncode}: {(done.stdout + done.stderr).strip()}")
    assert results["debian"].returncode != 0
    assert "field msteams_configs not found" in results["debian"].stdout + results["debian"].stderr
    assert results[PIN].returncode == 0, results[PIN].stdout + results[PIN].stderr


def test_embedded_alertmanager_starts_with_the_pinned_build(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    service = embedded.alertmanager({"alertmanager": port}, TEAMS, PIN)
    assert service.argv[0] == alertmanager_binaries(PIN).alertmanager
    runner = ProcessRunner(tmp_path, startup_timeout=30)
    try:
        runner.start(service)
        status = httpx.get(f"http://127.0.0.1:{port}/api/v2/status", timeout=5).json()
    finally:
        runner.stop_all()
    assert status["versionInfo"]["version"] == PIN
    assert "msteams_configs" in status["config"]["original"]


def test_embedded_alertmanager_refuses_msteams_without_a_pin() -> None:
    with pytest.raises(ConfigError) as caught:
        embedded.alertmanager({"alertmanager": 9093}, TEAMS)
    assert str(caught.value) == (
        "alertmanager.yml: msteams_configs needs Alertmanager ≥ 0.26 (this run: 0.25.0 from "
        "Debian); pin versions.alertmanager in synthmon.yaml"
    )


def test_summary_lines() -> None:
    assert gobuild.alertmanager_line(PIN) == (
        f"Alertmanager {PIN} (built from its Go module: pinned in synthmon.yaml)"
    )
    assert gobuild.alertmanager_line(None) == "Alertmanager 0.25.0 (Debian; no pin)"
    debian = gobuild.binary_version(require("prometheus"))
    assert gobuild.prometheus_line(None) == f"Prometheus {debian} (Debian; no pin)"
    assert gobuild.prometheus_line("9.9.9") == (
        f"Prometheus {debian} (Debian): synthmon.yaml pins 9.9.9, which is not built from source "
        "(its Go module needs the web UI's npm-built assets)"
    )


# -- how it fails --------------------------------------------------------------------------------


def test_no_go_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gobuild.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(gobuild, "GO_FALLBACK", tmp_path / "no-go")
    with pytest.raises(StackError) as caught:
        alertmanager_binaries(PIN)
    assert str(caught.value) == (
        f"building alertmanager v{PIN} needs Go: go not found on PATH or at {tmp_path}/no-go"
    )
    assert not (tmp_path / f"{ALERTMANAGER.module}@v{PIN}" / "bin").exists()


def test_a_failed_build_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("go", "the Go toolchain (/usr/local/go/bin on PATH)")
    monkeypatch.setenv(gobuild.CACHE_ENV, str(tmp_path))
    with pytest.raises(StackError) as caught:
        alertmanager_binaries("0.25.99")  # no such release
    message = str(caught.value)
    print(message)
    assert message.startswith("building alertmanager v0.25.99 with ") and "\n" not in message
    assert "v0.25.99" in message.partition("failed: ")[2]
    assert [p.name for p in (tmp_path / f"{ALERTMANAGER.module}@v0.25.99").iterdir()] == [
        "build.lock"
    ]


def test_a_bad_pin_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^versions.alertmanager in synthmon.yaml: 'latest'"):
        alertmanager_binaries("latest")


def test_a_held_lock_waits_with_a_deadline(tmp_path: Path) -> None:
    lock = tmp_path / "build.lock"
    with lock.open("a") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # another worker building
        with (
            pytest.raises(
                WaitTimeout,
                match=r"waiting for the lock to build x; last seen: .* is held by another build",
            ),
            gobuild._locked(lock, "x", timeout_s=1.0),
        ):
            pass
