"""A running stack: every URL a check needs, plus the runner that controls it (if any).

``open_stack`` is the seam between backends: ``processes`` and ``containers`` start the same
embedded stack (local processes, or containers on a Docker/Podman API), ``external`` only wraps
given URLs, and ``auto`` picks containers when an engine answers and holds every image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from synthmon.errors import ConfigError, StackError
from synthmon.ports import free_ports
from synthmon.project import Project
from synthmon.prom import Prometheus
from synthmon.settings import Settings
from synthmon.stack import embedded, engine
from synthmon.stack.cleanup import clean_stale_runs
from synthmon.stack.compose import compose_stack
from synthmon.stack.containers import ContainerRunner
from synthmon.stack.embedded import HOST, Context, Ports, port_names
from synthmon.stack.processes import ProcessRunner
from synthmon.stack.running import Stack
from synthmon.stack.service import Service
from synthmon.stack.telemetry import telemetry_urls


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


def _services(
    settings: Settings, ctx: Context, runner: ProcessRunner
) -> tuple[list[Service], tuple[str, ...]]:
    """The embedded stack in start order: as processes, or from images on a ContainerRunner;
    and the run summary's notes about the rendered configs."""
    from synthmon.stack.configs import render_alertmanager, render_rules

    project, ports = ctx.project, ctx.ports
    conf = runner.run_dir / "conf"
    am_config = render_alertmanager(settings, project, ports, conf)
    rules = render_rules(
        settings, project.monitoring.rule_files(), project.monitoring.unscaled_windows
    )
    prom = embedded.prometheus_yml(project, ports, runner.conf_dir("prometheus"))
    if not isinstance(runner, ContainerRunner):
        return [
            *_with_proxy(ctx, [embedded.project_service(spec, ctx) for spec in project.services]),
            embedded.sinks(ports),
            embedded.pushgateway(ports),
            embedded.alertmanager(ports, am_config, project.versions.get("alertmanager")),
            embedded.prometheus(project, ports, rules, prom.text),
        ], prom.notes()
    image = settings.images
    am_mounts = (project.monitoring.templates_dir, conf / "secrets")
    return [
        *_with_proxy(ctx, [embedded.project_container(s, ctx, image) for s in project.services]),
        embedded.sinks(ports),
        embedded.pushgateway_container(ports, image["pushgateway"]),
        embedded.alertmanager_container(ports, am_config, image["alertmanager"], am_mounts),
        embedded.prometheus_container(project, ports, rules, prom.text, image["prometheus"]),
    ], prom.notes()


def _with_proxy(ctx: Context, services: list[Service]) -> list[Service]:
    """The fault proxy inserted right before the first service whose links it carries."""
    sources = {source for source, _ in ctx.project.links()}
    first = next((n for n, s in enumerate(services) if s.name in sources), None)
    if first is None:
        return services
    return [*services[:first], embedded.fault_proxy(ctx), *services[first:]]


def _project(settings: Settings) -> Project:
    if settings.project is None:
        raise ConfigError(
            f"--stack {settings.stack}: no project to start; give {settings.where('project')} "
            "(synthmon.yaml, or a directory with it)"
        )
    return settings.project


@contextlib.contextmanager
def embedded_stack(
    settings: Settings, run_dir: Path, found: engine.Engine | None = None, reason: str = ""
) -> Iterator[Stack]:
    """Start the project's embedded stack, as containers on ``found`` (an engine) or as local
    processes; always stop all of it."""
    project = _project(settings)
    names = port_names(project)
    ports: Ports = dict(zip(names, free_ports(len(names)), strict=True))
    ctx = Context(project, ports, {name: secrets.token_urlsafe(24) for name in project.secrets})
    with _sigterm_as_interrupt():
        runner = (
            ProcessRunner(run_dir, settings.startup_timeout)
            if found is None
            else ContainerRunner(run_dir, settings.startup_timeout, found)
        )
        if isinstance(runner, ContainerRunner) and runner.stale_removed:
            reason += f"; removed {len(runner.stale_removed)} containers of dead runs"
        try:
            services: Sequence[Service]
            services, notes = _services(settings, ctx, runner)
            for service in services:
                runner.start(service)
            with Prometheus(f"http://{HOST}:{ports['prometheus']}") as prom:
                prom.wait_settled(settings.startup_timeout)
            yield Stack(
                kind=runner.kind,
                run_dir=run_dir,
                app_url=ctx.urls()[project.target],
                prometheus_url=f"http://{HOST}:{ports['prometheus']}",
                alertmanager_url=f"http://{HOST}:{ports['alertmanager']}",
                sinks_url=f"http://{HOST}:{ports['sinks_http']}",
                pushgateway_url=f"http://{HOST}:{ports['pushgateway']}",
                urls=ctx.urls(),
                secrets=ctx.secrets,
                project=project,
                runner=runner,
                time_scale=settings.time_scale,
                reason=reason,
                notes=notes,
                fault_proxy_url=(
                    f"http://{HOST}:{ports[embedded.FAULT_PROXY]}"
                    if embedded.FAULT_PROXY in ports
                    else None
                ),
                **dataclasses.asdict(telemetry_urls(project, ports, HOST)),
            )
        finally:
            runner.stop_all()


def choose_backend(settings: Settings) -> tuple[engine.Engine | None, str]:
    """The engine to run containers on (None: processes), and why."""
    asked = f"asked for ({settings.where('stack')} {settings.stack})"
    if settings.stack == "processes":
        return None, asked
    if settings.stack in ("containers", "compose"):
        found, tried = engine.find_engine()
        if found is None:
            instead = " or use --stack processes" if settings.stack == "containers" else ""
            raise StackError(
                f"{settings.where('stack')} {settings.stack}: {tried}; start one "
                f"(scripts/podman.sh start prints a DOCKER_HOST){instead}"
            )
        return found, f"{asked}; {found.product} at {found.url}"
    # the tools image serves only the compose backend, which auto never picks
    choice = engine.choose({k: v for k, v in settings.images.items() if k != "tools"})
    return choice.engine, f"auto: {choice.reason}"


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
            project=settings.project,
            reason=f"asked for ({settings.where('stack')} external)",
            jaeger_url=settings.jaeger_url,
            otlp_url=None,  # an external stack's app exports where it is configured to
            # the collector's health endpoint: --otel-url's root, as the runbook curls it
            otel_health_url=f"{settings.otel_url}/" if settings.otel_url else None,
            logs_url=settings.logs_url,
            logs_api=settings.logs_api,
        )
        return
    found, reason = choose_backend(settings)
    if settings.stack == "compose":
        assert found is not None  # choose_backend found one or raised
        with (
            _sigterm_as_interrupt(),
            compose_stack(settings, _project(settings), run_dir, found, reason) as stack,
        ):
            yield stack
        return
    with embedded_stack(settings, run_dir, found, reason) as stack:
        yield stack
