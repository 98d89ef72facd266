"""``synthmon up``: the project's stack, kept up for a person to look at until Ctrl-C; and
``synthmon down RUN_DIR``: stop a stack left running (``synthmon up`` elsewhere, or a failed
run with ``--keep-stack``).

``up`` starts the stack exactly as a test session does (``open_stack``), prints every URL and
waits. The first SIGINT, SIGTERM or SIGHUP ends the wait and the stack's own teardown runs;
further signals during that teardown are noted and ignored, so a second Ctrl-C never leaves
half a stack behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from synthmon.settings import Settings
from synthmon.stack import Stack, open_stack

STACK_RECORD = "stack.json"  # every URL of a stack synthmon up (or --keep-stack) left running
POLL_S = 1.0
DOWN_GRACE_S = 10.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def url_lines(stack: Stack) -> list[str]:
    """Every URL of ``stack``, one per line, the service under test first."""
    target = stack.project.target if stack.project else "app"
    rows: list[tuple[str, str]] = [(f"{target} (service under test)", stack.app_url)]
    rows += [(name, url) for name, url in stack.urls.items() if name != target]
    rows += [("prometheus", stack.prometheus_url)]
    for name, url in (("alertmanager", stack.alertmanager_url),
                      ("pushgateway", stack.pushgateway_url)):  # fmt: skip
        if url:
            rows.append((name, url))
    rows += telemetry_rows(stack)
    if stack.sinks_url:
        rows.append(
            ("sinks inbox", f"{stack.sinks_url}/inbox.html (JSON: {stack.sinks_url}/inbox)")
        )
    rows.append(("run directory", str(stack.run_dir)))
    if stack.runner is not None:
        rows.append(("logs", str(stack.run_dir / "logs")))
    width = max(len(name) for name, _ in rows)
    return [f"  {name:<{width}}  {url}" for name, url in rows]


def telemetry_rows(stack: Stack) -> list[tuple[str, str]]:
    """Where the runbook looks at traces and logs: Jaeger's UI and query API (16686), the
    collector's health endpoint (13133) and the log store with its query API."""
    rows = [
        ("jaeger (UI, query API)", stack.jaeger_url),
        ("otel collector health", stack.otel_health_url),
        (f"log store ({stack.logs_api})", stack.logs_url),
    ]
    return [(name, url) for name, url in rows if url]


def stack_record(stack: Stack) -> dict[str, Any]:
    return {
        "kind": stack.kind,
        "project": stack.project.name if stack.project else None,
        "app_url": stack.app_url,
        "prometheus_url": stack.prometheus_url,
        "alertmanager_url": stack.alertmanager_url,
        "pushgateway_url": stack.pushgateway_url,
        "sinks_url": stack.sinks_url,
        "inbox_url": f"{stack.sinks_url}/inbox.html" if stack.sinks_url else None,
        "urls": dict(stack.urls),
        "jaeger_url": stack.jaeger_url,
        "otel_health_url": stack.otel_health_url,
        "logs_url": stack.logs_url,
        "logs_api": stack.logs_api,
        "run_dir": str(stack.run_dir),
    }


def write_stack_record(stack: Stack) -> Path:
    path = stack.run_dir / STACK_RECORD
    path.write_text(json.dumps(stack_record(stack), indent=2) + "\n", encoding="utf-8")
    return path


def stop_command(run_dir: Path) -> str:
    return f"synthmon down {run_dir}"


class _Signals:
    """The first signal raises KeyboardInterrupt (ends the wait, or a start); the rest only
    say that teardown is under way."""

    def __init__(self) -> None:
        self.stopping = False
        self.previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            print(f"synthmon up: signal {signum}: still stopping the stack", file=sys.stderr)
            return
        self.stopping = True
        raise KeyboardInterrupt(f"signal {signum}")

    def install(self) -> None:
        for signum in _SIGNALS:
            previous = signal.signal(signum, self.handle)
            self.previous.setdefault(signum, previous)

    def restore(self) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)


def up(settings: Settings, out: Any = None) -> int:
    """Start the stack, print its URLs, wait for a signal, tear it all down; exit code 0."""
    write = out or sys.stdout
    signals = _Signals()
    signals.install()
    record: Path | None = None
    try:
        try:
            with open_stack(settings) as stack:
                signals.install()  # open_stack put its own SIGTERM handler on top of ours
                record = write_stack_record(stack)
                name = stack.project.name if stack.project else "project"
                print(f"synthmon up: {name} on {stack.kind} ({stack.reason})", file=write)
                print("\n".join(url_lines(stack)), file=write)
                print("synthmon up: ready; Ctrl-C (or SIGTERM) stops and removes all of it",
                      file=write, flush=True)  # fmt: skip
                _watch(stack, write)
        except KeyboardInterrupt:
            signals.stopping = True
        if record is not None:
            record.unlink(missing_ok=True)
        print("synthmon up: stopped; every service is gone", file=write, flush=True)
        return 0
    finally:
        signals.restore()


def _watch(stack: Stack, write: Any) -> None:
    """Wait for a signal; say once when a service exits on its own (it stays down)."""
    runner, gone = stack.runner, set()
    while True:
        time.sleep(POLL_S)
        if runner is None:
            continue
        for name in runner.services:
            if name not in gone and not runner.is_running(name):
                gone.add(name)
                print(f"synthmon up: {name} is not running (log: {runner.log_path(name)})",
                      file=write, flush=True)  # fmt: skip


# -- synthmon down ---------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _tree(pid: int, run_dir: Path) -> list[psutil.Process]:
    """The service and its descendants, if it is still ours (cwd inside the run directory:
    a recycled PID is never hit)."""
    try:
        process = psutil.Process(pid)
        if not Path(process.cwd()).resolve().is_relative_to(run_dir.resolve()):
            return []
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def _signal_all(processes: list[psutil.Process], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if process.pid == os.getpgid(process.pid):
                os.killpg(process.pid, signum)
            process.send_signal(signum)


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if _alive(p.pid)]


def down(run_dir: Path, grace: float = DOWN_GRACE_S) -> Iterator[str]:
    """Stop what ``<run_dir>/pids.json`` records; yields one line per thing done.

    When the owner (a ``synthmon up``) still runs, it is asked to stop (SIGTERM) and does its
    own teardown; otherwise each service, newest first, gets SIGTERM, then SIGKILL after
    ``grace`` seconds."""
    from synthmon.errors import ConfigError

    record_path = run_dir / "pids.json"
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    if not record_path.is_file():
        yield f"{run_dir}: nothing recorded as running (no pids.json)"
        return
    try:
        record = json.loads(record_path.read_text())
        owner, pids = int(record["owner"]), {str(k): int(v) for k, v in record["pids"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{record_path}: not a pids record") from None
    if owner != os.getpid() and _alive(owner) and pids:
        os.kill(owner, signal.SIGTERM)
        yield f"asked its owner (pid {owner}) to stop it"
        deadline = time.monotonic() + grace * (len(pids) + 1)
        while record_path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not record_path.exists():
            yield f"{run_dir}: stopped by its owner"
            return
        yield f"owner {owner} did not finish in time: stopping the services itself"
    for name, pid in reversed(list(pids.items())):
        tree = _tree(pid, run_dir)
        if not tree:
            yield f"{name} (pid {pid}): already gone"
            continue
        _signal_all(tree, signal.SIGTERM)
        left = _wait_gone(tree, grace)
        if left:
            _signal_all(left, signal.SIGKILL)
            _wait_gone(left, 5)
        yield f"{name} (pid {pid}): stopped" + (" (SIGKILL)" if left else "")
    shutil.rmtree(run_dir / "data", ignore_errors=True)
    shutil.rmtree(run_dir / "conf" / "secrets", ignore_errors=True)
    record_path.unlink(missing_ok=True)
    (run_dir / STACK_RECORD).unlink(missing_ok=True)
    yield f"{run_dir}: stopped; logs kept in {run_dir / 'logs'}"
