"""Load profiles (``load/profiles.yaml``): what a Locust run does, validated before it starts.

Users edit the file by hand, so every problem is reported as one line naming the file and the
field (``load/profiles.yaml: profiles.smoke.users: expected an integer ≥ 1, got 0``) instead of
surfacing as a Locust traceback minutes into a run. No Locust import here: the locustfile and
the pytest process both read profiles.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from synthmon.errors import ConfigError
from synthmon.load.capacity_profile import CAPACITY, CapacitySpec, capacity_spec
from synthmon.yamlfile import parse_yaml, read_text

#: Seconds the shape waits past ``ramp_s`` for "all users spawned" before it starts the steady
#: phase anyway and marks the run invalid (a loaded generator host can spawn late).
RAMP_GRACE_S = 5.0

_FIELDS = ("users", "spawn_rate", "ramp_s", "steady_s", "target_rps", "wait")
_CONSTANT_THROUGHPUT = "constant_throughput"


@dataclass(frozen=True)
class LoadProfile:
    """One named load shape: ramp to ``users`` at ``spawn_rate``, then hold for ``steady_s``.

    ``constant_throughput`` paces every user at ``target_rps / users`` tasks per second (one
    request per task), so the offered rate does not fall when the server slows down.
    Otherwise each user waits uniformly between ``wait_min_s`` and ``wait_max_s``.
    """

    name: str
    users: int
    spawn_rate: float
    ramp_s: float
    steady_s: float
    target_rps: float | None = None
    wait_min_s: float = 0.0
    wait_max_s: float = 0.0
    constant_throughput: bool = False
    capacity: CapacitySpec | None = None  # kind: capacity (the fields above: its first step)

    @property
    def per_user_rps(self) -> float | None:
        """Tasks per second per user under constant throughput, else None."""
        if not self.constant_throughput or self.target_rps is None:
            return None
        return self.target_rps / self.users

    @property
    def max_run_s(self) -> float:
        """Longest the shape can run: ramp plus its grace, plus the steady phase."""
        return self.ramp_s + RAMP_GRACE_S + self.steady_s

    def to_json(self) -> str:
        """Serialised for the locustfile (passed in the environment of the Locust process)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LoadProfile:
        doc = json.loads(text)
        if doc.get("capacity") is not None:
            doc["capacity"] = CapacitySpec(**doc["capacity"])
        return cls(**doc)

    def at_rate(self, rps: float, name: str | None = None) -> LoadProfile:
        """A fixed-rate profile at ``rps`` (one step of a capacity search, or its acceptance
        runs): constant throughput, ``capacity.users_per_rps`` users per req/s, held
        ``settle_s + step_s``. Users spawn at ``rps`` per second, so over one pacing period:
        started together, paced users stay in phase and send bursts, not a rate."""
        spec = self.capacity
        if spec is None:
            raise ConfigError(f"profile {self.name}: at_rate needs kind: {CAPACITY}")
        users = max(1, math.ceil(rps * spec.users_per_rps))
        return LoadProfile(
            name or f"{self.name}@{rps:g}",
            users,
            float(rps),
            users / rps,
            spec.settle_s + spec.step_s,
            float(rps),
            constant_throughput=True,
        )


def load_profiles(path: str | Path) -> dict[str, LoadProfile]:
    """All profiles in ``path``; ConfigError (one line, file and field) on any bad value."""
    where = str(path)
    doc = parse_yaml(read_text(path, "load profiles"), where)
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), dict):
        raise ConfigError(f"{where}: profiles: expected a mapping of profile name to settings")
    if not doc["profiles"]:
        raise ConfigError(f"{where}: profiles: expected at least one profile")
    extra = sorted(str(k) for k in doc if k != "profiles")
    if extra:
        raise ConfigError(f"{where}: {extra[0]}: unknown top-level key (expected only profiles)")
    return {str(name): _profile(where, str(name), spec) for name, spec in doc["profiles"].items()}


def _profile(where: str, name: str, spec: Any) -> LoadProfile:
    at = f"{where}: profiles.{name}"
    if isinstance(spec, dict) and "kind" in spec:
        if spec["kind"] != CAPACITY:
            raise ConfigError(f"{at}.kind: expected {CAPACITY} (or no kind), got {spec['kind']!r}")
        search = capacity_spec(at, spec)
        shell = LoadProfile(name, 1, 1.0, 1.0, 1.0, capacity=search)
        return replace(shell.at_rate(search.start_rps, name), capacity=search)
    if not isinstance(spec, dict):
        raise ConfigError(f"{at}: expected a mapping with {', '.join(_FIELDS[:4])}")
    unknown = sorted(str(k) for k in spec if k not in _FIELDS)
    if unknown:
        raise ConfigError(
            f"{at}.{unknown[0]}: unknown field (expected one of {', '.join(_FIELDS)})"
        )
    for required in ("users", "spawn_rate", "ramp_s", "steady_s"):
        if required not in spec:
            raise ConfigError(f"{at}.{required}: missing")
    users = spec["users"]
    if isinstance(users, bool) or not isinstance(users, int) or users < 1:
        raise ConfigError(f"{at}.users: expected an integer ≥ 1, got {users!r}")
    spawn_rate = _number(at, "spawn_rate", spec["spawn_rate"], minimum=0.0, strict=True)
    ramp_s = _number(at, "ramp_s", spec["ramp_s"], minimum=0.0, strict=False)
    steady_s = _number(at, "steady_s", spec["steady_s"], minimum=0.0, strict=True)
    needed = users / spawn_rate
    if ramp_s < needed - 1e-9:
        raise ConfigError(
            f"{at}.ramp_s: {ramp_s:g} s is too short to spawn {users} users at {spawn_rate:g}/s "
            f"(needs ≥ {math.ceil(needed * 10) / 10:g} s)"
        )
    target = spec.get("target_rps")
    target_rps = None if target is None else _number(at, "target_rps", target, 0.0, strict=True)
    wait = spec.get("wait", {"min_s": 1.0, "max_s": 1.0})
    if wait == _CONSTANT_THROUGHPUT:
        if target_rps is None:
            raise ConfigError(f"{at}.target_rps: required when wait is {_CONSTANT_THROUGHPUT}")
        return LoadProfile(name, users, spawn_rate, ramp_s, steady_s, target_rps, 0.0, 0.0, True)
    if not isinstance(wait, dict) or set(wait) != {"min_s", "max_s"}:
        raise ConfigError(
            f"{at}.wait: expected {_CONSTANT_THROUGHPUT} or a mapping {{min_s, max_s}},"
            f" got {wait!r}"
        )
    low = _number(at, "wait.min_s", wait["min_s"], minimum=0.0, strict=False)
    high = _number(at, "wait.max_s", wait["max_s"], minimum=0.0, strict=False)
    if high < low:
        raise ConfigError(f"{at}.wait.max_s: expected ≥ wait.min_s ({low:g}), got {high:g}")
    return LoadProfile(name, users, spawn_rate, ramp_s, steady_s, target_rps, low, high, False)


def _number(at: str, field: str, value: Any, minimum: float, strict: bool) -> float:
    """A finite number above (strict) or at least ``minimum``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= minimum if strict else value < minimum):
        bound = f"> {minimum:g}" if strict else f"≥ {minimum:g}"
        raise ConfigError(f"{at}.{field}: expected a number {bound}, got {value!r}")
    return float(value)
