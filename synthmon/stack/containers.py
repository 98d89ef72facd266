"""The ``containers`` runner: each ContainerService is a container (testcontainers-python) on a
Docker or Podman API; any other Service (the SaaS stand-ins) stays a local process.

It is a :class:`ProcessRunner` with the same interface, so faults and checks do not care:
stop/start/kill act on the container, SIGSTOP/SIGCONT pause and unpause it (the cgroup freezer
stops every process in it at once), other signals go to its main process. Host networking keeps
the rendered configs identical; configs are mounted read-only at their host paths.

Teardown: every container carries ``synthmon.run``/``synthmon.owner`` labels. ``stop_all``
removes ours by label, so even one created a moment before Ctrl-C goes; containers whose owner
process is gone (a SIGKILLed run; Ryuk is not used, Podman has none) are removed at start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from docker.errors import DockerException
from docker.models.containers import Container
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

from synthmon.errors import StackError
from synthmon.stack.container_service import (
    RUN_LABEL,
    SERVICE_LABEL,
    ContainerService,
    owner_labels,
    remove_labelled,
    remove_stale,
)
from synthmon.stack.engine import Engine
from synthmon.stack.processes import STOP_GRACE_S, ProcessRunner
from synthmon.stack.service import CommandProbe, Service

LOG_FLUSH_S = 2.0


class LogPump:
    """Appends a container's output to its log file while it runs (one thread per start)."""

    def __init__(self, container: Container, path: Path, since: float) -> None:
        self.thread = threading.Thread(
            target=self._pump, args=(container, path, since), daemon=True,
            name=f"synthmon-logs-{container.name}",
        )  # fmt: skip
        self.thread.start()

    @staticmethod
    def _pump(container: Container, path: Path, since: float) -> None:
        with contextlib.suppress(DockerException, OSError), path.open("ab") as log:
            for chunk in container.logs(stream=True, follow=True, since=since):
                log.write(chunk)
                log.flush()

    def flush(self, timeout: float = LOG_FLUSH_S) -> None:
        """Wait for the stream to end (it does when the container stops)."""
        self.thread.join(timeout)


def signal_container(container: Container, signum: int) -> None:
    """SIGSTOP/SIGCONT pause/unpause the container (the cgroup freezer stops every process in
    it at once); any other signal goes to its PID 1. ``container`` freshly reloaded."""
    if signum == signal.SIGSTOP:
        if container.status != "paused":
            container.pause()
    elif signum == signal.SIGCONT:
        if container.status == "paused":
            container.unpause()
    else:
        container.kill(signal=signal.Signals(signum).name)


class ContainerRunner(ProcessRunner):
    """Starts, signals and removes ContainerServices as containers under one run directory."""

    kind = "containers"

    def __init__(self, run_dir: Path, startup_timeout: float, engine: Engine) -> None:
        super().__init__(run_dir, startup_timeout)
        # Ryuk (testcontainers' reaper) needs an image from a registry and does not work on
        # Podman; our own labels do its job (see remove_stale and stop_all).
        testcontainers_config.ryuk_disabled = True
        self.engine = engine
        self.labels = {RUN_LABEL: run_dir.name, **owner_labels(os.getpid())}
        self.stale_removed = remove_stale(engine)
        self._containers: dict[str, DockerContainer] = {}
        self._pumps: dict[str, LogPump] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, service: Service) -> None:
        """Start ``service`` (a container when it is a ContainerService) and wait until ready."""
        if not isinstance(service, ContainerService):
            super().start(service)
            return
        if self.is_running(service.name):
            raise StackError(f"{service.name}: already running")
        first = service.name not in self.services
        self.services[service.name] = service
        since = time.time()
        if first:
            self._prepare(service)
            self._create(service)
        else:
            with self._engine_errors(service.name, "start"):
                self._wrapped(service.name).start()
        self._pumps[service.name] = LogPump(
            self._wrapped(service.name), self.log_path(service.name), since
        )
        self._wait_container_ready(service)

    def _prepare(self, service: Service) -> None:
        super()._prepare(service)
        if isinstance(service, ContainerService) and service.readable_by is not None:
            for path in (self.conf_dir(service.name), *service.mounts):
                if not path.resolve().is_relative_to(self.run_dir.resolve()):
                    continue  # only this run's own files change hands
                for root, dirs, files in os.walk(path):
                    for item in (root, *(os.path.join(root, n) for n in dirs + files)):
                        os.chown(item, service.readable_by, service.readable_by)

    def _create(self, service: ContainerService) -> None:
        container = DockerContainer(
            service.image, docker_client_kw={"environment": {"DOCKER_HOST": self.engine.url}}
        )
        container.with_name(f"synthmon-{os.getpid()}-{self.run_dir.name}-{service.name}")
        container.with_command([self._expand(service, a) for a in service.argv])
        for key, value in service.env.items():
            container.with_env(key, self._expand(service, value))
        conf = [self.conf_dir(service.name)] if service.configs else []
        for path in (*conf, *service.mounts):
            container.with_volume_mapping(str(path), str(path), "ro")
        labels = {**self.labels, SERVICE_LABEL: service.name}
        container.with_kwargs(network_mode="host", labels=labels)
        self._containers[service.name] = container  # before start: a failed start is removed too
        try:
            with self._engine_errors(service.name, f"create from image {service.image}"):
                container.start()
        except StackError:
            if self._has_image(service.image):
                raise
            raise StackError(
                f"{service.name}: image {service.image} is not on {self.engine.product} and "
                "could not be pulled: build it with images/build.sh, or give a registry"
            ) from None

    def _has_image(self, image: str) -> bool:
        client = self.engine.client()
        try:
            client.images.get(image)
            return True
        except DockerException:
            return False
        finally:
            client.close()

    @contextlib.contextmanager
    def _engine_errors(self, name: str, doing: str) -> Iterator[None]:
        try:
            yield
        except DockerException as exc:
            reason = str(exc).splitlines()[0][:300]
            raise StackError(f"{name}: container {doing} failed: {reason}") from None

    def _wrapped(self, name: str) -> Container:
        container = self._containers.get(name)
        if container is None or container._container is None:
            raise StackError(f"{name}: no container")
        wrapped: Container = container.get_wrapped_container()
        return wrapped

    def _wait_container_ready(self, service: ContainerService) -> None:
        deadline = time.monotonic() + self.startup_timeout
        seen = "not probed yet"
        wrapped = self._wrapped(service.name)
        while time.monotonic() < deadline:
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                code = wrapped.attrs["State"].get("ExitCode")
                self._pumps[service.name].flush()
                raise StackError(
                    f"{service.name} (container, image {service.image}) exited with code {code} "
                    f"before it was ready ({service.probe.describe()}); last log lines:\n"
                    f"{self.tail(service.name)}"
                )
            result = self._probe(service, wrapped)
            if result is None:
                return
            seen = result
            time.sleep(0.1)
        self.stop(service.name)
        raise StackError(
            f"{service.name} (container, image {service.image}) not ready after "
            f"{self.startup_timeout:g}s: probed {service.probe.describe()}, last seen {seen}; "
            f"last log lines:\n{self.tail(service.name)}"
        )

    @staticmethod
    def _probe(service: ContainerService, wrapped: Container) -> str | None:
        """Http/Tcp probes from here (host network), command probes inside the container."""
        if not isinstance(service.probe, CommandProbe):
            return service.probe.check(timeout=1.0)
        try:
            code, output = wrapped.exec_run(list(service.probe.argv))
        except DockerException as exc:
            return f"{type(exc).__name__}: {exc}"
        if code != 0:
            text = output.decode(errors="replace") if isinstance(output, bytes) else ""
            return f"exit {code}: {text.strip()[:200]}"
        return None

    # -- control -----------------------------------------------------------------------------
    def is_running(self, name: str) -> bool:
        if name not in self._containers:
            return super().is_running(name)
        try:
            wrapped = self._wrapped(name)
            wrapped.reload()
        except (StackError, DockerException):
            return False
        return wrapped.status in ("running", "paused")

    def pid(self, name: str) -> int:
        """The container's main process, as the host sees it."""
        if name not in self._containers:
            return super().pid(name)
        wrapped = self._wrapped(name)
        wrapped.reload()
        pid = int(wrapped.attrs["State"].get("Pid") or 0)
        if not pid:
            raise StackError(f"{name}: not running")
        return pid

    def signal(self, name: str, signum: int) -> None:
        """SIGSTOP/SIGCONT pause/unpause the whole container; other signals go to its PID 1."""
        if name not in self._containers:
            super().signal(name, signum)
            return
        wrapped = self._wrapped(name)
        with self._engine_errors(name, f"signal {signal.Signals(signum).name}"):
            wrapped.reload()
            signal_container(wrapped, signum)

    def stop(self, name: str, grace: float = STOP_GRACE_S) -> None:
        """The image's stop signal, then SIGKILL after ``grace`` seconds; idempotent."""
        if name not in self._containers:
            super().stop(name, grace)
            return
        self.signal(name, signal.SIGCONT)
        with self._engine_errors(name, "stop"):
            self._wrapped(name).stop(timeout=max(1, int(grace)))
        self._flush(name)

    def kill(self, name: str) -> None:
        """SIGKILL at once: a crash, not a shutdown."""
        if name not in self._containers:
            super().kill(name)
            return
        self.signal(name, signal.SIGCONT)
        if self.is_running(name):
            with self._engine_errors(name, "kill"):
                self._wrapped(name).kill()
            self._wrapped(name).wait(timeout=10)
        self._flush(name)

    def _flush(self, name: str) -> None:
        pump = self._pumps.pop(name, None)
        if pump is not None:
            pump.flush()

    def stop_all(self) -> None:
        """Remove every container of this run (in parallel; then any left with our labels),
        then stop the processes."""
        try:
            names = list(self._containers)
            with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
                list(pool.map(self._remove, names))
        finally:
            try:
                remove_labelled(self.engine, self.labels)
            finally:
                super().stop_all()

    def _remove(self, name: str) -> None:
        with contextlib.suppress(StackError, DockerException):
            if self.is_running(name):
                self.stop(name, grace=5)
        container = self._containers.pop(name)
        with contextlib.suppress(DockerException):
            container.stop(force=True, delete_volume=True)
        self._flush(name)
