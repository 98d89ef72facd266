"""A Service as a container, and whose each container is: the labels that let a run remove its
own containers, and the next run remove those of a run that died (Ryuk's job, done by label)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import psutil
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from synthmon.stack.engine import Engine
from synthmon.stack.service import Service

RUN_LABEL = "synthmon.run"
OWNER_LABEL = "synthmon.owner"
OWNER_START_LABEL = "synthmon.owner-start"
SERVICE_LABEL = "synthmon.service"


@dataclass(frozen=True)
class ContainerService(Service):
    """A Service run from ``image``: ``argv`` are the arguments to the image's own entrypoint
    (its documented contract), ``env`` its environment. Configs and ``mounts`` are mounted
    read-only at their host paths; ``readable_by`` is the uid the image runs as, handed those
    files of the run (secrets are 0600). CommandProbes run inside the container."""

    image: str = ""
    mounts: tuple[Path, ...] = ()
    readable_by: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.image:
            raise ValueError(f"service {self.name}: no image")


def _owner_start(pid: int) -> str:
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return ""


def owner_labels(pid: int) -> dict[str, str]:
    """Who made a container: a PID and that process's start time (PIDs get reused)."""
    return {OWNER_LABEL: str(pid), OWNER_START_LABEL: _owner_start(pid)}


def owner_alive(labels: dict[str, str]) -> bool:
    """The run that made a container is still alive (same PID *and* start time)."""
    try:
        pid = int(labels.get(OWNER_LABEL, ""))
    except ValueError:
        return False
    start = _owner_start(pid)
    return bool(start) and start == labels.get(OWNER_START_LABEL)


def listed(client: docker.DockerClient, label: str | list[str]) -> list[Container]:
    """Containers with ``label``, as the list answers them (``sparse``: not inspected one by
    one, so a container another run removes meanwhile is no error); read them with
    :func:`labels_of` and :func:`name_of`."""
    found: list[Container] = client.containers.list(all=True, sparse=True, filters={"label": label})
    return found


def labels_of(container: Container) -> dict[str, str]:
    return dict(container.attrs.get("Labels") or {})


def name_of(container: Container) -> str:
    return str((container.attrs.get("Names") or [container.id])[0]).lstrip("/")


def remove_stale(engine: Engine) -> list[str]:
    """Remove containers of synthmon runs whose owner process is gone; return their names."""
    client = engine.client()
    removed = []
    try:
        for container in listed(client, RUN_LABEL):
            if owner_alive(labels_of(container)):
                continue
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True, v=True)
                removed.append(name_of(container))
    finally:
        client.close()
    return removed


def remove_labelled(engine: Engine, labels: Mapping[str, str]) -> None:
    """Remove every container carrying these labels (the owner's start time aside)."""
    wanted = [f"{k}={v}" for k, v in labels.items() if k != OWNER_START_LABEL]
    client = engine.client()
    try:
        for container in listed(client, wanted):
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True, v=True)
    finally:
        client.close()
