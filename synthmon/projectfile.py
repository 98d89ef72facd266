"""The project file, ``synthmon.yaml``: what synthmon needs to know about a service, as data.

Parsed with PyYAML, validated with pydantic (unknown keys are errors: a typo must not switch a
check off), then built into the plain :class:`synthmon.project.Project`. Every problem is one
line, ``<file>: <key path>: <what is wrong>``. Paths in the file are relative to it.

Placeholders, in a service's ``command``, ``image_command``, ``env`` and ``url``:

- ``${NAME.host}``, ``${NAME.port}``, ``${NAME.url}``: service NAME of this project (its host,
  its port, how it is reached); ``${self.host}``, ``${self.port}``: the service's own;
- ``${secret:NAME}``: a random value of this run (masked in every output; NAME is added to
  ``secrets``); ``${env:VAR}``: the user's environment variable VAR, read when the stack starts
  (an environment secret: masked too);
- ``${python}``: the interpreter synthmon runs on; ``${project}``: the project file's directory;
  ``$$``: a literal ``$``.

In scenario faults (paths, headers, JSON bodies, pushed metrics): ``${secret:NAME}``,
``${env:VAR}`` and, in pushed metrics, ``${now}`` (unix seconds at the push).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthmon.amconfig.policy import Inhibition, Policy, PolicyRule, check_reach
from synthmon.errors import ConfigError
from synthmon.health_contract import HealthContract, HealthEntry
from synthmon.project import (
    BUILTIN_SERVICES,
    Environment,
    FaultSpec,
    HttpCall,
    HttpFault,
    Monitoring,
    Project,
    PushFault,
    Scenario,
    ServiceFault,
    ServiceKind,
    ServiceSpec,
    TrafficFault,
    UpstreamFault,
)
from synthmon.yamlfile import parse_yaml, read_text

PROJECT_FILE = "synthmon.yaml"
#: the command of ``kind: fake_upstream`` (synthmon's generic HTTP fake upstream)
UPSTREAM_ARGV = ("{python}", "-m", "synthmon.upstream", "--host", "{host}", "--port", "{port}")
PLACEHOLDER = re.compile(r"\$\$|\$\{([^}]*)\}")
_SERVICE_REF = re.compile(r"(\w+)\.(host|port|url)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFAULT_URLS = {
    "postgres": "postgresql://postgres@{host}:{port}/{database}",
    "redis": "redis://{host}:{port}/0",
}
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Receivers = list[Literal["pagerduty", "slack", "email", "webhook"]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- services ----------------------------------------------------------------------------------


class ServiceModel(_Model):
    """One service of the stack: the service under test or a dependency."""

    kind: Literal["command", "postgres", "redis", "fake_upstream"] = Field(
        description="command: run `command`; postgres, redis: synthmon runs it; fake_upstream: "
        "synthmon's generic HTTP fake upstream with `routes`"
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
    depends_on: list[str] = Field(default_factory=list, description="started before this one")
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

    @model_validator(mode="after")
    def _one_kind(self) -> FaultModel:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            kinds = ", ".join(type(self).model_fields)
            raise ValueError(
                f"a fault is exactly one of {kinds} (got {', '.join(given) or 'none'})"
            )
        return self


class ScenarioModel(_Model):
    cause: str = Field(min_length=1, description="what the report's 'Inject fault' step says")
    faults: list[FaultModel] = Field(min_length=1, description="applied together")
    known_failure: str | None = Field(
        None,
        min_length=1,
        description="why this scenario cannot pass yet: it runs as a strict xfail (a pass fails)",
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
    load: LoadModel
    slo: SloModel
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


# -- reading -------------------------------------------------------------------------------------


class ProjectFileError(ConfigError):
    """A project file with problems: ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = (
            f" (and {len(problems) - 1} more: run `synthmon validate`)" if len(problems) > 1 else ""
        )
        super().__init__(problems[0] + more if problems else "")


def find_project_file(path: Path | str) -> Path:
    """``path`` itself, or ``path/synthmon.yaml`` for a directory."""
    file = Path(path)
    if file.is_dir():
        file = file / PROJECT_FILE
    if not file.is_file():
        raise ConfigError(
            f"{path}: no project here (expected {PROJECT_FILE} or a directory with it)"
        )
    return file.resolve()


def _loc(loc: Iterable[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _message(error: Mapping[str, Any]) -> str:
    kind, msg = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown key (a typo?)"
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", ""))
        choices = expected.replace(" or ", ", ").replace("'", "")
        return f"expected one of {choices}, got {error['input']!r}"
    if kind == "missing":
        return "required key missing"
    return msg.removeprefix("Value error, ")


def parse(file: Path) -> ProjectModel:
    """The validated model of ``file``; ProjectFileError with one line per schema problem."""
    doc = parse_yaml(read_text(file, "project file"), str(file))
    try:
        return ProjectModel.model_validate(doc if doc is not None else {})
    except ValidationError as exc:
        raise ProjectFileError(
            [f"{file}: {_loc(e['loc'])}: {_message(e)}" for e in exc.errors()]
        ) from None


def _translate(text: str, where: str, own: str, services: Mapping[str, ServiceModel]) -> str:
    """``${...}`` placeholders → the stack's ``{...}`` ones; ValueError naming a bad one."""

    def one(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner is None:  # $$
            return "$"
        if inner in ("python", "project"):
            return "{" + inner + "}"
        if inner.startswith(("secret:", "env:")):
            kind, _, name = inner.partition(":")
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{where}: ${{{inner}}}: expected ${{{kind}:NAME}}")
            return "{" + kind + ":" + name + "}"
        ref = _SERVICE_REF.fullmatch(inner)
        if ref is None:
            raise ValueError(
                f"{where}: ${{{inner}}} is not a placeholder (have: ${{NAME.host}}, ${{NAME.port}},"
                " ${NAME.url}, ${self.port}, ${secret:NAME}, ${env:VAR}, ${python}, ${project})"
            )
        name, attr = ref.groups()
        if name == "self":
            if attr == "url":
                raise ValueError(f"{where}: ${{self.url}}: a service's url is its own `url:`")
            return "{" + attr + "}"
        if name not in services:
            raise ValueError(
                f"{where}: ${{{inner}}} names no service (have: {', '.join(services)})"
            )
        if name == own and attr == "url":
            raise ValueError(f"{where}: ${{{inner}}}: a service's url is its own `url:`")
        return "{host}" if attr == "host" else "{" + attr + ":" + name + "}"

    return PLACEHOLDER.sub(one, text)


def start_order(services: Mapping[str, ServiceModel]) -> tuple[list[str], list[str]]:
    """(names in start order: each after what it depends on, else in file order; problems)."""
    problems = [
        f"services.{name}.depends_on: {dep!r} is not a service (have: {', '.join(services)})"
        for name, spec in services.items()
        for dep in spec.depends_on
        if dep not in services
    ]
    order: list[str] = []
    pending = dict(services)
    while pending:
        ready = [
            n
            for n, s in pending.items()
            if all(d in order or d not in services for d in s.depends_on)
        ]
        if not ready:
            cycle = _cycle(
                {n: [d for d in s.depends_on if d in pending] for n, s in pending.items()}
            )
            problems.append(f"services.{cycle[0]}.depends_on: a cycle: {' -> '.join(cycle)}")
            order.extend(pending)
            break
        order.append(ready[0])
        del pending[ready[0]]
    return order, problems


def _cycle(graph: Mapping[str, list[str]]) -> list[str]:
    node, seen = next(iter(graph)), []
    while node not in seen:
        seen.append(node)
        node = graph[node][0]
    return [*seen[seen.index(node) :], node]


def _path(root: Path, text: str) -> Path:
    return (root / os.path.expanduser(text)).resolve()


def _call(model: HttpCallModel) -> HttpCall:
    return HttpCall(model.method, model.path, model.json_body, dict(model.headers))


def _fault(model: FaultModel, target: str) -> FaultSpec:
    for action in ("stop", "kill", "pause"):
        service = getattr(model, action)
        if service is not None:
            return ServiceFault(action, service)
    if model.traffic is not None:
        t = model.traffic
        return TrafficFault(t.service or target, _call(t), t.per_second)
    if model.http is not None:
        h = model.http
        return HttpFault(h.service or target, _call(h), _call(h.undo) if h.undo else None)
    if model.push is not None:
        return PushFault(model.push.job, model.push.instance, model.push.metrics)
    assert model.upstream is not None  # _one_kind: exactly one is set
    u = model.upstream
    return UpstreamFault(u.service, u.route, u.status, u.delay_ms, u.remaining)


def fault_services(spec: FaultSpec) -> tuple[str, ...]:
    """The services of the project a fault acts on."""
    if isinstance(spec, PushFault):
        return ()
    return (spec.service,)


def build(file: Path, model: ProjectModel) -> Project:
    """The :class:`Project` of a schema-valid ``model``; ProjectFileError, one line a problem."""
    root = file.parent
    problems: list[str] = []
    order, order_problems = start_order(model.services)
    problems += order_problems
    services: list[ServiceSpec] = []
    secrets = list(model.secrets)
    for name in order:
        spec = model.services[name]
        where = f"services.{name}"
        try:
            services.append(_service(name, spec, model.services, root, secrets))
        except (ValueError, ConfigError) as exc:
            problems.append(f"{where}: {exc}" if isinstance(exc, ConfigError) else str(exc))
    if model.target not in model.services:
        problems.append(
            f"target: {model.target!r} is not a service (have: {', '.join(model.services)})"
        )
    scenarios = []
    for alert, scenario in model.scenarios.items():
        faults = tuple(_fault(f, model.target) for f in scenario.faults)
        for n, fault in enumerate(faults):
            for service in fault_services(fault):
                if service not in model.services:
                    problems.append(
                        f"scenarios.{alert}.faults.{n}: {service!r} is not a service "
                        f"(have: {', '.join(model.services)})"
                    )
        scenarios.append(Scenario(alert, scenario.cause, faults, scenario.known_failure))
        if alert in model.no_scenario:
            problems.append(f"no_scenario.{alert}: the alert has a scenario too")
    for alert in model.policy.always_firing if model.policy is not None else ():
        if alert in model.scenarios:
            problems.append(f"scenarios.{alert}: an always-firing alert has its own check")
    problems += _scenario_secrets(model, secrets)
    if problems:
        raise ProjectFileError([f"{file}: {p}" for p in problems])
    mon = model.monitoring
    globs: tuple[str, ...]
    if isinstance(mon.rules, str):
        rules_dir, globs = _path(root, mon.rules), ("*.yml", "*.yaml")
    else:
        rules_dir, globs = root.resolve(), tuple(mon.rules)
    am_yml = _path(root, mon.alertmanager_yml)
    monitoring = Monitoring(
        prometheus_yml=_path(root, mon.prometheus_yml),
        rules_dir=rules_dir,
        alertmanager_yml=am_yml,
        templates_dir=_path(root, mon.templates) if mon.templates else am_yml.parent / "templates",
        dashboards=_path(root, mon.dashboards) if mon.dashboards else None,
        rule_globs=globs,
        path_map={k: _path(root, v) for k, v in mon.path_map.items()},
        scrape=dict(mon.scrape),
    )
    return Project(
        name=model.name,
        root=root,
        services=tuple(services),
        target=model.target,
        monitoring=monitoring,
        locustfile=_path(root, model.load.locustfile),
        load_profiles=_path(root, model.load.profiles),
        slo_spec=_path(root, model.slo.spec),
        scrape_jobs=tuple(model.scrape_jobs),
        health_path=model.health.path,
        health_checks=tuple(e.path.rsplit(".", 1)[-1] for e in model.health.entries.values()),
        health=model.health.contract() if model.health.entries else None,
        secrets=tuple(secrets),
        secret_headers=tuple(model.secret_headers),
        scenarios=tuple(scenarios),
        no_scenario=dict(model.no_scenario),
        versions={k: v for k, v in model.versions.model_dump().items() if v},
        environments={
            name: Environment(name=name, **env.model_dump())
            for name, env in model.environments.items()
        },
        source=file,
        policy=model.policy.policy() if model.policy is not None else None,
    )


def _scenario_secrets(model: ProjectModel, secrets: list[str]) -> list[str]:
    """``${secret:NAME}`` in faults must name a secret of the run (no new one: nothing uses it)."""
    problems = []
    for alert, scenario in model.scenarios.items():
        text = scenario.model_dump_json(by_alias=True)
        for name in re.findall(r"\$\{secret:(\w+)\}", text):
            if name not in secrets:
                problems.append(
                    f"scenarios.{alert}: ${{secret:{name}}} is no secret of the run "
                    f"(have: {', '.join(secrets) or 'none'}; a service's env must use it)"
                )
    return problems


def _service(
    name: str,
    spec: ServiceModel,
    services: Mapping[str, ServiceModel],
    root: Path,
    secrets: list[str],
) -> ServiceSpec:
    where = f"services.{name}"
    if name in BUILTIN_SERVICES:
        raise ValueError(f"{where}: synthmon runs {', '.join(sorted(BUILTIN_SERVICES))} itself")

    def tr(text: str, key: str) -> str:
        out = _translate(text, f"{where}.{key}", name, services)
        for found in re.findall(r"\{secret:(\w+)\}", out):
            if found not in secrets:
                secrets.append(found)
        return out

    env = {k: tr(v, f"env.{k}") for k, v in spec.env.items()}
    secret_env = tuple(k for k, v in env.items() if "{secret:" in v or "{env:" in v)
    kind: ServiceKind = "command" if spec.kind == "fake_upstream" else spec.kind
    argv: tuple[str, ...] = ()
    if spec.command is not None:
        argv = tuple(tr(a, f"command.{i}") for i, a in enumerate(spec.command))
    if spec.kind == "fake_upstream":
        assert spec.routes is not None  # ServiceModel._kind_fields
        argv = (*UPSTREAM_ARGV, "--routes", str(_path(root, spec.routes)))
    default_url = DEFAULT_URLS.get(spec.kind, "http://{host}:{port}").replace(
        "{database}", spec.database or ""
    )
    url = tr(spec.url, "url") if spec.url is not None else default_url
    return ServiceSpec(
        name,
        kind=kind,
        argv=argv,
        env=env,
        secret_env=secret_env,
        health_path=spec.health_path,
        image=spec.image,
        image_argv=tuple(
            tr(a, f"image_command.{i}") for i, a in enumerate(spec.image_command or ())
        ),
        database=spec.database or "",
        url=url,
    )


def load_project(path: Path | str) -> Project:
    """The project of ``path`` (synthmon.yaml, or a directory holding it); ConfigError in one
    line otherwise (``synthmon validate`` lists every problem)."""
    file = find_project_file(path)
    return build(file, parse(file))
