"""The ``compose`` backend: the project's own docker-compose files as the stack.

Their files run as they are, with the override of :mod:`synthmon.stack.compose_override`:
test copies of prometheus.yml (time-scaled, rules too) and alertmanager.yml (every destination
on synthmon's sinks, which run on the project's network) mounted over theirs, every port
published on 127.0.0.1 where the engine chooses, and the fake upstreams of the project file as
services of that network under the names the project gives them. Checks reach every service
through those published ports, so nothing but the stack itself runs differently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from docker.errors import DockerException

from synthmon.durations import format_duration
from synthmon.errors import ConfigError, StackError
from synthmon.project import ComposeSpec, Project, ServiceSpec
from synthmon.prom import Prometheus
from synthmon.settings import Settings
from synthmon.stack.compose_cli import compose_command, config_json
from synthmon.stack.compose_override import (
    DEFAULT_PORTS,
    PROXY_API_PORT,
    PROXY_SERVICE,
    SINKS_HTTP_PORT,
    SINKS_SERVICE,
    SINKS_SMTP_PORT,
    Helper,
    container_ports,
    flag,
    listen_port,
    plan_override,
    proxy_populate,
    sinks_helper,
    upstream_helper,
)
from synthmon.stack.compose_runner import ComposeCli, ComposeRunner, remove_dead_projects
from synthmon.stack.configs import render_alertmanager_for, render_rules
from synthmon.stack.container_service import RUN_LABEL, owner_labels, remove_stale
from synthmon.stack.embedded import (
    EVALUATION_INTERVAL_S,
    EXEMPLARS,
    HOST,
    RESEND_DELAY,
    SCRAPE_INTERVAL_S,
)
from synthmon.stack.engine import Engine
from synthmon.stack.engine import missing_images as engine_missing
from synthmon.stack.prometheus_config import Timing, render_prometheus_config
from synthmon.stack.running import Stack
from synthmon.stack.service import HttpProbe, Probe, ScrapedProbe, TcpProbe
from synthmon.stack.telemetry import COMPOSE_PORTS, VICTORIALOGS_PORT, compose_telemetry

PROJECT_PREFIX = "synthmon-run-"
KIND_PORTS = {
    "postgres": 5432, "redis": 6379,
    "jaeger": COMPOSE_PORTS["jaeger"]["otlp_http"], "victorialogs": VICTORIALOGS_PORT,
}  # fmt: skip
_COMPOSE_ENV = re.compile(r"\{(url|port|host|secret|env):(\w+)\}")


def project_name(run_dir: Path) -> str:
    """The Compose project of a run: what the next run recognises as synthmon's."""
    return f"synthmon-{run_dir.name}".lower()


def _port(spec: ServiceSpec, model: Mapping[str, Any]) -> int:
    """The port ``spec`` listens on inside its container."""
    if spec.port is not None:
        return spec.port
    if spec.kind in KIND_PORTS:
        return KIND_PORTS[spec.kind]
    service = model["services"].get(spec.name) or {}
    ports = container_ports(service)
    if not ports:
        raise ConfigError(
            f"services.{spec.name}.port: the compose service publishes and exposes no port; "
            "give the port it listens on in its container"
        )
    return ports[0]


def _fill(text: str, spec: ServiceSpec, port: int, host: str) -> str:
    return (
        text.replace("{host}", host)
        .replace("{port}", str(port))
        .replace("{database}", spec.database)
    )


def _expand_env(
    values: Mapping[str, str], urls: Mapping[str, str], ports: Mapping[str, int],
    run_secrets: Mapping[str, str],
) -> dict[str, str]:  # fmt: skip
    """compose.env with the project's placeholders filled for the project's network."""

    def one(match: re.Match[str]) -> str:
        kind, name = match.groups()
        table: Mapping[str, object] = {
            "url": urls, "port": ports, "host": {n: n for n in ports},
            "secret": run_secrets, "env": os.environ,
        }[kind]  # fmt: skip
        if name not in table:
            raise ConfigError(f"compose.env: {match.group(0)}: no such {kind}")
        return str(table[name])

    return {key: _COMPOSE_ENV.sub(one, value) for key, value in values.items()}


def _image_command(engine: Engine, image: str) -> list[str]:
    client = engine.client()
    try:
        attrs = client.images.get(image).attrs
    except DockerException as exc:
        raise StackError(f"image {image}: {str(exc).splitlines()[0][:200]}") from None
    finally:
        client.close()
    return list((attrs.get("Config") or {}).get("Cmd") or [])


def _links(project: Project) -> dict[str, tuple[str, str]]:
    """The proxies of the links scenarios name (``<from>-<to>``, as synthmon.faults calls
    them). On compose the proxy takes over the dependency's name: all its clients pass it."""
    links = {f"{source}-{to}": (source, to) for source, to in sorted(project.links())}
    targets = [to for _, to in links.values()]
    twice = sorted({to for to in targets if targets.count(to) > 1})
    if twice:
        raise ConfigError(
            f"scenarios: links from several services to {', '.join(twice)}: on compose one "
            "proxy stands in for the dependency, for every client at once"
        )
    return links


def _prebuilt(
    engine: Engine, project: Project, settings_images: Mapping[str, str], model: Mapping[str, Any]
) -> dict[str, str]:
    """Compose service → the image of its project image setting, where the engine holds it:
    that image runs instead of their ``build:``; without it Compose builds as it would."""
    wanted = {
        s.name: settings_images[s.image]
        for s in project.services
        if s.image is not None and s.image in settings_images and s.name in model["services"]
    }
    missing = set(engine_missing(engine, wanted))
    return {
        name: image
        for name, image in wanted.items()
        if f"{name} ({image})" not in missing or "build" not in model["services"][name]
    }


def _toxiproxy_port(spec: ComposeSpec, model: Mapping[str, Any], engine: Engine) -> int:
    """The API port of their own Toxiproxy service (``-port``, default 8474)."""
    if spec.toxiproxy is None:
        return 0
    service = model["services"].get(spec.toxiproxy)
    if service is None:
        raise ConfigError(
            f"compose.toxiproxy: no service {spec.toxiproxy!r} in the compose files "
            f"(have: {', '.join(model['services'])})"
        )
    command = list(service.get("command") or _image_command(engine, service["image"]))
    given = flag([re.sub(r"^-(?=\w)", "--", a) for a in command], "port")  # Go: -port 8474
    return int(given) if given and given.isdigit() else PROXY_API_PORT


def _roles(spec: ComposeSpec, model: Mapping[str, Any]) -> dict[str, str]:
    services = model["services"]
    roles = {"prometheus": spec.prometheus, "alertmanager": spec.alertmanager}
    if spec.pushgateway:
        roles["pushgateway"] = spec.pushgateway
    for role, name in roles.items():
        if name not in services:
            raise ConfigError(
                f"compose.{role}: no service {name!r} in the compose files "
                f"(have: {', '.join(services)})"
            )
    return roles


@contextlib.contextmanager
def compose_stack(
    settings: Settings, project: Project, run_dir: Path, engine: Engine, reason: str
) -> Iterator[Stack]:
    """Bring the project's compose files up with synthmon's override; always take them down."""
    spec = project.compose
    if spec is None:
        raise ConfigError(
            f"{project.source or project.name}: --stack compose needs a `compose:` section "
            "(the docker-compose files of the stack)"
        )
    stale = remove_stale(engine)
    remove_dead_projects(engine, PROJECT_PREFIX)
    if stale:
        reason += f"; removed {len(stale)} containers of dead runs"
    run_secrets = {name: secrets.token_urlsafe(24) for name in project.secrets}
    ports = {}
    urls = {}
    helpers: list[Helper] = [sinks_helper()]
    # read twice: first for the services and ports the interpolation values name, then with
    # those values (the model the stack runs)
    model0 = config_json(spec.files, env_files=spec.env_files, profiles=spec.profiles)
    for service in project.services:
        if service.upstream_routes is not None:
            helpers.append(upstream_helper(service.name, service.upstream_routes, service.port))
            ports[service.name] = helpers[-1].port
        elif service.name not in model0["services"]:
            raise ConfigError(
                f"services.{service.name}: no such service in {', '.join(map(str, spec.files))}"
            )
        else:
            ports[service.name] = _port(service, model0)
        urls[service.name] = _fill(service.url, service, ports[service.name], service.name)
    interpolation = _expand_env(spec.env, urls, ports, run_secrets)
    # COMPOSE_BAKE=false: a build: runs on the engine's own builder (no buildx here)
    env = {**os.environ, "DOCKER_HOST": engine.url, "COMPOSE_BAKE": "false", **interpolation}
    model = config_json(spec.files, env_files=spec.env_files, profiles=spec.profiles, environ=env)
    roles = _roles(spec, model)
    commands = {}
    for name in roles.values():
        service = model["services"][name]
        commands[name] = list(service.get("command") or _image_command(engine, service["image"]))
    role_ports = {
        role: listen_port(commands[name]) or DEFAULT_PORTS[role] for role, name in roles.items()
    }
    conf = run_dir / "conf"
    rules_dir = conf / "prometheus" / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    for file_name, text in render_rules(
        settings, project.monitoring.rule_files(), project.monitoring.unscaled_windows
    ).items():
        (rules_dir / file_name).write_text(text)
    address = {n: f"{n}:{p}" for n, p in ports.items()}
    stack_addresses = {role: f"{roles[role]}:{role_ports[role]}" for role in roles}
    not_http = {s.name: s.kind for s in project.services if s.kind in KIND_PORTS}
    source = project.monitoring.prometheus_yml
    rendered_prom = render_prometheus_config(
        source.read_text(),
        source=str(source),
        timing=Timing(
            scrape_interval=format_duration(SCRAPE_INTERVAL_S),
            evaluation_interval=format_duration(EVALUATION_INTERVAL_S),
            scrape_timeout=format_duration(SCRAPE_INTERVAL_S * 0.8),
        ),
        rules_dir=rules_dir,
        services={n: a for n, a in address.items() if n not in not_http},
        stack=stack_addresses,
        not_http=not_http,
        scrape=project.monitoring.scrape,
        path_map=project.monitoring.path_map,
        template_addresses={**address, **stack_addresses},
    )
    prom_file = conf / "prometheus" / "prometheus.yml"
    prom_file.write_text(rendered_prom.text)
    am_text = render_alertmanager_for(
        settings, project, conf, sinks_http_url=f"http://{SINKS_SERVICE}:{SINKS_HTTP_PORT}",
        smtp_host=SINKS_SERVICE, smtp_port=SINKS_SMTP_PORT,
    )  # fmt: skip
    am_file = conf / "alertmanager" / "alertmanager.yml"
    am_file.parent.mkdir(parents=True, exist_ok=True)
    am_file.write_text(am_text)
    _readable(conf)
    images = _prebuilt(engine, project, settings.images, model)
    labels = {RUN_LABEL: run_dir.name, **owner_labels(os.getpid())}
    links = {} if spec.toxiproxy else _links(project)  # their own Toxiproxy: no proxy of ours
    toxiproxy_port = _toxiproxy_port(spec, model, engine)
    proxy_config = conf / "faultproxy" / "proxies.json"
    if links:
        proxy_config.parent.mkdir(parents=True, exist_ok=True)
        populate = {name: (to, ports[to]) for name, (_, to) in links.items()}
        proxy_config.write_text(json.dumps(proxy_populate(populate), indent=2))
        _readable(proxy_config.parent)
    plan = plan_override(
        model,
        roles=roles,
        commands=commands,
        wanted_ports={n: p for n, p in ports.items() if n in model["services"]}
        | ({spec.toxiproxy: toxiproxy_port} if spec.toxiproxy and toxiproxy_port else {}),
        rendered={"prometheus": prom_file, "alertmanager": am_file},
        conf_dir=conf,
        mounts=[project.monitoring.templates_dir],
        helpers=helpers,
        images=images,
        tools_image=settings.images["tools"],
        labels=labels,
        drop=spec.drop,
        extra_args={"prometheus": [RESEND_DELAY, EXEMPLARS]},
        links={to: ports[to] for _, to in links.values()},
        proxy_config=proxy_config,
    )
    override = run_dir / "synthmon.override.yml"
    override.write_text(plan.text)
    compose = ComposeCli(
        project_name=project_name(run_dir),
        env=env,
        context=str(spec.files[0].resolve().parent),
        compose_file_name=[*(str(p.resolve()) for p in spec.files), str(override)],
        services=list(plan.services),
        wait=False,
        env_file=[str(p.resolve()) for p in spec.env_files] or None,
        profiles=list(spec.profiles) or None,
        docker_command_path=compose_command(),
    )
    runner = ComposeRunner(run_dir, settings.startup_timeout, engine, compose, labels)
    runner.role_images = {role: str(model["services"][n].get("image")) for role, n in roles.items()}
    try:
        runner.up()

        host_ports = {n: runner.published(n, p) for n, p in ports.items()}
        stack_urls = {s.name: _fill(s.url, s, host_ports[s.name], HOST) for s in project.services}
        role_urls = {
            role: f"http://{HOST}:{runner.published(roles[role], role_ports[role])}"
            for role in roles
        }
        sinks_url = f"http://{HOST}:{runner.published(SINKS_SERVICE, SINKS_HTTP_PORT)}"
        probes: dict[str, Probe] = {SINKS_SERVICE: HttpProbe(f"{sinks_url}/-/ready")}
        for service in project.services:
            if service.health_path is not None:
                probes[service.name] = HttpProbe(
                    f"http://{HOST}:{host_ports[service.name]}{service.health_path}"
                )
            else:
                probes[service.name] = TcpProbe(HOST, host_ports[service.name])
        probes[roles["alertmanager"]] = HttpProbe(f"{role_urls['alertmanager']}/-/ready")
        if "pushgateway" in roles:
            probes[roles["pushgateway"]] = HttpProbe(f"{role_urls['pushgateway']}/-/ready")
        proxy_url, proxy_service = None, spec.toxiproxy or (PROXY_SERVICE if links else None)
        if proxy_service is not None:
            api = toxiproxy_port if spec.toxiproxy else PROXY_API_PORT
            proxy_url = f"http://{HOST}:{runner.published(proxy_service, api)}"
            probes[proxy_service] = HttpProbe(f"{proxy_url}/version")
        telemetry, telemetry_probes = compose_telemetry(project, runner.published, HOST)
        probes |= telemetry_probes  # Jaeger ready on its health endpoint, not its OTLP port
        probes[roles["prometheus"]] = ScrapedProbe(role_urls["prometheus"], project.scrape_jobs)
        runner.probes = probes
        for name in probes:
            runner.wait_ready(name)
        with Prometheus(role_urls["prometheus"]) as prom:
            prom.wait_settled(settings.startup_timeout)
        yield Stack(
            kind="compose",
            run_dir=run_dir,
            app_url=stack_urls[project.target],
            prometheus_url=role_urls["prometheus"],
            alertmanager_url=role_urls["alertmanager"],
            sinks_url=sinks_url,
            pushgateway_url=role_urls.get("pushgateway"),
            urls=stack_urls,
            secrets=run_secrets,
            project=project,
            runner=runner,
            time_scale=settings.time_scale,
            reason=reason,
            notes=rendered_prom.notes(),
            fault_proxy_url=proxy_url,
            **dataclasses.asdict(telemetry),
        )
    finally:
        runner.stop_all()


def _readable(path: Path) -> None:
    """The run's test configs readable by the images' own users (nobody): they hold dummies."""
    for root, _dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
