"""The schema of the project file, ``synthmon.yaml``: its pydantic models.

Unknown keys are errors (a typo must not switch a check off). :mod:`synthmon.projectfile` reads
a file with them and builds the plain :class:`synthmon.project.Project` from the result.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from synthmon.amconfig.policy import Inhibition, Policy, PolicyRule, check_reach
from synthmon.health_contract import HealthContract, HealthEntry
from synthmon.traces.attribution import Investigation
from synthmon.traces.expect import SpanExpectation, TraceCheck

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Receivers = list[Literal["pagerduty", "slack", "email", "webhook"]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- services ----------------------------------------------------------------------------------


class ServiceModel(_Model):
    """One service of the stack: the service under test or a dependency."""

    kind: Literal[
        "command", "postgres", "redis", "fake_upstream", "compose", "jaeger", "victorialogs"
    ] = Field(
        description="command: run `command`; postgres, redis: synthmon runs it; fake_upstream: "
        "synthmon's generic HTTP fake upstream with `routes`; compose: a service of the "
        "`compose:` files (only with --stack compose); jaeger: Jaeger v2 (OTLP in, traces in "
        "memory, query API; ${NAME.url} is its OTLP/HTTP base, ${NAME.query.url}, "
        "${NAME.health.url}, ${NAME.otlp_grpc.port} its other ports); victorialogs: a log store "
        "(OTLP logs; ${NAME.url})"
    )
    command: list[str] | None = Field(None, min_length=1, description="argv (processes backend)")
    image: str | None = Field(
        None, description="the image setting (--image-NAME) of the containers backend"
    )
    image_command: list[str] | None = Field(None, description="argv after the image's entrypoint")
    database: str | None = Field(None, description="postgres: the database to create")
    routes: str | None = Field(None, description="fake_upstream: its routes file")
    env: dict[str, str] = Field(default_factory=dict)
    health_path: str | None = Field(
        None, pattern=r"^/", description="HTTP readiness probe; none: a TCP connect to its port"
    )
    depends_on: list[str] = Field(
        default_factory=list, description="started before this one; the links a fault may cut"
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="the port it listens on inside its container"
    )
    url: str | None = Field(None, description="how checks reach it; default by kind")

    @model_validator(mode="after")
    def _kind_fields(self) -> ServiceModel:
        needs = {"command": "command", "postgres": "database", "fake_upstream": "routes"}
        if self.kind in needs and getattr(self, needs[self.kind]) is None:
            if self.kind == "command" and self.image is not None:
                raise ValueError(
                    "a command service needs `command:` (the processes backend runs it) as well "
                    "as `image:`"
                )
            what = (
                "neither image nor command" if self.kind == "command" else "no " + needs[self.kind]
            )
            raise ValueError(f"kind {self.kind} with {what}: give `{needs[self.kind]}:`")
        allowed = {
            "command": {"command", "image", "image_command"},
            "postgres": {"database", "image"},
            "redis": {"image"},
            "fake_upstream": {"routes"},
            "compose": {"image"},  # the image setting replacing its build: (when it exists)
            "jaeger": {"image"},
            "victorialogs": {"image"},
        }[self.kind]
        for key in ("command", "image", "image_command", "database", "routes"):
            if key not in allowed and getattr(self, key) is not None:
                raise ValueError(f"`{key}:` does not apply to kind {self.kind}")
        if self.image_command is not None and self.image is None:
            raise ValueError("`image_command:` needs `image:`")
        return self


# -- monitoring, policy, health -----------------------------------------------------------------


class MonitoringModel(_Model):
    """The project's monitoring files as they are in its repository."""

    prometheus_yml: str
    rules: str | list[str] = Field(description="a directory of *.yml, or a list of globs")
    alertmanager_yml: str
    templates: str | None = Field(None, description="directory of Alertmanager templates")
    dashboards: str | None = Field(None, description="Grafana dashboard JSON file or directory")
    path_map: dict[str, str] = Field(
        default_factory=dict,
        description="absolute paths the production configs name → files or directories here",
    )
    scrape: dict[str, str | None] = Field(
        default_factory=dict,
        description="prometheus.yml job name → the service it scrapes in the test stack (null: "
        "not scraped); default: a service named like the job",
    )
    unscaled_windows: list[str] = Field(
        default_factory=list,
        description="alert or record names whose range windows (and offsets) stay as written in "
        "the time-scaled test copy; their for:/keep_firing_for still scale",
    )


class PolicyRuleModel(_Model):
    """Alerts matching every one of `match` must reach each of `reach`."""

    match: list[str] = Field(
        min_length=1,
        description='Alertmanager matchers on the alert\'s labels, e.g. severity="critical"',
    )
    reach: list[str] = Field(
        min_length=1,
        description="integrations (pagerduty, slack, email, webhook, ...) or receiver:NAME",
    )

    @field_validator("match")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        PolicyRule.parse(value, ())
        return value

    @field_validator("reach")
    @classmethod
    def _reach(cls, value: list[str]) -> list[str]:
        return [check_reach(r) for r in value]

    def rule(self) -> PolicyRule:
        return PolicyRule.parse(self.match, self.reach)


class InhibitionModel(_Model):
    """While alert `source` fires, alert `target` is held back by an inhibit rule."""

    source: str
    target: str
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="labels both alerts carry from their series (e.g. service), for `equal:`",
    )


class PolicyModel(_Model):
    """Who must be told of which alert; checked against alertmanager.yml (synthmon routes diff)."""

    always_firing: list[str] = Field(
        default_factory=list, description="alerts that fire all the time (dead man's switch)"
    )
    rules: list[PolicyRuleModel] = Field(default_factory=list)
    fires_when_healthy: dict[str, str] = Field(
        default_factory=dict,
        description="alert → why it fires in a healthy test stack (e.g. it needs history a "
        "fresh stack lacks); every other alert that fires without a fault is a false positive",
    )

    inhibitions: list[InhibitionModel] = Field(default_factory=list)

    def policy(self) -> Policy:
        return Policy(
            tuple(r.rule() for r in self.rules),
            tuple(self.always_firing),
            dict(self.fires_when_healthy),
            tuple(Inhibition(i.source, i.target, dict(i.labels)) for i in self.inhibitions),
        )


Scalar = str | bool | int | float | None
Values = Scalar | list[Scalar]


class HealthEntryModel(_Model):
    """One entry of the health answer, reporting on one dependency (its key: a service)."""

    path: str = Field(description="dotted JSON path of the entry, e.g. checks.database")
    healthy: Values = Field("healthy", description="the value(s) meaning up")
    down_status: Values = Field(
        None, description="the overall status while only this dependency is down"
    )


class HealthModel(_Model):
    """The target's health contract: endpoint, HTTP codes, overall status and which entry
    reports on which dependency (each is stopped in turn by checks/test_health_contract.py)."""

    path: str = Field("/health", pattern=r"^/")
    healthy_status: int = Field(200, ge=100, le=599)
    unhealthy_status: int | list[int] = 503
    status_field: str | None = "status"
    healthy_values: Values = "healthy"
    unhealthy_values: Values = ["degraded", "unhealthy"]
    timestamp_field: str | None = None
    version_field: str | None = None
    entries: dict[str, HealthEntryModel] = Field(default_factory=dict)

    def contract(self) -> HealthContract:
        codes = self.unhealthy_status
        return HealthContract(
            path=self.path,
            entries={
                name: HealthEntry(
                    e.path,
                    healthy=_set(e.healthy),
                    down_status=None if e.down_status is None else _set(e.down_status),
                )
                for name, e in self.entries.items()
            },
            healthy_status=self.healthy_status,
            unhealthy_status=frozenset(codes) if isinstance(codes, list) else codes,
            status_field=self.status_field,
            healthy_values=_set(self.healthy_values),
            unhealthy_values=_set(self.unhealthy_values),
            timestamp_field=self.timestamp_field,
            version_field=self.version_field,
        )


def _set(values: Values) -> frozenset[Scalar]:
    """One YAML value or a list of them, as a set."""
    return frozenset(values) if isinstance(values, list) else frozenset({values})


class ComposeModel(_Model):
    """The user's docker-compose files as the stack (--stack compose)."""

    files: list[str] = Field(min_length=1, description="compose files, relative to this file")
    env_files: list[str] = Field(default_factory=list, description="Compose --env-file files")
    profiles: list[str] = Field(default_factory=list, description="Compose profiles to enable")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="variables for Compose's interpolation (win over .env); may use "
        "${secret:NAME}, ${env:VAR} and ${NAME.url|host|port}",
    )
    prometheus: str = Field("prometheus", description="the compose service running Prometheus")
    alertmanager: str = Field("alertmanager", description="the compose service of Alertmanager")
    pushgateway: str | None = Field(None, description="the compose service of the Pushgateway")
    drop: list[str] = Field(default_factory=list, description="compose services not started")
    toxiproxy: str | None = Field(
        None,
        description="the compose service of your own Toxiproxy: link faults drive it (their "
        "`proxy:` names its proxy) instead of synthmon's fault proxy",
    )


class LogAllowModel(_Model):
    """A problem line the project's own faults make the target log on purpose."""

    pattern: str = Field(
        min_length=1,
        description="a regular expression searched in the line as the log check quotes it "
        "(TIME LEVEL TEXT (FIELDS)), or in the raw line of the app's log file",
    )
    why: str = Field(min_length=1, description="why the run makes the target log it")


class TelemetryModel(_Model):
    """Where the target's traces and logs go, for the trace and log checks."""

    service_name: str = Field(
        min_length=1, description="the target's OpenTelemetry service.name (OTEL_SERVICE_NAME)"
    )
    traces: str | None = Field(
        None, description="the jaeger service holding the traces (compose: its compose service)"
    )
    logs: str | None = Field(
        None, description="the victorialogs service holding the logs (compose: its service)"
    )
    logs_api: Literal["victorialogs", "loki"] = Field(
        "victorialogs", description="the log store's query API"
    )
    logs_query: str | None = Field(
        None,
        min_length=1,
        description='the query selecting the target\'s lines; default: service.name:"NAME" '
        '(LogsQL) or {service_name="NAME"} (Loki)',
    )
    trace_checks: list[TraceCheck] = Field(
        default_factory=list,
        description="requests to the target whose trace must hold these spans (the traces "
        "checks): [{request: 'GET /api/tasks/1', spans: [{kind: server}, {attributes: "
        "{db.system: postgresql}}]}]",
    )
    logs_allow: list[LogAllowModel] = Field(
        default_factory=list,
        description="ERROR/CRITICAL/FATAL or out-of-memory lines the log analysis expects (the "
        "scenarios' faults cause them); every other one fails it",
    )


class LoadModel(_Model):
    locustfile: str
    profiles: str


class SloModel(_Model):
    spec: str


class VersionsModel(_Model):
    prometheus: str | None = None
    alertmanager: str | None = None


class EnvironmentModel(_Model):
    """A deployed environment (nightly runs): its URLs and where its credentials are."""

    target_url: str
    prometheus_url: str
    alertmanager_url: str | None = None
    pushgateway_url: str | None = None
    bearer_token_env: str | None = Field(None, description="env variable holding the token")
    basic_auth_user: str | None = None
    basic_auth_password_env: str | None = None
    otel_url: str | None = Field(
        None, description="the collector's health URL (the runbook's 13133)"
    )
    jaeger_url: str | None = Field(
        None, description="Jaeger's query API base (the runbook's 16686)"
    )
    logs_url: str | None = Field(None, description="the log store's base URL")
    logs_api: Literal["victorialogs", "loki"] | None = Field(
        None, description="the log store's query API (default victorialogs)"
    )


# -- scenarios -----------------------------------------------------------------------------------


class HttpCallModel(_Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(pattern=r"^/")
    json_body: Any = Field(None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)


class TrafficModel(HttpCallModel):
    per_second: float = Field(gt=0, le=1000)
    service: str | None = Field(None, description="default: the target")


class HttpFaultModel(HttpCallModel):
    undo: HttpCallModel | None = None
    service: str | None = Field(None, description="default: the target")


class PushModel(_Model):
    job: str
    instance: str
    metrics: str


class UpstreamModel(_Model):
    service: str
    route: str
    status: int | None = Field(None, ge=100, le=599)
    delay_ms: float | None = Field(None, ge=0)
    remaining: int | None = Field(None, ge=0)


#: the attributes each toxic takes (Toxiproxy's names and units: ms, KB/s)
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "bandwidth": ("rate",),
    "down": (),
}
_ATTRIBUTES = ("latency", "jitter", "timeout", "rate")


class LinkModel(_Model):
    """A toxic on the link from a service (`from`, default the target) to its dependency `to`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    to: str = Field(description="a service in the `from` service's depends_on")
    toxic: Literal["latency", "timeout", "reset_peer", "bandwidth", "down"]
    source: str | None = Field(None, alias="from", description="default: the target")
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0, le=1, description="the share of connections affected")
    latency: int | None = Field(None, ge=0, description="latency: ms added")
    jitter: int | None = Field(None, ge=0, description="latency: ± ms")
    timeout: int | None = Field(None, ge=0, description="timeout, reset_peer: ms")
    rate: int | None = Field(None, ge=0, description="bandwidth: KB/s")
    proxy: str | None = Field(
        None, description="the proxy's name in your own Toxiproxy (needs compose.toxiproxy)"
    )

    @field_validator(*_ATTRIBUTES)
    @classmethod
    def _applies(cls, value: int | None, info: ValidationInfo) -> int | None:
        toxic = info.data.get("toxic")
        allowed = TOXIC_ATTRIBUTES.get(str(toxic), _ATTRIBUTES)
        if value is not None and info.field_name not in allowed:
            raise ValueError(
                f"does not apply to toxic {toxic} (it takes: {', '.join(allowed) or 'nothing'})"
            )
        return value

    def attributes(self) -> dict[str, float]:
        return {k: v for k in _ATTRIBUTES if (v := getattr(self, k)) is not None}


class FaultModel(_Model):
    """Exactly one key: the kind of fault."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )
    stop: str | None = Field(None, description="stop a service (SIGTERM); restarted after")
    kill: str | None = Field(None, description="kill a service (SIGKILL); restarted after")
    pause: str | None = Field(None, description="pause a service (SIGSTOP); resumed after")
    traffic: TrafficModel | None = None
    http: HttpFaultModel | None = Field(None, description="a service's own fault endpoint")
    push: PushModel | None = Field(None, description="metrics pushed to the Pushgateway")
    upstream: UpstreamModel | None = Field(None, description="the fake upstream's route")
    link: LinkModel | None = Field(None, description="a toxic on a link to a dependency")

    @model_validator(mode="after")
    def _one_kind(self) -> FaultModel:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            kinds = ", ".join(type(self).model_fields)
            raise ValueError(
                f"a fault is exactly one of {kinds} (got {', '.join(given) or 'none'})"
            )
        return self


class InvestigateModel(_Model):
    """While the fault holds and the alert fires, the slowest traces of ``endpoint`` must show
    ``span`` carrying the added latency (the runbook's "review traces in Jaeger")."""

    endpoint: str = Field(
        min_length=1, description="the endpoint's server span name, e.g. GET /api/orders/{id}"
    )
    span: SpanExpectation = Field(description="the span expected to carry the latency")
    traces: int = Field(5, ge=1, le=50, description="how many of the slowest traces are judged")

    @field_validator("span")
    @classmethod
    def _some_span(cls, span: SpanExpectation) -> SpanExpectation:
        if not (span.name or span.service or span.kind or span.attributes):
            raise ValueError("give name, service, kind or attributes: it would match any span")
        return span

    def investigation(self) -> Investigation:
        return Investigation(self.endpoint, self.span, self.traces)


class ScenarioModel(_Model):
    alert: str | None = Field(
        None,
        min_length=1,
        description="the alert it causes; default: its key (a second scenario of one alert "
        "needs a key of its own and `alert:`)",
    )
    cause: str = Field(min_length=1, description="what the report's 'Inject fault' step says")
    faults: list[FaultModel] = Field(min_length=1, description="applied together")
    known_failure: str | None = Field(
        None,
        min_length=1,
        description="why this scenario cannot pass yet: it runs as a strict xfail (a pass fails)",
    )
    investigate: InvestigateModel | None = Field(
        None, description="the span the slowest traces must show carrying the latency"
    )


class ProjectModel(_Model):
    """synthmon.yaml: the service under test, its dependencies, monitoring and promises."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, title="synthmon project file (synthmon.yaml)"
    )
    name: str = Field(min_length=1)
    services: dict[Name, ServiceModel] = Field(min_length=1)
    target: str = Field(description="the service under test")
    health: HealthModel = Field(default_factory=lambda: HealthModel.model_validate({}))
    monitoring: MonitoringModel
    scrape_jobs: list[str] = Field(description="jobs Prometheus must scrape before checks start")
    policy: PolicyModel | None = None
    compose: ComposeModel | None = None
    telemetry: TelemetryModel | None = Field(
        None, description="where the target's traces and logs go (none: no trace/log checks)"
    )
    load: LoadModel | None = Field(None, description="none: the load run is skipped")
    slo: SloModel | None = Field(None, description="none: the SLO gate is skipped")
    secrets: list[Name] = Field(default_factory=list, description="random values of each run")
    secret_headers: list[str] = Field(default_factory=list, description="masked in reports")
    versions: VersionsModel = Field(default_factory=lambda: VersionsModel.model_validate({}))
    environments: dict[Name, EnvironmentModel] = Field(default_factory=dict)
    scenarios: dict[str, ScenarioModel] = Field(default_factory=dict)
    no_scenario: dict[str, str] = Field(default_factory=dict, description="alert → why none")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of synthmon.yaml (for editors; docs/synthmon.schema.json)."""
    schema = ProjectModel.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
