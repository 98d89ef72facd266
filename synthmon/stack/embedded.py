"""The embedded stack, as data: the Services of one run, with the ports it chose.

Order matters: each service starts after what it depends on, so a readiness failure names
the first broken part instead of its victims.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

from synthmon.durations import format_duration
from synthmon.errors import StackError
from synthmon.stack.container_service import ContainerService
from synthmon.stack.service import CommandProbe, HttpProbe, ScrapedProbe, Service, TcpProbe

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRAPE_JOBS = ("app", "prometheus", "alertmanager", "pushgateway")
EXAMPLE = PROJECT_ROOT / "examples" / "manager-app"
STACK_FILES = EXAMPLE / "monitoring"
HOST = "127.0.0.1"
SCRAPE_INTERVAL_S = 1.0
EVALUATION_INTERVAL_S = 1.0
DATABASE = "claude_manager"
APP_MEMORY_LIMIT_BYTES = 512 * 1024 * 1024
NOBODY = 65534  # the user the prom/* images run as
# a throwaway test database: durability is not what is under test here
PG_FAST = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
PORT_NAMES = (
    "postgres", "redis", "github", "sinks_http", "sinks_smtp", "app", "alertmanager",
    "alertmanager_cluster", "prometheus", "pushgateway",
)  # fmt: skip


@dataclass(frozen=True)
class Ports:
    """The 127.0.0.1 ports of one run."""

    postgres: int
    redis: int
    github: int
    sinks_http: int
    sinks_smtp: int
    app: int
    alertmanager: int
    alertmanager_cluster: int
    prometheus: int
    pushgateway: int


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


def postgres(ports: Ports) -> Service:
    port = str(ports.postgres)
    return Service(
        name="postgres",
        argv=(
            postgres_bin("postgres"), "-D", "{data}", "-h", HOST, "-p", port, "-k", "{data}",
            *PG_FAST,
        ),
        probe=CommandProbe((postgres_bin("pg_isready"), "-q", "-h", HOST, "-p", port)),
        user="postgres",
        setup=((postgres_bin("initdb"), "-D", "{data}", "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--no-sync"),),
        after_ready=((postgres_bin("createdb"), "-h", HOST, "-p", port, "-U", "postgres",
                      DATABASE),),
    )  # fmt: skip


def redis(ports: Ports) -> Service:
    return Service(
        name="redis",
        argv=(binary("redis-server"), "--bind", HOST, "--port", str(ports.redis),
              "--save", "", "--appendonly", "no", "--dir", "{data}"),
        probe=TcpProbe(HOST, ports.redis),
    )  # fmt: skip


def fake_github(ports: Ports) -> Service:
    return Service(
        name="github",
        argv=(sys.executable, "-m", "app.fake_github", "--host", HOST,
              "--port", str(ports.github)),
        env={"PYTHONPATH": str(EXAMPLE)},
        probe=HttpProbe(f"http://{HOST}:{ports.github}/rate_limit"),
    )  # fmt: skip


def _app_env(ports: Ports, chaos_token: str) -> dict[str, str]:
    return {
        "APP_DATABASE_URL": f"postgresql://postgres@{HOST}:{ports.postgres}/{DATABASE}",
        "APP_REDIS_URL": f"redis://{HOST}:{ports.redis}/0",
        "APP_GITHUB_API_URL": f"http://{HOST}:{ports.github}",
        "APP_CHAOS_TOKEN": chaos_token,
        # the budget a container limit would give it: memory alerts and SLOs divide by it
        "APP_MEMORY_LIMIT_BYTES": str(APP_MEMORY_LIMIT_BYTES),
    }


def app(ports: Ports, chaos_token: str) -> Service:
    return Service(
        name="app",
        argv=(sys.executable, "-m", "app", "--host", HOST, "--port", str(ports.app)),
        env={**_app_env(ports, chaos_token), "PYTHONPATH": str(EXAMPLE)},
        secret_env=("APP_CHAOS_TOKEN",),
        probe=HttpProbe(f"http://{HOST}:{ports.app}/health"),
    )


def alertmanager(ports: Ports, config: str) -> Service:
    return Service(
        name="alertmanager",
        argv=(binary("alertmanager", "prometheus-alertmanager"),
              "--config.file={conf}/alertmanager.yml", "--storage.path={data}",
              f"--web.listen-address={HOST}:{ports.alertmanager}",
              "--cluster.listen-address="),  # clustering off: it delays the first notification
        configs={"alertmanager.yml": config},
        probe=HttpProbe(f"http://{HOST}:{ports.alertmanager}/-/ready"),
    )  # fmt: skip


def _prometheus_yml(ports: Ports, conf_dir: Path) -> str:
    return Template((STACK_FILES / "prometheus" / "prometheus.yml").read_text()).substitute(
        scrape_interval=format_duration(SCRAPE_INTERVAL_S),
        evaluation_interval=format_duration(EVALUATION_INTERVAL_S),
        scrape_timeout=format_duration(SCRAPE_INTERVAL_S * 0.8),
        rules_dir=conf_dir / "rules",
        alertmanager_address=f"{HOST}:{ports.alertmanager}",
        app_address=f"{HOST}:{ports.app}",
        prometheus_address=f"{HOST}:{ports.prometheus}",
        pushgateway_address=f"{HOST}:{ports.pushgateway}",
    )


def prometheus(ports: Ports, rules: dict[str, str], conf_dir: Path) -> Service:
    config = _prometheus_yml(ports, conf_dir)
    return Service(
        name="prometheus",
        argv=(binary("prometheus"), "--config.file={conf}/prometheus.yml",
              "--storage.tsdb.path={data}", f"--web.listen-address={HOST}:{ports.prometheus}",
              "--storage.tsdb.retention.time=1d"),
        configs={"prometheus.yml": config, **{f"rules/{n}": t for n, t in rules.items()}},
        probe=ScrapedProbe(f"http://{HOST}:{ports.prometheus}", SCRAPE_JOBS),
    )  # fmt: skip


def sinks(ports: Ports) -> Service:
    """Local stand-ins for PagerDuty, Slack and SMTP, fed by Alertmanager's own integrations."""
    return Service(
        name="sinks",
        argv=(sys.executable, "-m", "synthmon.sinks", "--host", HOST,
              "--http-port", str(ports.sinks_http), "--smtp-port", str(ports.sinks_smtp)),
        probe=HttpProbe(f"http://{HOST}:{ports.sinks_http}/-/ready"),
    )  # fmt: skip


def pushgateway(ports: Ports) -> Service:
    """Where synthetic runs push their results, so the runs themselves are monitored."""
    return Service(
        name="pushgateway",
        argv=(binary("pushgateway", "prometheus-pushgateway"),
              f"--web.listen-address={HOST}:{ports.pushgateway}"),
        probe=HttpProbe(f"http://{HOST}:{ports.pushgateway}/-/ready"),
    )  # fmt: skip


# -- the same stack from images, each following its official image's contract ---------------
# The SaaS stand-ins (fake GitHub, sinks) stay processes: they play the internet, not the stack.


def postgres_container(ports: Ports, image: str) -> ContainerService:
    """postgres image: its entrypoint initialises PGDATA and creates POSTGRES_DB."""
    port = str(ports.postgres)
    return ContainerService(
        name="postgres", image=image,
        argv=("postgres", "-h", HOST, "-p", port, *PG_FAST),
        env={"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": DATABASE},
        probe=CommandProbe(("pg_isready", "-q", "-h", HOST, "-p", port, "-U", "postgres")),
    )  # fmt: skip


def redis_container(ports: Ports, image: str) -> ContainerService:
    return ContainerService(
        name="redis", image=image,
        argv=("redis-server", "--bind", HOST, "--port", str(ports.redis), "--save", "",
              "--appendonly", "no"),
        probe=TcpProbe(HOST, ports.redis),
    )  # fmt: skip


def app_container(ports: Ports, chaos_token: str, image: str) -> ContainerService:
    return ContainerService(
        name="app", image=image,
        argv=("--host", HOST, "--port", str(ports.app)),
        env=_app_env(ports, chaos_token), secret_env=("APP_CHAOS_TOKEN",),
        probe=HttpProbe(f"http://{HOST}:{ports.app}/health"),
    )  # fmt: skip


def alertmanager_container(
    ports: Ports, config: str, image: str, mounts: tuple[Path, ...]
) -> ContainerService:
    """``mounts``: the templates and secret files the rendered config names by path."""
    return ContainerService(
        name="alertmanager", image=image, mounts=mounts, readable_by=NOBODY,
        argv=("--config.file={conf}/alertmanager.yml", "--storage.path=/alertmanager",
              f"--web.listen-address={HOST}:{ports.alertmanager}", "--cluster.listen-address="),
        configs={"alertmanager.yml": config},
        probe=HttpProbe(f"http://{HOST}:{ports.alertmanager}/-/ready"),
    )  # fmt: skip


def prometheus_container(
    ports: Ports, rules: dict[str, str], conf_dir: Path, image: str
) -> ContainerService:
    return ContainerService(
        name="prometheus", image=image, readable_by=NOBODY,
        argv=("--config.file={conf}/prometheus.yml", "--storage.tsdb.path=/prometheus",
              f"--web.listen-address={HOST}:{ports.prometheus}",
              "--storage.tsdb.retention.time=1d"),
        configs={"prometheus.yml": _prometheus_yml(ports, conf_dir),
                 **{f"rules/{n}": t for n, t in rules.items()}},
        probe=ScrapedProbe(f"http://{HOST}:{ports.prometheus}", SCRAPE_JOBS),
    )  # fmt: skip


def pushgateway_container(ports: Ports, image: str) -> ContainerService:
    return ContainerService(
        name="pushgateway", image=image,
        argv=(f"--web.listen-address={HOST}:{ports.pushgateway}",),
        probe=HttpProbe(f"http://{HOST}:{ports.pushgateway}/-/ready"),
    )  # fmt: skip
