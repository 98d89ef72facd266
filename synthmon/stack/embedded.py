"""The embedded stack, as data: the project's Services and synthmon's monitoring stack, with
the ports one run chose.

Order matters: each service starts after what it depends on, so a readiness failure names
the first broken part instead of its victims: the project's services in the order it lists
them, then the notification sinks, the Pushgateway, Alertmanager and Prometheus.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from synthmon.amconfig.versions import check_supported
from synthmon.durations import format_duration
from synthmon.errors import ConfigError, StackError
from synthmon.gobuild import alertmanager_binaries
from synthmon.project import Project, ServiceSpec
from synthmon.stack import telemetry
from synthmon.stack.container_service import ContainerService
from synthmon.stack.prometheus_config import (
    STACK_JOBS,
    RenderedPrometheus,
    Timing,
    render_prometheus_config,
)
from synthmon.stack.service import CommandProbe, HttpProbe, Probe, ScrapedProbe, Service, TcpProbe
from synthmon.yamlfile import parse_yaml

HOST = "127.0.0.1"
SCRAPE_INTERVAL_S = 1.0
EVALUATION_INTERVAL_S = 1.0
NOBODY = 65534  # the user the prom/* images run as
# a throwaway test database: durability is not what is under test here
PG_FAST = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
# the ports of synthmon's own services; each project service has one named after it
MONITORING_PORTS = (
    "sinks_http", "sinks_smtp", "alertmanager", "alertmanager_cluster", "prometheus", "pushgateway",
)  # fmt: skip
PLACEHOLDER = re.compile(r"\{(host|port|python|project)\}|\{(port|url|secret|env):(\w+)\}")
Ports = Mapping[str, int]
IMAGE_RELEASE = re.compile(r":v?(\d+\.\d+\.\d+)$")  # an image tag naming a release


FAULT_PROXY = "faultproxy"  # the fault proxy's service and API port (synthmon.faultproxy)


def link_port(source: str, to: str) -> str:
    """The name of the port the fault proxy listens on for the link ``source`` → ``to``."""
    return f"{FAULT_PROXY}_{source}_{to}"


def proxy_ports(project: Project) -> tuple[str, ...]:
    """The fault proxy's ports (its API, one a link), when a scenario names a link."""
    links = sorted(project.links())
    return (FAULT_PROXY, *(link_port(a, b) for a, b in links)) if links else ()


def port_names(project: Project) -> tuple[str, ...]:
    """Every port one run needs, by name."""
    own = (p for spec in project.services for p in spec.port_names())
    return (*own, *MONITORING_PORTS, *proxy_ports(project))


@dataclass(frozen=True)
class Context:
    """What a project service's placeholders expand to in this run."""

    project: Project
    ports: Ports
    secrets: Mapping[str, str]

    def expand(self, text: str, own: str) -> str:
        """``text`` with every project placeholder filled (``{data}``/``{conf}`` are left to
        the runner); ``own`` is the service whose ``{port}`` it is."""

        def fill(match: re.Match[str]) -> str:
            simple, kind, name = match.groups()
            if simple == "host":
                return HOST
            if simple == "python":
                return sys.executable
            if simple == "project":
                return str(self.project.root)
            kind, name = ("port", own) if simple == "port" else (kind, name)
            if kind == "port" and name != own:
                return str(self.port(name, via=own))
            if kind == "url" and name in self.urls(via=own):
                return self.urls(via=own)[name]
            if kind == "url" and name in self.named_urls():
                return self.named_urls()[name]
            if kind == "env":  # the user's environment secret, read as the stack starts
                if name not in os.environ:
                    raise ConfigError(f"service {own}: {match.group(0)}: ${name} is not set")
                return os.environ[name]
            table: Mapping[str, object] = {
                "port": self.ports, "url": self.urls(), "secret": self.secrets,
            }[kind]  # fmt: skip
            if name not in table:
                raise ConfigError(
                    f"service {own}: {match.group(0)} names no {kind} of project "
                    f"{self.project.name} (have: {', '.join(table) or 'none'})"
                )
            return str(table[name])

        return PLACEHOLDER.sub(fill, text)

    def port(self, name: str, via: str = "") -> int:
        """Service ``name``'s port, as service ``via`` reaches it: the fault proxy's port for
        the link when there is one (checks and other services: the real one)."""
        return self.ports.get(link_port(via, name), self.ports[name])

    def urls(self, via: str = "") -> dict[str, str]:
        """How checks (or service ``via``) reach each project service (``ServiceSpec.url``)."""
        return {
            spec.name: spec.url.replace("{host}", HOST).replace(
                "{port}", str(self.port(spec.name, via))
            )
            for spec in self.project.services
        }

    def named_urls(self) -> dict[str, str]:
        """``http://host:port`` of each service's other named ports (a jaeger's query, ...)."""
        return {
            port: f"http://{HOST}:{self.ports[port]}"
            for spec in self.project.services
            for port in spec.port_names()[1:]
        }

    def logs_url(self, via: str) -> str | None:
        """The project's log store as service ``via`` reaches it (None: the project has none)."""
        logs = self.project.telemetry_service("logs")
        return self.urls(via=via)[logs.name] if logs is not None else None

    def argv(self, spec: ServiceSpec, argv: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.expand(arg, spec.name) for arg in argv)

    def env(self, spec: ServiceSpec) -> dict[str, str]:
        return {k: self.expand(v, spec.name) for k, v in spec.env.items()}

    def probe(self, spec: ServiceSpec) -> Probe:
        port = self.ports[spec.name]
        if spec.health_path is None:
            return TcpProbe(HOST, port)
        return HttpProbe(f"http://{HOST}:{port}{spec.health_path}")


def postgres_bin(name: str) -> str:
    """Debian keeps PostgreSQL's server binaries off PATH, under /usr/lib/postgresql/<v>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if not candidates:
        raise StackError(f"postgres: {name} not found on PATH or in /usr/lib/postgresql/*/bin")
    return str(candidates[0])


def binary(name: str, *alternatives: str) -> str:
    for candidate in (name, *alternatives):
        found = shutil.which(candidate)
        if found:
            return found
    raise StackError(f"{name} not found on PATH (run `make setup` to install it)")


def postgres(name: str, port: int, database: str) -> Service:
    """Debian's PostgreSQL in the run directory, with ``database`` created once it is ready."""
    return Service(
        name=name,
        argv=(
            postgres_bin("postgres"), "-D", "{data}", "-h", HOST, "-p", str(port), "-k", "{data}",
            *PG_FAST,
        ),
        probe=CommandProbe((postgres_bin("pg_isready"), "-q", "-h", HOST, "-p", str(port))),
        user="postgres",
        setup=((postgres_bin("initdb"), "-D", "{data}", "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--no-sync"),),
        after_ready=((postgres_bin("createdb"), "-h", HOST, "-p", str(port), "-U", "postgres",
                      database),),
    )  # fmt: skip


def redis(name: str, port: int) -> Service:
    return Service(
        name=name,
        argv=(binary("redis-server"), "--bind", HOST, "--port", str(port),
              "--save", "", "--appendonly", "no", "--dir", "{data}"),
        probe=TcpProbe(HOST, port),
    )  # fmt: skip


def project_service(spec: ServiceSpec, ctx: Context) -> Service:
    """A project service as a local process."""
    port = ctx.ports[spec.name]
    if spec.kind == "postgres":
        return postgres(spec.name, port, spec.database)
    if spec.kind == "redis":
        return redis(spec.name, port)
    if spec.kind == "jaeger":
        return telemetry.jaeger(spec, ctx.ports, HOST, ctx.logs_url(spec.name))
    if spec.kind == "victorialogs":
        return telemetry.victorialogs(spec, ctx.ports, HOST)
    return Service(
        name=spec.name,
        argv=ctx.argv(spec, spec.argv),
        env=ctx.env(spec),
        secret_env=spec.secret_env,
        probe=ctx.probe(spec),
    )


def alertmanager(ports: Ports, config: str, pin: str | None = None) -> Service:
    """Debian's Alertmanager, or release ``pin`` (the project's ``versions.alertmanager``) built
    from its Go module; a config that release cannot load fails here, naming the key."""
    found = alertmanager_binaries(pin)
    check_supported(
        parse_yaml(config, "alertmanager.yml") or {},
        found.version,
        "its Go module" if found.built else "Debian",
        pinned=found.built,
    )
    return Service(
        name="alertmanager",
        argv=(found.alertmanager,
              "--config.file={conf}/alertmanager.yml", "--storage.path={data}",
              f"--web.listen-address={HOST}:{ports['alertmanager']}",
              "--cluster.listen-address="),  # clustering off: it delays the first notification
        configs={"alertmanager.yml": config},
        probe=HttpProbe(f"http://{HOST}:{ports['alertmanager']}/-/ready"),
    )  # fmt: skip


def prometheus_yml(project: Project, ports: Ports, conf_dir: Path) -> RenderedPrometheus:
    """The test copy of the project's prometheus.yml for this run's ports."""
    path = project.monitoring.prometheus_yml
    not_http = {s.name: s.kind for s in project.services if s.kind != "command"}
    address = {name: f"{HOST}:{port}" for name, port in ports.items()}
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return render_prometheus_config(
        text,
        source=str(path),
        timing=Timing(
            scrape_interval=format_duration(SCRAPE_INTERVAL_S),
            evaluation_interval=format_duration(EVALUATION_INTERVAL_S),
            scrape_timeout=format_duration(SCRAPE_INTERVAL_S * 0.8),
        ),
        rules_dir=conf_dir / "rules",
        services={
            n: a
            for n, a in address.items()
            if n not in not_http and n not in MONITORING_PORTS and n not in proxy_ports(project)
        },
        stack={n: address[n] for n in STACK_JOBS},
        not_http=not_http,
        scrape=project.monitoring.scrape,
        path_map=project.monitoring.path_map,
        template_addresses=address,
    )


# Prometheus re-sends firing alerts to Alertmanager every 1m (production); in a stack that
# evaluates every second a send lost at start-up (Alertmanager not yet discovered) would
# otherwise hold an always-firing alert back for a whole minute.
RESEND_DELAY = "--rules.alert.resend-delay=1s"
# the exemplars (trace IDs) the app's OpenMetrics histogram carries: kept, for the SLO gate
EXEMPLARS = "--enable-feature=exemplar-storage"


def prometheus(project: Project, ports: Ports, rules: dict[str, str], config: str) -> Service:
    """``config``: the rendered prometheus.yml (:func:`prometheus_yml`)."""
    return Service(
        name="prometheus",
        argv=(binary("prometheus"), "--config.file={conf}/prometheus.yml",
              "--storage.tsdb.path={data}", f"--web.listen-address={HOST}:{ports['prometheus']}",
              "--storage.tsdb.retention.time=1d", RESEND_DELAY, EXEMPLARS),
        configs={"prometheus.yml": config, **{f"rules/{n}": t for n, t in rules.items()}},
        probe=ScrapedProbe(f"http://{HOST}:{ports['prometheus']}", project.scrape_jobs),
    )  # fmt: skip


def fault_proxy(ctx: Context) -> Service:
    """synthmon's fault proxy (Toxiproxy's API), one proxy a link the scenarios name, each to
    the dependency's real port; the ``from`` service is pointed at it by :class:`Context`."""
    ports = ctx.ports
    proxies = [
        {"name": f"{a}-{b}", "listen": f"{HOST}:{ports[link_port(a, b)]}",
         "upstream": f"{HOST}:{ports[b]}", "enabled": True}
        for a, b in sorted(ctx.project.links())
    ]  # fmt: skip
    return Service(
        name=FAULT_PROXY,
        argv=(sys.executable, "-m", "synthmon.faultproxy", "--host", HOST,
              "--port", str(ports[FAULT_PROXY]), "--config", "{conf}/proxies.json",
              "--log", "{data}/faultproxy.log"),
        configs={"proxies.json": json.dumps(proxies, indent=2)},
        probe=HttpProbe(f"http://{HOST}:{ports[FAULT_PROXY]}/version"),
    )  # fmt: skip


def sinks(ports: Ports) -> Service:
    """Local stand-ins for PagerDuty, Slack and SMTP, fed by Alertmanager's own integrations."""
    return Service(
        name="sinks",
        argv=(sys.executable, "-m", "synthmon.sinks", "--host", HOST,
              "--http-port", str(ports["sinks_http"]), "--smtp-port", str(ports["sinks_smtp"])),
        probe=HttpProbe(f"http://{HOST}:{ports['sinks_http']}/-/ready"),
    )  # fmt: skip


def pushgateway(ports: Ports) -> Service:
    """Where synthetic runs push their results, so the runs themselves are monitored."""
    return Service(
        name="pushgateway",
        argv=(binary("pushgateway", "prometheus-pushgateway"),
              f"--web.listen-address={HOST}:{ports['pushgateway']}"),
        probe=HttpProbe(f"http://{HOST}:{ports['pushgateway']}/-/ready"),
    )  # fmt: skip


# -- the same stack from images, each following its official image's contract ---------------
# A project service without an image (a SaaS stand-in) and the sinks stay processes: they play
# the internet, not the stack.


def postgres_container(name: str, port: int, database: str, image: str) -> ContainerService:
    """postgres image: its entrypoint initialises PGDATA and creates POSTGRES_DB."""
    return ContainerService(
        name=name, image=image,
        argv=("postgres", "-h", HOST, "-p", str(port), *PG_FAST),
        env={"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": database},
        probe=CommandProbe(("pg_isready", "-q", "-h", HOST, "-p", str(port), "-U", "postgres")),
    )  # fmt: skip


def redis_container(name: str, port: int, image: str) -> ContainerService:
    return ContainerService(
        name=name, image=image,
        argv=("redis-server", "--bind", HOST, "--port", str(port), "--save", "",
              "--appendonly", "no"),
        probe=TcpProbe(HOST, port),
    )  # fmt: skip


def project_container(spec: ServiceSpec, ctx: Context, images: Mapping[str, str]) -> Service:
    """A project service from its image (``spec.image``), or a local process without one."""
    if spec.image is None:
        return project_service(spec, ctx)
    if spec.image not in images:
        raise ConfigError(
            f"service {spec.name}: no image setting {spec.image!r} (have: {', '.join(images)})"
        )
    image, port = images[spec.image], ctx.ports[spec.name]
    if spec.kind == "postgres":
        return postgres_container(spec.name, port, spec.database, image)
    if spec.kind == "redis":
        return redis_container(spec.name, port, image)
    if spec.kind == "jaeger":
        return telemetry.jaeger_container(spec, ctx.ports, HOST, ctx.logs_url(spec.name), image)
    if spec.kind == "victorialogs":
        return telemetry.victorialogs_container(spec, ctx.ports, HOST, image)
    return ContainerService(
        name=spec.name, image=image, argv=ctx.argv(spec, spec.image_argv), env=ctx.env(spec),
        secret_env=spec.secret_env, probe=ctx.probe(spec),
    )  # fmt: skip


def alertmanager_container(
    ports: Ports, config: str, image: str, mounts: tuple[Path, ...]
) -> ContainerService:
    """``mounts``: the templates and secret files the rendered config names by path. An image
    tagged with a release (``prom/alertmanager:v0.25.0``) must be able to load ``config``."""
    tag = IMAGE_RELEASE.search(image)
    if tag is not None:
        check_supported(
            parse_yaml(config, "alertmanager.yml") or {}, tag.group(1), f"image {image}"
        )
    return ContainerService(
        name="alertmanager", image=image, mounts=mounts, readable_by=NOBODY,
        argv=("--config.file={conf}/alertmanager.yml", "--storage.path=/alertmanager",
              f"--web.listen-address={HOST}:{ports['alertmanager']}", "--cluster.listen-address="),
        configs={"alertmanager.yml": config},
        probe=HttpProbe(f"http://{HOST}:{ports['alertmanager']}/-/ready"),
    )  # fmt: skip


def prometheus_container(
    project: Project, ports: Ports, rules: dict[str, str], config: str, image: str
) -> ContainerService:
    return ContainerService(
        name="prometheus", image=image, readable_by=NOBODY,
        argv=("--config.file={conf}/prometheus.yml", "--storage.tsdb.path=/prometheus",
              f"--web.listen-address={HOST}:{ports['prometheus']}",
              "--storage.tsdb.retention.time=1d", RESEND_DELAY, EXEMPLARS),
        configs={"prometheus.yml": config,
                 **{f"rules/{n}": t for n, t in rules.items()}},
        probe=ScrapedProbe(f"http://{HOST}:{ports['prometheus']}", project.scrape_jobs),
    )  # fmt: skip


def pushgateway_container(ports: Ports, image: str) -> ContainerService:
    return ContainerService(
        name="pushgateway", image=image,
        argv=(f"--web.listen-address={HOST}:{ports['pushgateway']}",),
        probe=HttpProbe(f"http://{HOST}:{ports['pushgateway']}/-/ready"),
    )  # fmt: skip
