"""A stack service as data: what to run, how to tell it is ready, what it needs on disk.

Runners (processes today, containers later) read the same descriptions, so a check never
knows how the service it talks to was started.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class HttpProbe:
    """Ready when ``url`` answers with ``status``."""

    url: str
    status: int = 200

    def describe(self) -> str:
        return f"GET {self.url} → HTTP {self.status}"

    def check(self, timeout: float) -> str | None:
        """None when ready, else what was seen (for the timeout message)."""
        try:
            response = httpx.get(self.url, timeout=timeout)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.status_code != self.status:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        return None


@dataclass(frozen=True)
class TcpProbe:
    """Ready when a TCP connection to ``host:port`` succeeds."""

    host: str
    port: int

    def describe(self) -> str:
        return f"TCP connect {self.host}:{self.port}"

    def check(self, timeout: float) -> str | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return None
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class CommandProbe:
    """Ready when ``argv`` exits 0 (e.g. ``pg_isready``)."""

    argv: tuple[str, ...]

    def describe(self) -> str:
        return "command " + " ".join(self.argv)

    def check(self, timeout: float) -> str | None:
        try:
            done = subprocess.run(self.argv, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{type(exc).__name__}: {exc}"
        if done.returncode != 0:
            return f"exit {done.returncode}: {(done.stdout + done.stderr).strip()[:200]}"
        return None


@dataclass(frozen=True)
class ScrapedProbe:
    """Ready when Prometheus has scraped every target of ``jobs`` successfully.

    /-/ready comes seconds before the first scrape (Prometheus applies new targets after a
    ~5 s delay); checks and load windows must not start before there is data.
    """

    base_url: str
    jobs: tuple[str, ...]

    def describe(self) -> str:
        return f"GET {self.base_url}/api/v1/targets → jobs {', '.join(self.jobs)} up"

    def check(self, timeout: float) -> str | None:
        try:
            response = httpx.get(f"{self.base_url}/api/v1/targets", timeout=timeout)
            targets = response.json()["data"]["activeTargets"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            return f"{type(exc).__name__}: {exc}"
        health = {t["labels"].get("job"): t.get("health") for t in targets}
        waiting = [
            f"{job}={health.get(job, 'absent')}" for job in self.jobs if health.get(job) != "up"
        ]
        return f"not yet scraped: {', '.join(waiting)}" if waiting else None


Probe = HttpProbe | TcpProbe | CommandProbe | ScrapedProbe


@dataclass(frozen=True)
class Service:
    """One component of the stack.

    ``argv``, ``env`` values and commands may use ``{data}`` (the service's empty data
    directory) and ``{conf}`` (where ``configs`` are written) placeholders.
    """

    name: str
    argv: tuple[str, ...]
    probe: Probe
    env: Mapping[str, str] = field(default_factory=dict)
    configs: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    setup: tuple[tuple[str, ...], ...] = ()
    after_ready: tuple[tuple[str, ...], ...] = ()
    secret_env: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"service name must be an identifier, got {self.name!r}")
        if not self.argv:
            raise ValueError(f"service {self.name}: argv is empty")
