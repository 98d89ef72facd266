"""The project under test, as plain data: its services, monitoring files and promises.

synthmon knows no service of its own. A project names what to start (each service's command,
env, probe and image), where its Prometheus config, rules, alertmanager.yml, templates and
dashboards are, its load and SLO files, and what its alerts' routing promises. Today a project
is a Python description file (``synthmon_project.py`` exposing ``project``); a YAML front end
can build the same objects, so everything here except ``faults`` is data.

Placeholders in a service's ``argv``, ``env`` and ``url`` (expanded when a stack starts):
``{host}``, ``{port}`` (its own), ``{port:NAME}``, ``{url:NAME}`` (another service's),
``{python}`` (this interpreter), ``{project}`` (the project's directory) and
``{secret:NAME}`` (a random value of this run, one of ``secrets``, masked in every output).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthmon.errors import ConfigError
from synthmon.health_contract import HealthContract

DESCRIPTION_FILE = "synthmon_project.py"
ServiceKind = Literal["command", "postgres", "redis"]
SERVICE_KINDS: tuple[str, ...] = ("command", "postgres", "redis")
# the monitoring stack synthmon adds itself: a project's service may not take these names
BUILTIN_SERVICES = frozenset({"sinks", "pushgateway", "alertmanager", "prometheus"})
# a fault of the project: called with the run's Faults and keyword arguments
Fault = Callable[..., AbstractContextManager[object]]


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the project's stack: a command, or a dependency of a kind synthmon knows.

    ``image`` names the image setting (``--image-NAME``) the containers backend runs it from,
    with ``image_argv`` after the image's entrypoint; ``None`` keeps it a local process on
    both backends (a stand-in for a SaaS upstream plays the internet, not the stack).
    """

    name: str
    kind: ServiceKind = "command"
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: tuple[str, ...] = ()
    health_path: str | None = None  # HTTP readiness probe; None: a TCP connect to its port
    image: str | None = None
    image_argv: tuple[str, ...] = ()
    database: str = ""  # postgres: created once it is ready
    url: str = "http://{host}:{port}"  # how checks reach it (Stack.urls[name])

    def __post_init__(self) -> None:
        where = f"service {self.name!r}"
        if not self.name.isidentifier():
            raise ConfigError(f"{where}: a service name must be an identifier")
        if self.name in BUILTIN_SERVICES:
            raise ConfigError(f"{where}: synthmon runs {', '.join(sorted(BUILTIN_SERVICES))}")
        if self.kind not in SERVICE_KINDS:
            raise ConfigError(f"{where}: kind {self.kind!r} is not one of {SERVICE_KINDS}")
        if self.kind == "command" and not self.argv:
            raise ConfigError(f"{where}: a command service needs argv")
        if self.kind == "postgres" and not self.database:
            raise ConfigError(f"{where}: a postgres service needs the database to create")


@dataclass(frozen=True)
class Monitoring:
    """The project's monitoring files, as in its repository (synthmon renders test copies).

    ``prometheus_yml`` is a ``string.Template``: ``$scrape_interval``, ``$evaluation_interval``,
    ``$scrape_timeout``, ``$rules_dir`` and ``$NAME_address`` (host:port) of every service.
    """

    prometheus_yml: Path
    rules_dir: Path
    alertmanager_yml: Path
    templates_dir: Path
    dashboards: Path


@dataclass(frozen=True)
class Routing:
    """What the alert routing promises: which sink kinds (pagerduty, slack, email, webhook)
    an alert reaches, by the value of its ``label``, or by name for always-firing alerts."""

    label: str
    receivers: Mapping[str, frozenset[str]]
    always_firing: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def expected(self, name: str, labels: Mapping[str, str]) -> frozenset[str]:
        """The sink kinds alert ``name`` with ``labels`` must reach."""
        if name in self.always_firing:
            return self.always_firing[name]
        value = labels.get(self.label, "")
        if value not in self.receivers:
            raise ConfigError(
                f"alert {name}: label {self.label}={value!r} has no receivers in the project's "
                f"routing (have: {', '.join(sorted(self.receivers))})"
            )
        return self.receivers[value]


@dataclass(frozen=True)
class Project:
    """Everything synthmon needs to know about the service under test and its monitoring.

    ``health``: what the target's health endpoint promises (:class:`HealthContract`: ``path``,
    ``healthy_status``, ``unhealthy_status``, ``status_field``, ``healthy_values``,
    ``unhealthy_values``, ``timestamp_field``, ``version_field`` and ``entries``: dependency
    service name → :class:`~synthmon.health_contract.HealthEntry` ``path``, ``healthy``,
    ``down_status``); each entry's service is stopped in turn by checks/test_health_contract.py.
    ``None``: only ``health_path``/``health_checks`` are read, while everything is up.
    """

    name: str
    root: Path
    services: tuple[ServiceSpec, ...]
    target: str  # the service under test (Stack.app_url)
    monitoring: Monitoring
    routing: Routing
    locustfile: Path
    load_profiles: Path
    slo_spec: Path
    scrape_jobs: tuple[str, ...]  # jobs Prometheus must have scraped before checks start
    health_path: str = "/health"
    health_checks: tuple[str, ...] = ()  # entries of the target's health answer
    secrets: tuple[str, ...] = ()  # random per-run values, for {secret:NAME}
    secret_headers: tuple[str, ...] = ()  # HTTP headers always masked in reports
    faults: Mapping[str, Fault] = field(default_factory=dict)
    health: HealthContract | None = None

    def __post_init__(self) -> None:
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ConfigError(f"project {self.name}: duplicate service names in {names}")
        if self.target not in names:
            raise ConfigError(f"project {self.name}: target {self.target!r} is not in {names}")
        for dependency in self.health.entries if self.health else ():
            if dependency not in names or dependency == self.target:
                raise ConfigError(
                    f"project {self.name}: health entry {dependency!r} names no dependency "
                    f"(have: {', '.join(n for n in names if n != self.target)})"
                )

    def service(self, name: str) -> ServiceSpec:
        """The service called ``name``."""
        for spec in self.services:
            if spec.name == name:
                return spec
        raise ConfigError(f"project {self.name}: no service {name!r}")

    def fault(self, name: str) -> Fault:
        """The project's fault ``name``."""
        if name not in self.faults:
            have = ", ".join(sorted(self.faults)) or "none"
            raise ConfigError(f"project {self.name}: no fault {name!r} (have: {have})")
        return self.faults[name]


def load_project(path: Path | str) -> Project:
    """The ``project`` a description file defines; ``path`` is the file or its directory.

    The file runs with its directory on ``sys.path``, so it can import its sibling modules.
    """
    file = Path(path).resolve()
    if file.is_dir():
        file = file / DESCRIPTION_FILE
    if not file.is_file():
        raise ConfigError(f"{path}: no project here (expected a directory with {DESCRIPTION_FILE})")
    spec = importlib.util.spec_from_file_location(f"_synthmon_project_{abs(hash(file))}", file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{file}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.parent))
    try:
        spec.loader.exec_module(module)
    except ConfigError:
        raise
    except Exception as exc:  # the description file is code: any error is the project's
        raise ConfigError(f"{file}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(file.parent))
    found: Any = getattr(module, "project", None)
    if not isinstance(found, Project):
        raise ConfigError(f"{file}: expected `project = Project(...)`, got {type(found).__name__}")
    return found
