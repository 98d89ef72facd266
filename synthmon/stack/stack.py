"""A running stack: every URL a check needs, plus the runner that controls it (if any).

``open_stack`` is the seam between backends: ``processes`` starts the embedded stack here and
``external`` only wraps given URLs; a containers backend slots in beside them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from synthmon.settings import Settings
from synthmon.stack import embedded
from synthmon.stack.cleanup import clean_stale_runs
from synthmon.stack.embedded import HOST, PORT_NAMES, Ports
from synthmon.stack.processes import ProcessRunner


@dataclass(frozen=True)
class Stack:
    """Where everything is; ``runner`` is None for an external stack (no faults possible)."""

    kind: str
    run_dir: Path
    app_url: str
    prometheus_url: str
    alertmanager_url: str | None = None
    github_url: str | None = None
    sinks_url: str | None = None
    pushgateway_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    chaos_token: str | None = None
    runner: ProcessRunner | None = None
    time_scale: float = 1.0
    scrape_interval_s: float = embedded.SCRAPE_INTERVAL_S
    evaluation_interval_s: float = embedded.EVALUATION_INTERVAL_S


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports on 127.0.0.1 (all held open together, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def new_run_dir(base: Path) -> Path:
    """A fresh, uniquely named run directory; PostgreSQL (another user) must traverse it."""
    run_dir = base.resolve() / time.strftime(f"run-%Y%m%d-%H%M%S-{os.getpid()}")
    run_dir.mkdir(parents=True, exist_ok=False)
    for path in (run_dir, *run_dir.parents):
        if path == Path("/"):
            break
        if path.stat().st_mode & 0o005 != 0o005 and path.is_relative_to(base.resolve()):
            path.chmod(path.stat().st_mode | 0o755)
    return run_dir


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C does, so teardown still runs."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def embedded_stack(settings: Settings, run_dir: Path) -> Iterator[Stack]:
    """Start the embedded stack as local processes; always stop all of it."""
    from synthmon.stack.configs import render_alertmanager, render_rules

    ports = Ports(*free_ports(len(PORT_NAMES)))
    token = secrets.token_urlsafe(24)
    runner = ProcessRunner(run_dir, settings.startup_timeout)
    sinks_url = f"http://{HOST}:{ports.sinks_http}"
    services = [
        embedded.postgres(ports),
        embedded.redis(ports),
        embedded.fake_github(ports),
        embedded.sinks(ports),
        embedded.pushgateway(ports),
        embedded.app(ports, token),
        embedded.alertmanager(ports, render_alertmanager(settings, ports, run_dir / "conf")),
        embedded.prometheus(ports, render_rules(settings), runner.conf_dir("prometheus")),
    ]
    with _sigterm_as_interrupt():
        try:
            for service in services:
                runner.start(service)
            yield Stack(
                kind="processes",
                run_dir=run_dir,
                app_url=f"http://{HOST}:{ports.app}",
                prometheus_url=f"http://{HOST}:{ports.prometheus}",
                alertmanager_url=f"http://{HOST}:{ports.alertmanager}",
                github_url=f"http://{HOST}:{ports.github}",
                sinks_url=sinks_url,
                pushgateway_url=f"http://{HOST}:{ports.pushgateway}",
                database_url=f"postgresql://postgres@{HOST}:{ports.postgres}/{embedded.DATABASE}",
                redis_url=f"redis://{HOST}:{ports.redis}/0",
                chaos_token=token,
                runner=runner,
                time_scale=settings.time_scale,
            )
        finally:
            runner.stop_all()


@contextlib.contextmanager
def open_stack(settings: Settings) -> Iterator[Stack]:
    """The stack ``settings`` ask for, torn down when the block ends."""
    base = settings.run_dir
    base.mkdir(parents=True, exist_ok=True)
    clean_stale_runs(base)
    run_dir = new_run_dir(base)
    if settings.stack == "external":
        assert settings.target_url and settings.prometheus_url  # validated by Settings
        yield Stack(
            kind="external",
            run_dir=run_dir,
            app_url=settings.target_url,
            prometheus_url=settings.prometheus_url,
            alertmanager_url=settings.alertmanager_url,
        )
        return
    with embedded_stack(settings, run_dir) as stack:
        yield stack
