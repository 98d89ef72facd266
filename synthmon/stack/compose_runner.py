"""The ``compose`` runner: the services of one Compose project, controlled through the engine.

Compose starts and removes the project (testcontainers' ``DockerCompose`` drives the Compose v2
CLI); faults act on each service's container through the Docker API, as the runbook's own
``docker-compose stop/kill/pause/restart`` do. It is a :class:`ProcessRunner` with the same
interface, so faults and checks do not care how the stack was started.

Podman (4.3) runs healthchecks from systemd timers, and without systemd as PID 1 nothing runs
them: a ``depends_on: condition: service_healthy`` would wait forever. While ``up`` runs, a
ticker asks Podman to run each starting container's own healthcheck (libpod's
``/containers/{id}/healthcheck``), so the user's conditions hold as written; synthmon's own
readiness probes then decide when the stack is ready (``up --wait`` is not used).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from docker.errors import DockerException
from docker.models.containers import Container
from testcontainers.compose import DockerCompose

from synthmon.errors import StackError
from synthmon.masking import hide_password
from synthmon.stack.container_service import RUN_LABEL, labels_of, listed, owner_alive
from synthmon.stack.containers import LogPump, signal_container
from synthmon.stack.engine import Engine
from synthmon.stack.processes import STOP_GRACE_S, ProcessRunner
from synthmon.stack.service import Probe
from synthmon.waiting import NotYet, wait_until

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
UP_TIMEOUT_S = 300.0
DOWN_TIMEOUT_S = 120.0
HEALTH_TICK_S = 1.0
INTERRUPT_WAIT_S = 30.0


PORT_TAKEN = "address already in use"  # the engine's words for a host port taken meanwhile


class ComposeCli(DockerCompose):
    """DockerCompose with a project name, a bounded time and the engine's DOCKER_HOST."""

    def __init__(self, *, project_name: str, env: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_name = project_name
        self.env = dict(env)

    @property
    def compose_command_property(self) -> list[str]:
        base: list[str] = list(super().compose_command_property)
        return [*base[:2], "-p", self.project_name, *base[2:]]

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """``docker compose -p NAME -f ... ARGS``."""
        return self._run_command([*self.compose_command_property, *args])

    def _run_command(
        self, cmd: str | list[str], context: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        argv = cmd if isinstance(cmd, list) else cmd.split()
        timeout = DOWN_TIMEOUT_S if "down" in argv else UP_TIMEOUT_S
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=context or str(self.context), env=self.env,
        )  # fmt: skip
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _interrupt(process)
            raise StackError(f"compose: `{_shown(argv)}` took over {timeout:g} s") from None
        except BaseException:  # Ctrl-C: Compose stops its own API calls first, then teardown
            _interrupt(process)
            raise
        if process.returncode != 0:
            said = err.decode(errors="replace").strip().splitlines()[-8:]
            raise StackError(
                f"compose: `{_shown(argv)}` exited {process.returncode}:\n" + "\n".join(said)
            )
        return subprocess.CompletedProcess(argv, process.returncode, out, err)


def _interrupt(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the Compose CLI and wait: killed outright, the engine would go on creating
    what it had been asked for after our teardown has looked."""
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=INTERRUPT_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def _shown(argv: Sequence[str]) -> str:
    """The subcommand of a compose argv, for messages (the files are long paths)."""
    words = [a for a in argv if not a.startswith("/")]
    return hide_password(" ".join(words[1:]))


class _HealthTicker:
    """Runs the starting containers' healthchecks through Podman's API while Compose waits."""

    def __init__(self, engine: Engine, project: str) -> None:
        self.engine, self.project = engine, project
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthmon-health", daemon=True)

    def __enter__(self) -> _HealthTicker:
        if self.engine.product.startswith("Podman") and self.engine.url.startswith("unix://"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        transport = httpx.HTTPTransport(uds=self.engine.url.removeprefix("unix://"))
        with httpx.Client(transport=transport, base_url="http://podman", timeout=30) as api:
            while not self._stop.wait(HEALTH_TICK_S):
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
                    self._tick(api)

    def _tick(self, api: httpx.Client) -> None:
        filters = json.dumps({"label": [f"{PROJECT_LABEL}={self.project}"]})
        listed = api.get("/v4.0.0/libpod/containers/json", params={"filters": filters}).json()
        for container in listed or []:
            if container.get("State") != "running":
                continue
            inspected = api.get(f"/v4.0.0/libpod/containers/{container['Id']}/json").json()
            health = (inspected.get("State") or {}).get("Health") or {}
            if health.get("Status") in ("starting", "unhealthy") and inspected.get(
                "Config", {}
            ).get("Healthcheck"):
                api.get(f"/v4.0.0/libpod/containers/{quote(container['Id'])}/healthcheck")


class ComposeRunner(ProcessRunner):
    """The services of one Compose project under one run directory."""

    kind = "compose"

    def __init__(
        self,
        run_dir: Path,
        startup_timeout: float,
        engine: Engine,
        compose: ComposeCli,
        labels: Mapping[str, str],
    ) -> None:
        super().__init__(run_dir, startup_timeout)
        self.engine = engine
        self.compose = compose
        self.labels = dict(labels)
        self.probes: dict[str, Probe] = {}
        self.role_images: dict[str, str] = {}  # "prometheus"/"alertmanager" → its image
        self._host_ports: dict[tuple[str, int], int] = {}  # what the checks were given
        self._pumps: dict[str, LogPump] = {}
        self._up = False

    @property
    def project(self) -> str:
        return str(self.compose.project_name)

    # -- lifecycle ---------------------------------------------------------------------------
    def up(self) -> None:
        """``docker compose up --detach`` (their healthchecks ticked on Podman), then logs."""
        self._up = True  # before: a half-started project is taken down too
        since = time.time()
        with _HealthTicker(self.engine, self.project):
            try:
                self.compose.start()
            except StackError as exc:
                if PORT_TAKEN not in str(exc):
                    raise
                # `127.0.0.1::PORT`: the engine chose a free host port that another process
                # bound before it did (a busy machine); once more, with every port chosen anew
                services = self.compose.services or []
                self.compose.run("up", "--detach", "--force-recreate", *services)
        for name in self.containers():
            self._pump(name, since)

    def containers(self) -> dict[str, Container]:
        """The project's containers by service name."""
        client = self.engine.client()
        try:
            found = client.containers.list(
                all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}"]}
            )
        except DockerException as exc:
            raise StackError(f"compose project {self.project}: listing containers: {exc}") from None
        finally:
            client.close()
        return {str(c.labels.get(SERVICE_LABEL)): c for c in found}

    def container(self, name: str) -> Container:
        found = self.containers().get(name)
        if found is None:
            raise StackError(f"compose project {self.project}: no container of service {name!r}")
        return found

    def published(self, name: str, port: int) -> int:
        """The host port (on 127.0.0.1) the engine gave ``name``'s container port ``port``."""
        container = self.container(name)
        bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in bindings.get(f"{port}/tcp") or []:
            if binding.get("HostPort"):
                self._host_ports.setdefault((name, port), int(binding["HostPort"]))
                return int(binding["HostPort"])
        raise StackError(
            f"{name}: container port {port} is not published (have {sorted(bindings)})"
        )

    def wait_ready(self, name: str) -> None:
        probe = self.probes.get(name)
        if probe is None:
            return

        def ready() -> bool | NotYet:
            container = self.container(name)
            if container.status in ("exited", "dead"):
                code = container.attrs["State"].get("ExitCode")
                raise StackError(
                    f"{name} (compose service) exited with code {code} before it was ready "
                    f"({probe.describe()}); last log lines:\n{self.tail(name)}"
                )
            seen = probe.check(timeout=1.0)
            return True if seen is None else NotYet(seen)

        try:
            wait_until(ready, timeout_s=self.startup_timeout, interval_s=0.2,
                       what=f"{name} ready ({probe.describe()})")  # fmt: skip
        except StackError:
            raise
        except Exception as exc:
            raise StackError(f"{exc}; last log lines:\n{self.tail(name)}") from None

    def _pump(self, name: str, since: float) -> None:
        with contextlib.suppress(StackError):
            self._pumps[name] = LogPump(self.container(name), self.log_path(name), since)

    def _flush(self, name: str) -> None:
        pump = self._pumps.pop(name, None)
        if pump is not None:
            pump.flush()

    @contextlib.contextmanager
    def _engine_errors(self, name: str, doing: str) -> Any:
        try:
            yield
        except DockerException as exc:
            reason = str(exc).splitlines()[0][:300]
            raise StackError(f"{name}: compose service {doing} failed: {reason}") from None

    # -- control (the runbook's docker-compose stop/kill/pause/restart) -----------------------
    def is_running(self, name: str) -> bool:
        try:
            return self.container(name).status in ("running", "paused")
        except StackError:
            return False

    def pid(self, name: str) -> int:
        pid = int(self.container(name).attrs["State"].get("Pid") or 0)
        if not pid:
            raise StackError(f"{name}: not running")
        return pid

    def signal(self, name: str, signum: int) -> None:
        """SIGSTOP/SIGCONT pause/unpause the container; other signals go to its PID 1."""
        with self._engine_errors(name, f"signal {signal.Signals(signum).name}"):
            signal_container(self.container(name), signum)

    def restart(self, name: str) -> None:
        since = time.time()
        with self._engine_errors(name, "start"):
            self.container(name).start()
        self._pump(name, since)
        for (service, port), given in list(self._host_ports.items()):
            now = self.published(service, port) if service == name else given
            if now != given:
                raise StackError(
                    f"{name}: the engine gave its port {port} another host port on restart "
                    f"({given} -> {now}); the checks know {given}: publish it on a fixed port"
                )
        self.wait_ready(name)

    def start(self, service: Any) -> None:
        raise StackError("compose stack: services are started by Compose, not one by one")

    def stop(self, name: str, grace: float = STOP_GRACE_S) -> None:
        """The image's stop signal, then SIGKILL after ``grace`` seconds; idempotent."""
        if not self.is_running(name):
            return
        self.signal(name, signal.SIGCONT)
        with self._engine_errors(name, "stop"):
            self.container(name).stop(timeout=max(1, int(grace)))
        self._flush(name)

    def kill(self, name: str) -> None:
        """SIGKILL at once: a crash, not a shutdown."""
        if not self.is_running(name):
            return
        self.signal(name, signal.SIGCONT)
        with self._engine_errors(name, "kill"):
            container = self.container(name)
            container.kill()
            container.wait(timeout=10)
        self._flush(name)

    def exec(self, name: str, argv: Sequence[str], stdin: bytes | None = None) -> bytes:
        """``docker compose exec -T NAME argv`` (in the service's own container); its stdout."""
        command = [*self.compose.compose_command_property, "exec", "-T", name, *argv]
        try:
            done = subprocess.run(
                command, input=stdin, capture_output=True, env=self.compose.env,
                timeout=self.startup_timeout * 5, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise StackError(f"{name}: `{' '.join(argv)}` did not finish") from None
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip()[-400:]
            raise StackError(f"{name}: `{' '.join(argv)}` exited {done.returncode}: {said}")
        return done.stdout

    def keep(self) -> None:
        raise StackError("compose stack: --keep-stack is for the processes stack")

    def stop_all(self) -> None:
        """``down --volumes --remove-orphans``; then anything left with this run's label."""
        try:
            if self._up:
                for name in list(self._pumps):
                    self._flush(name)
                self.compose.run("down", "--volumes", "--remove-orphans", "--timeout", "5")
        finally:
            try:
                remove_project(self.engine, self.project, self.labels.get(RUN_LABEL, ""))
            finally:
                super().stop_all()


def remove_project(engine: Engine, project: str, run: str = "") -> None:
    """Every container, network and volume of a Compose project (what ``down -v`` misses)."""
    client = engine.client()
    label = f"{PROJECT_LABEL}={project}"
    try:
        mine = [*listed(client, label), *(listed(client, f"{RUN_LABEL}={run}") if run else [])]
        for container in mine:
            with contextlib.suppress(DockerException):
                container.remove(force=True, v=True)
        for network in client.networks.list(filters={"label": label}):
            with contextlib.suppress(DockerException):
                network.remove()
        for volume in client.volumes.list(filters={"label": label}):
            with contextlib.suppress(DockerException):
                volume.remove(force=True)
    finally:
        client.close()


def remove_dead_projects(engine: Engine, prefix: str) -> list[str]:
    """Networks and volumes of synthmon's Compose projects (named ``prefix*``) whose run is
    dead and that no container uses any more: what a SIGKILLed run left after its containers
    were removed (a live run's, made a moment before its containers, stays)."""
    client = engine.client()
    removed: set[str] = set()
    try:
        live = {labels_of(c).get(PROJECT_LABEL) for c in listed(client, PROJECT_LABEL)}
        for kind in (client.networks, client.volumes):
            for item in kind.list(filters={"label": PROJECT_LABEL}):
                labels = item.attrs.get("Labels") or {}
                project = str(labels.get(PROJECT_LABEL, ""))
                dead = project.startswith(prefix) and not owner_alive(labels)
                if dead and project not in live:
                    with contextlib.suppress(DockerException):
                        item.remove()
                        removed.add(project)
    finally:
        client.close()
    return sorted(removed)
