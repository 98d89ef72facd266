"""Where and how a figure was measured: the machine, its confinement, the profile and the spec.

A capacity (or a P95) measured on 4 cores says nothing about a release measured on 2, nor a
knee found with another load profile or other thresholds. The report records this fingerprint
so that a regression gate compares like with like, and says "cannot be vouched for" otherwise.

Machine fields are read from ``/proc`` and ``/sys`` (under ``root``, so tests can plant a tree):
cores, CPU model, the CPUs this process may use, the tightest cgroup CPU quota of its cgroup
and ancestors (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), and whether it runs in a container.
The profile and spec enter as hashes of their normalised definitions: the name, path and
description are left out (renaming a profile does not change the traffic) and 40 == 40.0.
The synthmon version is recorded and shown, not compared: an upgrade alone must not disable
the gate (a change of method is announced in the release notes, not guessed from a version).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from synthmon import __version__
from synthmon.errors import ConfigError

#: Top-level keys of a definition that do not change what is measured.
_NOT_DEFINITION = frozenset({"name", "path", "description"})
#: Files and environment variables that say "this is a container", first match wins.
_CONTAINER_FILES = (("run/.containerenv", "podman"), (".dockerenv", "docker"))
_CONTAINER_ENV = (("KUBERNETES_SERVICE_HOST", "kubernetes"), ("container", ""))
_CPU_MODEL_KEYS = ("model name", "Model", "Hardware", "cpu model")
#: Compared fields and how a message names them; profile and spec may be unknown (None).
COMPARED = {
    "cores": "cores",
    "cpu_model": "CPU model",
    "cpuset": "CPU set",
    "cpu_quota_cores": "cgroup CPU quota (cores)",
    "container": "container",
    "setup": "setup",
    "profile_hash": "load profile",
    "spec_hash": "SLO spec",
}
_MAY_BE_UNKNOWN = ("profile_hash", "spec_hash")
#: The type of each field in a report, and how an error message says it.
_KINDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "cores": (int, "an integer"),
    "cpu_model": (str, "a string"),
    "cpuset": (str, "a string"),
    "cpu_quota_cores": ((int, float), "a number or null"),
    "container": (str, "a string"),
    "profile_hash": (str, "a string or null"),
    "spec_hash": (str, "a string or null"),
    "synthmon_version": (str, "a string"),
}


@dataclass(frozen=True)
class Fingerprint:
    """The machine, confinement, profile and spec one report's figures were measured with."""

    cores: int
    cpu_model: str
    cpuset: str  # the CPUs this process may run on, e.g. "0-1"
    cpu_quota_cores: float | None  # None: no cgroup CPU quota
    container: str  # "none", "docker", "podman", "kubernetes", ...
    profile_hash: str | None = None  # None: not known to the writer
    spec_hash: str | None = None
    synthmon_version: str = __version__
    setup: Mapping[str, str] = field(default_factory=dict)  # e.g. {"app_cpu_quota": "0.5"}

    def to_dict(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["setup"] = dict(sorted(self.setup.items()))
        return doc

    @classmethod
    def from_dict(cls, doc: object, where: str) -> Fingerprint:
        """As :meth:`to_dict` writes it; one-line ConfigError naming the key otherwise."""
        if not isinstance(doc, dict):
            raise ConfigError(f"{where}: expected an object, got {doc!r:.80}")
        values: dict[str, Any] = {}
        for key, (kind, what) in _KINDS.items():
            value = doc.get(key)
            nullable = value is None and "null" in what
            if not nullable and (not isinstance(value, kind) or isinstance(value, bool)):
                raise ConfigError(f"{where}.{key}: expected {what}, got {value!r:.80}")
            values[key] = value
        setup = doc.get("setup", {})
        if not isinstance(setup, dict) or not all(isinstance(v, str) for v in setup.values()):
            raise ConfigError(f"{where}.setup: expected an object of strings, got {setup!r:.80}")
        return cls(**values, setup={str(k): v for k, v in setup.items()})


def differences(base: Fingerprint, now: Fingerprint) -> tuple[list[str], list[str]]:
    """(fields that differ, fields one side does not know), each as a short phrase."""
    differ, unknown = [], []
    for key, label in COMPARED.items():
        old, new = getattr(base, key), getattr(now, key)
        if key in _MAY_BE_UNKNOWN and (old is None or new is None):
            side = "baseline" if old is None else "current run"
            unknown.append(f"the {side} does not record its {label}")
        elif old != new:
            differ.append(f"{label} {_show(old)} -> {_show(new)}")
    return differ, unknown


def _show(value: object) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={v}" for k, v in sorted(value.items())) + "}"
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def definition_hash(definition: object) -> str | None:
    """A short stable hash of a profile's or spec's definition (None for None)."""
    if definition is None:
        return None
    plain = _plain(definition)
    if isinstance(plain, dict):
        plain = {k: v for k, v in plain.items() if k not in _NOT_DEFINITION}
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: object) -> Any:
    """JSON-able data of ``value``, numbers normalised (40 and 40.0 hash the same)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # a Path, an enum


def machine_fingerprint(
    profile: object = None,
    spec: object = None,
    *,
    setup: Mapping[str, str] | None = None,
    root: Path = Path("/"),
    affinity: Iterable[int] | None = None,
) -> Fingerprint:
    """This machine's fingerprint, with the hashes of ``profile`` and ``spec`` (when known)."""
    cpus = sorted(os.sched_getaffinity(0) if affinity is None else affinity)
    return Fingerprint(
        cores=_cores(root),
        cpu_model=_cpu_model(root),
        cpuset=_ranges(cpus),
        cpu_quota_cores=cgroup_cpu_quota(root),
        container=_container(root),
        profile_hash=definition_hash(profile),
        spec_hash=definition_hash(spec),
        setup=dict(setup or {}),
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cores(root: Path) -> int:
    text = _read(root / "proc/cpuinfo") or ""
    counted = sum(1 for line in text.splitlines() if line.split(":")[0].strip() == "processor")
    return counted or os.cpu_count() or 1


def _cpu_model(root: Path) -> str:
    for line in (_read(root / "proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in _CPU_MODEL_KEYS and value.strip():
            return " ".join(value.split())
    return platform.processor() or platform.machine() or "unknown"


def _ranges(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (the kernel's own list format)."""
    runs: list[tuple[int, int]] = []
    for cpu in cpus:
        if runs and runs[-1][1] == cpu - 1:
            runs[-1] = (runs[-1][0], cpu)
        else:
            runs.append((cpu, cpu))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _container(root: Path) -> str:
    for name, kind in _CONTAINER_FILES:
        if (root / name).exists():
            return kind
    for variable, kind in _CONTAINER_ENV:
        if os.environ.get(variable):
            return kind or os.environ[variable]
    return "none"


def cgroup_cpu_quota(root: Path = Path("/")) -> float | None:
    """The tightest CPU quota (in cores) of this process's cgroup and its ancestors, or None.

    Ancestors count because a quota on a parent (a container's, a systemd slice's) confines
    every child. A path missing under the mount (a cgroup namespace) falls back to the mount's
    root, which is then this process's own view of its cgroup."""
    quotas: list[float] = []
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",")
        if controllers == "":
            mounts, files = [root / "sys/fs/cgroup", root / "sys/fs/cgroup/unified"], "cpu.max"
        elif "cpu" in names:
            mounts = [root / "sys/fs/cgroup" / controllers, root / "sys/fs/cgroup/cpu"]
            files = "cpu.cfs_quota_us"
        else:
            continue
        for mount in mounts:
            for folder in _ancestors(mount, path):
                quota = _quota(folder, files)
                if quota is not None:
                    quotas.append(quota)
    return round(min(quotas), 3) if quotas else None


def _ancestors(mount: Path, path: str) -> list[Path]:
    parts = PurePosixPath(path.strip() or "/").parts[1:]
    folders = [mount.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]
    return [f for f in folders if f.is_dir()]


def _quota(folder: Path, name: str) -> float | None:
    if name == "cpu.max":
        quota, _, period = (_read(folder / name) or "max").strip().partition(" ")
    else:
        quota = (_read(folder / name) or "-1").strip()
        period = (_read(folder / "cpu.cfs_period_us") or "100000").strip()
    try:
        value, length = int(quota), int(period or "100000")
    except ValueError:  # "max": no quota
        return None
    return value / length if value > 0 and length > 0 else None
