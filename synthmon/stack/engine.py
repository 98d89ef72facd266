"""Which container engine answers, and whether it holds the stack's images: what ``--stack auto``
decides on, with the reason a run's summary prints.

``DOCKER_HOST`` wins when set (it is what the user meant, Docker or Podman); otherwise the
usual sockets of Docker, rootful Podman and rootless Podman are tried, in that order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

PING_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Engine:
    """A Docker-compatible API that answered."""

    url: str
    product: str  # "Docker Engine 27.1.1", "Podman Engine 4.3.1"

    def client(self, timeout: float = 60.0) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=int(timeout))


@dataclass(frozen=True)
class Choice:
    """The backend ``--stack auto`` picked, and why (shown in the run's summary)."""

    kind: str  # "containers" | "processes"
    reason: str
    engine: Engine | None = None


def candidate_urls(environ: Mapping[str, str] | None = None) -> list[str]:
    """``DOCKER_HOST`` alone when set, else the default sockets that exist on this machine."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return [env["DOCKER_HOST"]]
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    sockets = ("/var/run/docker.sock", "/run/podman/podman.sock", f"{runtime}/podman/podman.sock")
    return [f"unix://{path}" for path in sockets if Path(path).is_socket()]


def probe(url: str, timeout: float = PING_TIMEOUT_S) -> Engine | str:
    """The engine at ``url``, or what went wrong (one line)."""
    try:
        client = docker.DockerClient(base_url=url, timeout=int(max(1, timeout)))
    except DockerException as exc:
        return f"{url}: {exc}"
    try:
        client.ping()
        version = client.version()
    except (DockerException, OSError) as exc:
        return f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    finally:
        client.close()
    components = version.get("Components") or [{}]
    product = f"{components[0].get('Name', 'engine')} {version.get('Version', '?')}".strip()
    return Engine(url=url, product=product)


def find_engine(environ: Mapping[str, str] | None = None) -> tuple[Engine | None, str]:
    """The first engine that answers, else None and what was tried."""
    urls = candidate_urls(environ)
    if not urls:
        return None, "no DOCKER_HOST and no Docker or Podman socket on this machine"
    failures = []
    for url in urls:
        found = probe(url)
        if isinstance(found, Engine):
            return found, ""
        failures.append(found)
    return None, "no container engine answered (" + "; ".join(failures) + ")"


def missing_images(engine: Engine, images: Mapping[str, str]) -> list[str]:
    """The images (of ``service → image``) the engine does not hold locally."""
    client = engine.client(timeout=PING_TIMEOUT_S * 3)
    try:
        missing = []
        for service, image in sorted(images.items()):
            try:
                client.images.get(image)
            except ImageNotFound:
                missing.append(f"{service} ({image})")
        return missing
    finally:
        client.close()


def choose(images: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Choice:
    """Containers when an engine answers and holds every image, else processes; with why."""
    engine, tried = find_engine(environ)
    if engine is None:
        return Choice("processes", tried)
    try:
        missing = missing_images(engine, images)
    except (DockerException, OSError) as exc:
        return Choice("processes", f"{engine.product} at {engine.url}: listing images: {exc}")
    if missing:
        return Choice(
            "processes",
            f"{engine.product} at {engine.url} lacks images: {', '.join(missing)} "
            "(build them with images/build.sh)",
        )
    return Choice(
        "containers", f"{engine.product} at {engine.url} answered and holds all images", engine
    )
