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
from typing import Any

from pydantic import ValidationError

from synthmon.errors import ConfigError
from synthmon.logstore.allow import parse_allow
from synthmon.project import (
    BUILTIN_SERVICES,
    KIND_PORTS,
    ComposeSpec,
    Environment,
    FaultSpec,
    HttpCall,
    HttpFault,
    LinkFault,
    Monitoring,
    Project,
    PushFault,
    Scenario,
    ServiceFault,
    ServiceKind,
    ServiceSpec,
    Telemetry,
    TrafficFault,
    UpstreamFault,
    named_port,
)

# the schema lives in projectfile_models; its names stay importable from here
from synthmon.projectfile_models import ComposeModel as ComposeModel
from synthmon.projectfile_models import EnvironmentModel as EnvironmentModel
from synthmon.projectfile_models import FaultModel as FaultModel
from synthmon.projectfile_models import HealthEntryModel as HealthEntryModel
from synthmon.projectfile_models import HealthModel as HealthModel
from synthmon.projectfile_models import HttpCallModel as HttpCallModel
from synthmon.projectfile_models import HttpFaultModel as HttpFaultModel
from synthmon.projectfile_models import InhibitionModel as InhibitionModel
from synthmon.projectfile_models import LinkModel as LinkModel
from synthmon.projectfile_models import LoadModel as LoadModel
from synthmon.projectfile_models import MonitoringModel as MonitoringModel
from synthmon.projectfile_models import Name as Name
from synthmon.projectfile_models import PolicyModel as PolicyModel
from synthmon.projectfile_models import PolicyRuleModel as PolicyRuleModel
from synthmon.projectfile_models import ProjectModel as ProjectModel
from synthmon.projectfile_models import PushModel as PushModel
from synthmon.projectfile_models import Receivers as Receivers
from synthmon.projectfile_models import Scalar as Scalar
from synthmon.projectfile_models import ScenarioModel as ScenarioModel
from synthmon.projectfile_models import ServiceModel as ServiceModel
from synthmon.projectfile_models import SloModel as SloModel
from synthmon.projectfile_models import TelemetryModel as TelemetryModel
from synthmon.projectfile_models import TrafficModel as TrafficModel
from synthmon.projectfile_models import UpstreamModel as UpstreamModel
from synthmon.projectfile_models import Values as Values
from synthmon.projectfile_models import VersionsModel as VersionsModel
from synthmon.projectfile_models import json_schema as json_schema
from synthmon.yamlfile import parse_yaml, read_text

PROJECT_FILE = "synthmon.yaml"
#: the command of ``kind: fake_upstream`` (synthmon's generic HTTP fake upstream)
UPSTREAM_ARGV = ("{python}", "-m", "synthmon.upstream", "--host", "{host}", "--port", "{port}")
PLACEHOLDER = re.compile(r"\$\$|\$\{([^}]*)\}")
_SERVICE_REF = re.compile(r"(\w+)(?:\.(\w+))?\.(host|port|url)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFAULT_URLS = {
    "postgres": "postgresql://postgres@{host}:{port}/{database}",
    "redis": "redis://{host}:{port}/0",
}


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
        name, sub, attr = ref.groups()
        if sub is not None:
            return _named_port(where, inner, name, sub, attr, services)
        if name == "self":
            if not own:
                raise ValueError(f"{where}: ${{self.{attr}}}: there is no self here")
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


def _named_port(
    where: str, inner: str, name: str, port: str, attr: str, services: Mapping[str, ServiceModel]
) -> str:
    """``${NAME.PORT.host|port|url}``: one of the other ports of service NAME's kind."""
    spec = services.get(name)
    have = KIND_PORTS.get(spec.kind, ()) if spec is not None else ()
    if port not in have:
        kind = f"kind {spec.kind}" if spec is not None else "no service"
        raise ValueError(
            f"{where}: ${{{inner}}}: {name!r} ({kind}) has no port {port!r} "
            f"(have: {', '.join(have) or 'only its own: ${' + name + '.port}'})"
        )
    return "{host}" if attr == "host" else "{" + attr + ":" + named_port(name, port) + "}"


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
    if model.link is not None:
        link = model.link
        source = link.source or target
        return LinkFault(
            link.to, link.toxic, source, link.stream, link.toxicity, link.attributes(),
            link.proxy or "",
        )  # fmt: skip
    assert model.upstream is not None  # _one_kind: exactly one is set
    u = model.upstream
    return UpstreamFault(u.service, u.route, u.status, u.delay_ms, u.remaining)


def fault_services(spec: FaultSpec) -> tuple[str, ...]:
    """The services of the project a fault acts on."""
    if isinstance(spec, PushFault):
        return ()
    if isinstance(spec, LinkFault):
        return (spec.source, spec.to)
    return (spec.service,)


def _link_problem(where: str, fault: FaultSpec, services: Mapping[str, ServiceModel]) -> str:
    """A link must run from a service to one of its dependencies that is not a SaaS stand-in."""
    if not isinstance(fault, LinkFault):
        return ""
    for key, name in (("from", fault.source), ("to", fault.to)):
        if name not in services:
            return f"{where}.link.{key}: {name!r} is not a service (have: {', '.join(services)})"
    source = services[fault.source]
    if fault.to not in source.depends_on:
        return (
            f"{where}.link.to: {fault.to!r} is not in services.{fault.source}.depends_on "
            f"(have: {', '.join(source.depends_on) or 'none'})"
        )
    if services[fault.to].kind == "fake_upstream":
        return (
            f"{where}.link.to: {fault.to!r} is a fake_upstream (a link toxic needs a real "
            "dependency; use an `upstream:` fault for it)"
        )
    return ""


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
            for service in () if isinstance(fault, LinkFault) else fault_services(fault):
                if service not in model.services:
                    problems.append(
                        f"scenarios.{alert}.faults.{n}: {service!r} is not a service "
                        f"(have: {', '.join(model.services)})"
                    )
            link_problem = _link_problem(f"scenarios.{alert}.faults.{n}", fault, model.services)
            problems += [link_problem] if link_problem else []
            toxiproxy = model.compose.toxiproxy if model.compose else None
            if isinstance(fault, LinkFault) and fault.proxy and toxiproxy is None:
                problems.append(
                    f"scenarios.{alert}.faults.{n}.link.proxy: names a proxy of your own "
                    "Toxiproxy, but compose.toxiproxy names none (synthmon's own proxy on the "
                    f"link is {fault.source}-{fault.to})"
                )
        scenarios.append(Scenario(alert, scenario.cause, faults, scenario.known_failure))
        if alert in model.no_scenario:
            problems.append(f"no_scenario.{alert}: the alert has a scenario too")
    for alert in model.policy.always_firing if model.policy is not None else ():
        if alert in model.scenarios:
            problems.append(f"scenarios.{alert}: an always-firing alert has its own check")
    problems += _scenario_secrets(model, secrets)
    compose = _compose(model, root, secrets, problems)
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
        unscaled_windows=frozenset(mon.unscaled_windows),
    )
    try:
        return _project(file, model, services, scenarios, secrets, monitoring, compose)
    except ConfigError as exc:  # Project's own cross-checks (telemetry, port names)
        raise ProjectFileError([f"{file}: {exc}"]) from None


def _project(
    file: Path,
    model: ProjectModel,
    services: list[ServiceSpec],
    scenarios: list[Scenario],
    secrets: list[str],
    monitoring: Monitoring,
    compose: ComposeSpec | None,
) -> Project:
    root = file.parent
    return Project(
        name=model.name,
        root=root,
        services=tuple(services),
        target=model.target,
        monitoring=monitoring,
        locustfile=_path(root, model.load.locustfile) if model.load else None,
        load_profiles=_path(root, model.load.profiles) if model.load else None,
        slo_spec=_path(root, model.slo.spec) if model.slo else None,
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
        compose=compose,
        telemetry=_telemetry(model),
    )


def _telemetry(model: ProjectModel) -> Telemetry | None:
    """The ``telemetry:`` section (validated against the services by :class:`Project`)."""
    t = model.telemetry
    if t is None:
        return None
    return Telemetry(
        service_name=t.service_name,
        traces=t.traces,
        logs=t.logs,
        logs_api=t.logs_api,
        logs_query=t.logs_query or "",
        trace_checks=tuple(t.trace_checks),
        logs_allow=parse_allow([a.model_dump() for a in t.logs_allow]),
    )


def _compose(
    model: ProjectModel, root: Path, secrets: list[str], problems: list[str]
) -> ComposeSpec | None:
    """The ``compose:`` section (its files must exist); its env keeps the project's placeholders
    for the compose backend to expand. Appends to ``problems``."""
    c = model.compose
    if c is None:
        problems += [
            f"services.{n}.kind: compose needs a top-level `compose:` section (its files)"
            for n, s in model.services.items()
            if s.kind == "compose"
        ]
        return None
    files = {f"compose.files.{i}": _path(root, f) for i, f in enumerate(c.files)}
    files.update({f"compose.env_files.{i}": _path(root, f) for i, f in enumerate(c.env_files)})
    problems += [f"{key}: {p}: no such file" for key, p in files.items() if not p.is_file()]
    env = {}
    for key, value in c.env.items():
        try:
            env[key] = _translate(value, f"compose.env.{key}", "", model.services)
        except ValueError as exc:
            problems.append(str(exc))
    for name in re.findall(r"\{secret:(\w+)\}", " ".join(env.values())):
        secrets += [] if name in secrets else [name]
    return ComposeSpec(
        files=tuple(files[f"compose.files.{i}"] for i in range(len(c.files))),
        env_files=tuple(files[f"compose.env_files.{i}"] for i in range(len(c.env_files))),
        profiles=tuple(c.profiles),
        env=env,
        prometheus=c.prometheus,
        alertmanager=c.alertmanager,
        pushgateway=c.pushgateway,
        drop=tuple(c.drop),
        toxiproxy=c.toxiproxy,
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
        depends_on=tuple(spec.depends_on),
        port=spec.port,
        upstream_routes=_path(root, spec.routes) if spec.routes is not None else None,
    )


def load_project(path: Path | str) -> Project:
    """The project of ``path`` (synthmon.yaml, or a directory holding it); ConfigError in one
    line otherwise (``synthmon validate`` lists every problem)."""
    file = find_project_file(path)
    return build(file, parse(file))
