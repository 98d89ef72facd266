"""The project under test, as plain data: its services, monitoring files and promises.

synthmon knows no service of its own. A project names what to start (each service's command,
env, probe and image), where its Prometheus config, rules, alertmanager.yml, templates and
dashboards are, its load and SLO files, what its alerts' routing promises and which fault
causes each alert. It is built from a project file, ``synthmon.yaml``
(:mod:`synthmon.projectfile`), and everything here is plain data.

Placeholders in a service's ``argv``, ``env`` and ``url`` (expanded when a stack starts; the
project file's ``${...}`` syntax is translated to these): ``{host}``, ``{port}`` (its own),
``{port:NAME}``, ``{url:NAME}`` (another service's), ``{python}`` (this interpreter),
``{project}`` (the project's directory), ``{secret:NAME}`` (a random value of this run, one of
``secrets``, masked in every output) and ``{env:VAR}`` (the user's environment variable VAR,
read when the stack starts, masked too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthmon.amconfig.policy import Policy
from synthmon.errors import ConfigError
from synthmon.health_contract import HealthContract
from synthmon.logstore.allow import LogAllow
from synthmon.traces.attribution import Investigation
from synthmon.traces.expect import TraceCheck

ServiceKind = Literal["command", "postgres", "redis", "compose", "jaeger", "victorialogs"]
SERVICE_KINDS: tuple[str, ...] = (
    "command",
    "postgres",
    "redis",
    "compose",
    "jaeger",
    "victorialogs",
)
#: a kind's ports besides its own (``{port:NAME}``, its url's): ``{port:NAME_<port>}`` each; a
#: jaeger service's own port is OTLP/HTTP (what OTEL_EXPORTER_OTLP_ENDPOINT takes)
KIND_PORTS: Mapping[str, tuple[str, ...]] = {
    "jaeger": ("otlp_grpc", "query", "query_grpc", "health"),
}
LOGS_APIS: tuple[str, ...] = ("victorialogs", "loki")
# the monitoring stack synthmon adds itself: a project's service may not take these names
BUILTIN_SERVICES = frozenset({"sinks", "pushgateway", "alertmanager", "prometheus", "faultproxy"})


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
    depends_on: tuple[str, ...] = ()  # started before it; the links a fault proxy may sit on
    # compose: the port it listens on inside its container (published on 127.0.0.1 for checks)
    port: int | None = None
    upstream_routes: Path | None = None  # kind fake_upstream: synthmon.upstream's routes file

    def port_names(self) -> tuple[str, ...]:
        """The names of its ports in a run: its own, then ``NAME_<port>`` of its kind's others."""
        return (self.name, *(named_port(self.name, p) for p in KIND_PORTS.get(self.kind, ())))

    def __post_init__(self) -> None:
        where = f"service {self.name!r}"
        if not self.name.isidentifier():
            raise ConfigError(f"{where}: a service name must be an identifier")
        if self.name in BUILTIN_SERVICES:
            raise ConfigError(f"{where}: synthmon runs {', '.join(sorted(BUILTIN_SERVICES))}")
        if self.kind not in SERVICE_KINDS:
            raise ConfigError(f"{where}: kind {self.kind!r} is not one of {SERVICE_KINDS}")
        if self.kind == "command" and not self.argv and self.upstream_routes is None:
            raise ConfigError(f"{where}: a command service needs argv")
        if self.kind == "postgres" and not self.database:
            raise ConfigError(f"{where}: a postgres service needs the database to create")


def named_port(service: str, port: str) -> str:
    """The run's name of ``service``'s port ``port`` (one of its kind's :data:`KIND_PORTS`)."""
    return f"{service}_{port}"


@dataclass(frozen=True)
class Telemetry:
    """Where the target's traces and logs go: ``traces``/``logs`` name the services holding
    them (a jaeger or victorialogs service; on compose, the compose service's name),
    ``service_name`` is the target's OTel ``service.name``, ``logs_query`` the log store's query
    selecting the target's lines (LogsQL, or LogQL for ``logs_api: loki``)."""

    service_name: str
    traces: str | None = None
    logs: str | None = None
    logs_api: str = "victorialogs"
    logs_query: str = ""
    #: requests whose traces must hold the given spans (the ``traces`` checks)
    trace_checks: tuple[TraceCheck, ...] = ()
    logs_allow: tuple[LogAllow, ...] = ()  # the problem lines the project's faults cause

    def __post_init__(self) -> None:
        if self.logs_api not in LOGS_APIS:
            raise ConfigError(
                f"telemetry.logs_api: expected one of {LOGS_APIS}, got {self.logs_api!r}"
            )
        if not self.logs_query:
            quoted = self.service_name.replace("\\", "\\\\").replace('"', '\\"')
            query = (
                f'service.name:"{quoted}"'
                if self.logs_api == "victorialogs"
                else f'{{service_name="{quoted}"}}'
            )
            object.__setattr__(self, "logs_query", query)


@dataclass(frozen=True)
class Monitoring:
    """The project's monitoring files, as in its repository (synthmon renders test copies).

    ``prometheus_yml`` is the production file (its test copy:
    :mod:`synthmon.stack.prometheus_config`), or a ``string.Template`` naming
    ``$scrape_interval``, ``$evaluation_interval``, ``$scrape_timeout``, ``$rules_dir`` and
    ``$NAME_address`` (host:port) of every service. ``scrape``: job name → the service it
    scrapes in the test stack (``None``: not scraped); default: a service named like the job.
    ``unscaled_windows``: rules whose range windows are not time-scaled (``for:`` still is).
    """

    prometheus_yml: Path
    rules_dir: Path
    alertmanager_yml: Path
    templates_dir: Path
    dashboards: Path | None  # None: none (the --dashboards option's default stands)
    rule_globs: tuple[str, ...] = ("*.yml",)  # the rule files: these globs under rules_dir
    # absolute paths the production configs name → files of the repository (test copies only)
    path_map: Mapping[str, Path] = field(default_factory=dict)
    scrape: Mapping[str, str | None] = field(default_factory=dict)
    # alert/record names whose expression keeps its windows in the time-scaled copy
    unscaled_windows: frozenset[str] = frozenset()

    def rule_files(self) -> tuple[Path, ...]:
        """Every rule file, sorted, each once."""
        found = {p for pattern in self.rule_globs for p in self.rules_dir.glob(pattern)}
        return tuple(sorted(p for p in found if p.is_file()))


# -- the faults that cause alerts, as data (applied by synthmon.faults.Faults.apply) ----------
# Strings in paths, headers, JSON bodies and pushed metrics may hold ``${secret:NAME}`` and
# ``${env:VAR}``; pushed metrics also ``${now}`` (unix seconds when it is pushed).


@dataclass(frozen=True)
class ServiceFault:
    """``action`` (stop: SIGTERM, kill: SIGKILL, pause: SIGSTOP) on a service; undone after."""

    action: Literal["stop", "kill", "pause"]
    service: str


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request to a service of the stack (``path`` relative to its URL)."""

    method: str
    path: str
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrafficFault:
    """``request`` sent ``per_second`` times a second to ``service`` while the fault holds."""

    service: str
    request: HttpCall
    per_second: float


@dataclass(frozen=True)
class HttpFault:
    """A service's own fault endpoint (a chaos API): ``call`` now, ``undo`` afterwards."""

    service: str
    call: HttpCall
    undo: HttpCall | None = None


@dataclass(frozen=True)
class PushFault:
    """``metrics`` (text format) pushed to the Pushgateway as group job/instance; deleted after."""

    job: str
    instance: str
    metrics: str


@dataclass(frozen=True)
class UpstreamFault:
    """The fake upstream ``service``'s ``route`` set to answer ``status`` after ``delay_ms``
    (``PUT /_fake/routes/{route}``; ``*``: every route) and its quota to ``remaining``
    (``PUT /_fake/quota``); put back after with ``POST /_fake/reset`` (synthmon.upstream)."""

    service: str
    route: str
    status: int | None = None
    delay_ms: float | None = None
    remaining: int | None = None


ToxicKind = Literal["latency", "timeout", "reset_peer", "bandwidth", "down"]


@dataclass(frozen=True)
class LinkFault:
    """A toxic on the path from ``source`` (default: the target) to its dependency ``to``, put
    there by a fault proxy with no help from either: synthmon's own (synthmon.faultproxy) or the
    stack's Toxiproxy. Names and units are Toxiproxy's: ``latency``/``jitter`` and ``timeout``
    in ms, ``rate`` in KB/s; ``stream`` downstream (to the client) or upstream; ``toxicity``
    the share of connections affected; ``down``: the link refuses connections."""

    to: str
    toxic: ToxicKind
    source: str = ""
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, float] = field(default_factory=dict)
    proxy: str = ""  # the proxy's name in the stack's own Toxiproxy (compose.toxiproxy)


FaultSpec = ServiceFault | TrafficFault | HttpFault | PushFault | UpstreamFault | LinkFault


@dataclass(frozen=True)
class Scenario:
    """Alert ``alert`` is caused by ``faults`` (applied together); ``cause`` is the report's
    "Inject fault" text; ``known_failure``: why it cannot pass yet (run as a strict xfail)."""

    alert: str
    cause: str
    faults: tuple[FaultSpec, ...]
    known_failure: str | None = None  # why it cannot pass yet: a strict xfail
    key: str = ""  # its key in scenarios: (the test id); "" = the alert's name
    investigate: Investigation | None = None  # the span its slowest traces must blame

    @property
    def id(self) -> str:
        """The scenario's name: its key, which is the alert's unless one alert has two."""
        return self.key or self.alert


@dataclass(frozen=True)
class Environment:
    """A deployed environment for nightly runs: its URLs, and the names of the environment
    variables that hold its credentials (never the values)."""

    name: str
    target_url: str
    prometheus_url: str
    alertmanager_url: str | None = None
    pushgateway_url: str | None = None
    bearer_token_env: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password_env: str | None = None
    # its telemetry (the runbook's 13133 health, 16686 query API, the log store)
    otel_url: str | None = None
    jaeger_url: str | None = None
    logs_url: str | None = None
    logs_api: str | None = None


@dataclass(frozen=True)
class ComposeSpec:
    """The user's docker-compose files as the stack (``--stack compose``), run as they are plus
    an override synthmon generates. ``env``: variables for Compose's interpolation (their
    ``.env`` still applies; these win), e.g. an upstream's URL pointed at synthmon's fake one.
    ``prometheus``/``alertmanager``/``pushgateway``: the compose services running them (their
    config mounts get the test copies); ``drop``: services not started (e.g. Grafana);
    ``toxiproxy``: the service of their own Toxiproxy, which link faults then drive (each names
    its proxy there) instead of synthmon putting a proxy of its own on the link."""

    files: tuple[Path, ...]
    env_files: tuple[Path, ...] = ()
    profiles: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    prometheus: str = "prometheus"
    alertmanager: str = "alertmanager"
    pushgateway: str | None = None
    drop: tuple[str, ...] = ()
    toxiproxy: str | None = None  # their Toxiproxy service: link faults drive it, no proxy of ours


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
    locustfile: Path | None  # None: no `load:` (the load run is skipped, saying so)
    load_profiles: Path | None
    slo_spec: Path | None  # None: no `slo:` (the SLO gate is skipped, saying so)
    scrape_jobs: tuple[str, ...]  # jobs Prometheus must have scraped before checks start
    health_path: str = "/health"
    health_checks: tuple[str, ...] = ()  # entries of the target's health answer
    secrets: tuple[str, ...] = ()  # random per-run values, for {secret:NAME}
    secret_headers: tuple[str, ...] = ()  # HTTP headers always masked in reports
    health: HealthContract | None = None
    scenarios: tuple[Scenario, ...] = ()  # alert → the faults that cause it
    no_scenario: Mapping[str, str] = field(default_factory=dict)  # alert → why none
    versions: Mapping[str, str] = field(default_factory=dict)  # pinned tool versions (recorded)
    environments: Mapping[str, Environment] = field(default_factory=dict)
    source: Path | None = None  # the project file it was read from
    policy: Policy | None = None  # who must be paged for which alert (synthmon.amconfig.policy)
    compose: ComposeSpec | None = None  # the user's compose files (--stack compose)
    telemetry: Telemetry | None = None  # where the target's traces and logs go

    def __post_init__(self) -> None:
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ConfigError(f"project {self.name}: duplicate service names in {names}")
        ports = [p for s in self.services for p in s.port_names()]
        clash = sorted({p for p in ports if ports.count(p) > 1})
        if clash:
            raise ConfigError(f"project {self.name}: service names clash with ports: {clash}")
        self._check_telemetry()
        if self.target not in names:
            raise ConfigError(f"project {self.name}: target {self.target!r} is not in {names}")
        for dependency in self.health.entries if self.health else ():
            if dependency not in names or dependency == self.target:
                raise ConfigError(
                    f"project {self.name}: health entry {dependency!r} names no dependency "
                    f"(have: {', '.join(n for n in names if n != self.target)})"
                )

    def _check_telemetry(self) -> None:
        """``telemetry.traces``/``logs`` name a service of the right kind (or, on compose, any)."""
        t = self.telemetry
        for key, kind in (("traces", "jaeger"), ("logs", "victorialogs")):
            name = getattr(t, key) if t is not None else None
            if name is None:
                continue
            found = next((s for s in self.services if s.name == name), None)
            if found is None and self.compose is None:
                have = [s.name for s in self.services if s.kind == kind]
                raise ConfigError(
                    f"project {self.name}: telemetry.{key}: {name!r} is no service "
                    f"(have {kind} services: {', '.join(have) or 'none'})"
                )
            if found is not None and found.kind not in (kind, "compose"):
                raise ConfigError(
                    f"project {self.name}: telemetry.{key}: {name!r} is a {found.kind} "
                    f"service, expected kind {kind}"
                )

    def telemetry_service(self, key: Literal["traces", "logs"]) -> ServiceSpec | None:
        """The project's service holding the traces (``traces``) or logs, if one runs here."""
        name = getattr(self.telemetry, key) if self.telemetry is not None else None
        return next((s for s in self.services if s.name == name), None)

    def service(self, name: str) -> ServiceSpec:
        """The service called ``name``."""
        for spec in self.services:
            if spec.name == name:
                return spec
        raise ConfigError(f"project {self.name}: no service {name!r}")

    def links(self) -> frozenset[tuple[str, str]]:
        """Every (from, to) link a scenario puts a toxic on: the fault proxy's proxies."""
        return frozenset(
            (f.source or self.target, f.to)
            for s in self.scenarios
            for f in s.faults
            if isinstance(f, LinkFault)
        )

    def scenario(self, name: str) -> Scenario:
        """The scenario called ``name`` (its key: the alert it causes, unless that has two)."""
        for scenario in self.scenarios:
            if scenario.id == name:
                return scenario
        raise ConfigError(f"project {self.name}: no scenario {name!r}")
