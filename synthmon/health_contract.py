"""A service's health contract as data (``Project.health``): which endpoint, which HTTP codes
and overall status values, and which entry of the answer reports on which dependency.

A leaf (it imports only synthmon.errors), so the project description can hold it; the judges
that read a health answer against it are in :mod:`synthmon.health`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from synthmon.errors import ConfigError

#: a JSON scalar a health answer may hold where a status is expected
JsonScalar = str | bool | int | float | None
MISSING = object()  # lookup()'s answer for an absent key


def _values(raw: object) -> frozenset[JsonScalar]:
    """``raw`` as a set of values: one scalar, or any iterable of them (a YAML list)."""
    if isinstance(raw, str | bool | int | float) or raw is None:
        return frozenset({raw})
    if isinstance(raw, Iterable):
        return frozenset(raw)
    raise ConfigError(f"expected a value or a list of values, got {raw!r}")


def _codes(raw: object) -> frozenset[int]:
    codes = frozenset({raw}) if isinstance(raw, int) else frozenset(_values(raw))
    if not codes or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        raise ConfigError(f"expected an HTTP status code or a list of them, got {raw!r}")
    return codes  # type: ignore[return-value]


def _check_path(path: object, what: str) -> None:
    if not isinstance(path, str) or not path or any(not key for key in path.split(".")):
        raise ConfigError(f"{what}: {path!r} is not a dotted JSON path such as 'checks.database'")


def lookup(body: object, path: str) -> object:
    """The value at dotted ``path`` in ``body`` (``MISSING`` when a key is absent)."""
    value: object = body
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return MISSING
        value = value[key]
    return value


def one_of(value: object, allowed: frozenset[JsonScalar]) -> bool:
    """``value`` in ``allowed``, types compared too (``1`` is not ``True``)."""
    return any(type(value) is type(a) and value == a for a in allowed)


def show(values: Iterable[object]) -> str:
    return " or ".join(sorted(repr(v) for v in values))


def at_path(path: str, value: object) -> str:
    return f"no {path}" if value is MISSING else f"{path}={value!r}"


@dataclass(frozen=True)
class HealthEntry:
    """One entry of a health answer, reporting on one dependency (the key it has in
    :attr:`HealthContract.entries`, a service name of the project).

    ``path``: dotted JSON path of the entry's value (``checks.database``,
    ``dependencies.redis.ok``). ``healthy``: the value(s) meaning "up" (one value or a list;
    anything else, present, means "down"). ``down_status``: the overall status value(s) the
    contract promises while only this dependency is down (``unhealthy`` for a database the
    service cannot work without); ``None``: any of the contract's ``unhealthy_values``.
    """

    path: str
    healthy: frozenset[JsonScalar] = frozenset({"healthy"})
    down_status: frozenset[JsonScalar] | None = None

    def __post_init__(self) -> None:
        _check_path(self.path, "health entry")
        object.__setattr__(self, "healthy", _values(self.healthy))
        if self.down_status is not None:
            object.__setattr__(self, "down_status", _values(self.down_status))


@dataclass(frozen=True)
class HealthContract:
    """What the service's health endpoint promises, as data (``Project.health``).

    - ``path``: the endpoint, e.g. ``/health`` or ``/healthz``.
    - ``healthy_status``: the HTTP code while everything is up (default 200).
    - ``unhealthy_status``: the HTTP code(s) while a dependency is down (default 503; one code
      or a list).
    - ``status_field``: dotted JSON path of the overall status (default ``status``; ``None``:
      the answer has none, only the HTTP code tells).
    - ``healthy_values`` / ``unhealthy_values``: its value(s) while everything is up / while a
      dependency is down (defaults ``healthy`` / ``degraded``, ``unhealthy``).
    - ``entries``: dependency service name (a service of the project, not the target) →
      :class:`HealthEntry` (the JSON path of its entry and its healthy value(s)).
    - ``timestamp_field`` / ``version_field``: optional dotted paths of an ISO 8601 UTC
      timestamp and a non-empty version string the answer must carry.

    The reference example's: ``HealthContract("/health", entries={"postgres":
    HealthEntry("checks.database", down_status="unhealthy"), "redis":
    HealthEntry("checks.redis", down_status="degraded"), ...})``.
    """

    path: str
    entries: Mapping[str, HealthEntry] = field(default_factory=dict)
    healthy_status: int = 200
    unhealthy_status: int | frozenset[int] = 503
    status_field: str | None = "status"
    healthy_values: frozenset[JsonScalar] = frozenset({"healthy"})
    unhealthy_values: frozenset[JsonScalar] = frozenset({"degraded", "unhealthy"})
    timestamp_field: str | None = None
    version_field: str | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ConfigError(f"health contract: path {self.path!r} must start with '/'")
        object.__setattr__(self, "unhealthy_status", _codes(self.unhealthy_status))
        object.__setattr__(self, "healthy_values", _values(self.healthy_values))
        object.__setattr__(self, "unhealthy_values", _values(self.unhealthy_values))
        if self.healthy_status in self.unhealthy_codes:
            raise ConfigError(
                f"health contract: HTTP {self.healthy_status} is both healthy and unhealthy"
            )
        if self.healthy_values & self.unhealthy_values:
            both = show(self.healthy_values & self.unhealthy_values)
            raise ConfigError(f"health contract: status {both} is both healthy and unhealthy")
        for name in ("status_field", "timestamp_field", "version_field"):
            if getattr(self, name) is not None:
                _check_path(getattr(self, name), f"health contract {name}")
        for dependency, entry in self.entries.items():
            if not isinstance(entry, HealthEntry):
                raise ConfigError(f"health contract: entry {dependency!r} is not a HealthEntry")

    @property
    def unhealthy_codes(self) -> frozenset[int]:
        """``unhealthy_status`` as a set."""
        return _codes(self.unhealthy_status)

    def entry(self, dependency: str) -> HealthEntry:
        """The entry reporting on ``dependency``."""
        if dependency not in self.entries:
            have = ", ".join(self.entries) or "none"
            raise ConfigError(f"health contract: no entry for {dependency!r} (have: {have})")
        return self.entries[dependency]
