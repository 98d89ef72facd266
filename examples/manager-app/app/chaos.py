"""Chaos controls: injected errors and latency, CPU burn and memory ballast, all reversible.

They exist so the suite can make the real alerts fire (error rate, latency, CPU, memory)
without breaking anything for real. Config changes merge; DELETE restores everything.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

EXEMPT = frozenset({"/health", "/api/metrics", "/api/chaos"})
MAX_BALLAST_MB = 8192
MAX_LATENCY_MS = 60_000.0
_BURN_PERIOD = 0.1
MAX_BURN_CORES = 4
_BURN_CHUNK = b"\0" * 65_536  # hashing >2 KiB releases the GIL, so burning spares the event loop


class ChaosError(ValueError):
    """The requested chaos config is invalid (answered 422)."""


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """What is currently injected; the defaults inject nothing."""

    endpoint: str = "*"
    error_rate: float = 0.0
    latency_ms: float = 0.0
    latency_fraction: float = 1.0
    cpu_burn: float = 0.0
    memory_ballast_mb: int = 0

    def merged(self, changes: dict[str, Any]) -> ChaosConfig:
        """A copy with `changes` applied, validated as a whole."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ChaosError(f"unknown fields: {', '.join(unknown)}")
        values = asdict(self)
        for name, value in changes.items():
            values[name] = _coerce(name, value)
        return replace(self, **values)

    def applies_to(self, endpoint: str) -> bool:
        """Whether request chaos targets this route template."""
        if endpoint in EXEMPT or endpoint == "unmatched":
            return False
        return self.endpoint in ("*", endpoint)


def _coerce(name: str, value: Any) -> Any:
    if name == "endpoint":
        if not isinstance(value, str) or not (value == "*" or value.startswith("/")):
            raise ChaosError("endpoint must be '*' or a route template such as /api/tasks")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ChaosError(f"{name} must be a number")
    if name == "memory_ballast_mb":
        if value != int(value) or not 0 <= value <= MAX_BALLAST_MB:
            raise ChaosError(f"memory_ballast_mb must be an integer in 0..{MAX_BALLAST_MB}")
        return int(value)
    if name == "latency_ms":
        if not 0 <= value <= MAX_LATENCY_MS:
            raise ChaosError(f"latency_ms must be in 0..{MAX_LATENCY_MS:g}")
        return float(value)
    if name == "cpu_burn":
        if not 0 <= value <= MAX_BURN_CORES:
            raise ChaosError(f"cpu_burn must be in 0..{MAX_BURN_CORES} (CPU cores)")
        return float(value)
    if not 0 <= value <= 1:
        raise ChaosError(f"{name} must be in 0..1")
    return float(value)


class CpuBurner:
    """Daemon threads keeping ``cores`` CPU cores busy (e.g. 1.5: one full, one half).

    More than one core is allowed so the CPU alert can be proven on a host busy with other
    work, where one thread alone may not get 70% of a core.
    """

    def __init__(self) -> None:
        self.cores = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def set(self, cores: float) -> None:
        """Change the load; 0 stops the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1.0)
        self._threads = []
        self.cores = cores
        if cores <= 0:
            return
        self._stop = threading.Event()
        count = math.ceil(cores)
        for n in range(count):
            thread = threading.Thread(
                target=self._run, args=(self._stop, cores / count), name=f"chaos-cpu-burn-{n}",
                daemon=True,
            )  # fmt: skip
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _run(stop: threading.Event, fraction: float) -> None:
        # Budget in thread CPU time, not wall time, so a busy host still gets the asked load.
        while not stop.is_set():
            start = time.perf_counter()
            budget = time.thread_time() + _BURN_PERIOD * fraction
            deadline = start + _BURN_PERIOD
            while time.thread_time() < budget and time.perf_counter() < deadline:
                if stop.is_set():
                    return
                hashlib.sha256(_BURN_CHUNK).digest()
            stop.wait(max(0.0, deadline - time.perf_counter()))


class Chaos:
    """The live chaos state of this process."""

    def __init__(self) -> None:
        self.config = ChaosConfig()
        self._burner = CpuBurner()
        self._ballast = bytearray()

    @property
    def active(self) -> bool:
        """Whether any per-request chaos is configured (the fast path checks this)."""
        return self.config.error_rate > 0 or self.config.latency_ms > 0

    def update(self, changes: dict[str, Any]) -> ChaosConfig:
        """Merge changes into the config and apply the resource effects."""
        new = self.config.merged(changes)
        self._apply(new)
        return new

    def clear(self) -> ChaosConfig:
        """Back to no chaos at all; frees the ballast and stops the burner."""
        self._apply(ChaosConfig())
        return self.config

    def _apply(self, new: ChaosConfig) -> None:
        self._burner.set(new.cpu_burn)
        if new.memory_ballast_mb != len(self._ballast) // 2**20:
            self._ballast = bytearray()  # release first so resizing never holds both
            self._ballast = _ballast(new.memory_ballast_mb)
        self.config = new

    def latency_for(self, endpoint: str) -> float:
        """Seconds to delay this request (0 for none)."""
        cfg = self.config
        if cfg.latency_ms <= 0 or not cfg.applies_to(endpoint):
            return 0.0
        if cfg.latency_fraction < 1 and random.random() >= cfg.latency_fraction:
            return 0.0
        return cfg.latency_ms / 1000.0

    def should_fail(self, endpoint: str) -> bool:
        """Whether to answer this request with an injected 500."""
        cfg = self.config
        return cfg.error_rate > 0 and cfg.applies_to(endpoint) and random.random() < cfg.error_rate

    def describe(self) -> dict[str, Any]:
        """The config plus what is really held right now."""
        return {**asdict(self.config), "ballast_bytes": len(self._ballast)}


def _ballast(megabytes: int) -> bytearray:
    """Allocate and touch every page, so the memory shows up in RSS rather than staying lazy."""
    size = megabytes * 2**20
    buf = bytearray(size)
    if size:
        buf[::4096] = b"\x01" * len(range(0, size, 4096))
    return buf
