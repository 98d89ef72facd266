"""One typed, frozen settings object built from pytest options, ``SYNTHMON_*`` env and defaults.

Every option is declared once in :data:`OPTIONS`; the plugin turns that table into pytest
options and this module turns the parsed values into :class:`Settings`. Nothing reads the
environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from synthmon.errors import ConfigError

StackKind = Literal["processes", "external"]
STACK_KINDS: tuple[str, ...] = ("processes", "external")


@dataclass(frozen=True)
class Option:
    """A setting as the user sees it: ``--name`` on the command line, ``SYNTHMON_NAME`` in env."""

    name: str
    help: str
    default: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "SYNTHMON_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("stack", "stack backend: processes (embedded, default) or external", "processes"),
    Option("run_dir", "directory for run directories (logs, results)", ".synthmon/runs"),
    Option("time_scale", "divide rule for:/windows and Alertmanager intervals by this", "60"),
    Option("startup_timeout", "seconds each stack service gets to become ready", "60"),
    Option("http_timeout", "seconds for every HTTP request the checks make", "5"),
    Option("target_url", "base URL of the service under test (external stack)"),
    Option("prometheus_url", "Prometheus base URL (external stack)"),
    Option("alertmanager_url", "Alertmanager base URL (external stack)"),
    Option("load_profile", "load profile of the SLO gate's Locust run", "baseline"),
    Option("load_profiles", "load profiles file", "load/profiles.yaml"),
    Option("load_workers", "Locust worker processes (0: one local process)", "0"),
    Option("slo_spec", "SLO spec file the gate evaluates", "slo/baseline.yaml"),
    Option("grafana_url", "Grafana base URL; its health check is skipped when unset"),
    Option("otel_url", "OpenTelemetry collector health URL; skipped when unset"),
)


def _url(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: expected an http(s) URL like http://host:port, got {value!r}")
    return value.rstrip("/")


def _positive(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a number > 0, got {value!r}") from None
    if not number > 0:
        raise ConfigError(f"{name}: expected a number > 0, got {value!r}")
    return number


def _count(name: str, value: str) -> int:
    if not value.isdigit():
        raise ConfigError(f"{name}: expected a whole number >= 0, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """What one run needs to know; validated on creation so bad values fail before any start."""

    stack: StackKind = "processes"
    run_dir: Path = Path(".synthmon/runs")
    time_scale: float = 60.0
    startup_timeout: float = 60.0
    http_timeout: float = 5.0
    load_profile: str = "baseline"
    load_profiles: Path = Path("load/profiles.yaml")
    load_workers: int = 0
    slo_spec: Path = Path("slo/baseline.yaml")
    target_url: str | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    grafana_url: str | None = None
    otel_url: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.stack not in STACK_KINDS:
            raise ConfigError(
                f"{self.where('stack')}: expected one of {', '.join(STACK_KINDS)}, "
                f"got {self.stack!r}"
            )
        if self.stack == "external":
            missing = [n for n in ("target_url", "prometheus_url") if getattr(self, n) is None]
            if missing:
                raise ConfigError(
                    "--stack external needs " + " and ".join(f"{self.where(n)}" for n in missing)
                )

    def where(self, name: str) -> str:
        """Where a setting came from, for error messages (``--time-scale`` or ``SYNTHMON_…``)."""
        return self.sources.get(name, name)

    @classmethod
    def from_values(
        cls, lookup: Callable[[Option], str | None], environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build from option values (``lookup``), falling back to ``SYNTHMON_*`` then defaults."""
        env = os.environ if environ is None else environ
        raw: dict[str, str | None] = {}
        sources: dict[str, str] = {}
        for opt in OPTIONS:
            value = lookup(opt)
            sources[opt.name] = opt.flag
            if value is None and env.get(opt.env):
                value, sources[opt.name] = env[opt.env], opt.env
            raw[opt.name] = value if value is not None else opt.default

        def num(name: str) -> float:
            return _positive(sources[name], str(raw[name]))

        kwargs: dict[str, Any] = {
            "stack": raw["stack"],
            "run_dir": Path(str(raw["run_dir"])),
            "time_scale": num("time_scale"),
            "startup_timeout": num("startup_timeout"),
            "http_timeout": num("http_timeout"),
            "load_profile": str(raw["load_profile"]),
            "load_profiles": Path(str(raw["load_profiles"])),
            "load_workers": _count(sources["load_workers"], str(raw["load_workers"])),
            "slo_spec": Path(str(raw["slo_spec"])),
            "sources": sources,
        }
        for name in ("target_url", "prometheus_url", "alertmanager_url", "grafana_url", "otel_url"):
            kwargs[name] = _url(sources[name], raw[name])
        return cls(**kwargs)
