"""One typed, frozen settings object built from pytest options, ``SYNTHMON_*`` env and defaults.

Every option is declared once in :data:`OPTIONS`; the plugin turns that table into pytest
options and this module turns the parsed values into :class:`Settings`, credentials included
(as :class:`~synthmon.secrets.Secret`). Nothing reads the environment at import time, and this
module imports only leaves (errors, durations, secrets, masking): every other module may
import settings, settings imports none of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from synthmon.durations import parse_duration
from synthmon.errors import ConfigError
from synthmon.masking import hide_password
from synthmon.project import LOGS_APIS, Project
from synthmon.secrets import Secret, apply_environment, read_secret

PROJECT_IMAGE = "synthmon/{name}:latest"  # the default of a project's own image setting
StackKind = Literal["auto", "processes", "containers", "compose", "external"]
STACK_KINDS: tuple[str, ...] = ("auto", "processes", "containers", "compose", "external")


@dataclass(frozen=True)
class Option:
    """A setting as the user sees it: ``--name`` on the command line, ``SYNTHMON_NAME`` in env."""

    name: str
    help: str
    default: str | None = None
    switch: bool = False  # a flag that takes no value (--allow-load); env: 1/0, true/false
    cli: bool = True  # False: env only (a secret on a command line shows in ps and CI logs)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "SYNTHMON_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option(
        "project",
        "the project under test: its project file (synthmon.yaml) or a directory holding it; "
        "default: synthmon.yaml at the rootdir (its load profiles, SLO spec and dashboards are "
        "the defaults of the options below)",
    ),
    Option(
        "stack",
        "stack backend: auto (containers when an engine answers and holds the images, "
        "else processes), processes, containers, compose (the project's docker-compose "
        "files) or external",
        "auto",
    ),
    # containers stack: one image per service; the defaults are the official images (images/
    # builds Debian look-alikes under these names for machines without a registry)
    Option("image_postgres", "container image of PostgreSQL", "postgres:15-bookworm"),
    Option("image_redis", "container image of Redis", "redis:7.0-bookworm"),
    Option("image_prometheus", "container image of Prometheus", "prom/prometheus:v2.42.0"),
    Option("image_alertmanager", "container image of Alertmanager", "prom/alertmanager:v0.25.0"),
    Option("image_pushgateway", "container image of the Pushgateway", "prom/pushgateway:v1.5.1"),
    Option("image_app", "container image of the service under test", "synthmon/app:latest"),
    Option(
        "image_tools",
        "compose stack: the image of synthmon's own helpers (sinks, fake upstreams, fault "
        "proxy; images/build.sh tools)",
        "synthmon/tools:latest",
    ),
    Option(
        "image",
        "images of a project's own image settings (a service's `image: NAME` that is none of "
        "the above): NAME=IMAGE[,NAME=IMAGE...]; else env SYNTHMON_IMAGE_NAME, else "
        f"{PROJECT_IMAGE.format(name='NAME')}",
    ),
    Option("run_dir", "directory for run directories (logs, results)", ".synthmon/runs"),
    Option(
        "keep_stack",
        "processes stack: when a check failed, leave the stack running for a look (the summary "
        "prints its URLs and `synthmon down RUN_DIR` to stop it)",
        switch=True,
    ),
    Option("time_scale", "divide rule for:/windows and Alertmanager intervals by this", "60"),
    Option("startup_timeout", "seconds each stack service gets to become ready", "60"),
    Option("http_timeout", "seconds for every HTTP request the checks make", "5"),
    Option(
        "environment",
        "a deployed environment of the project file's `environments:`: its URLs and "
        "credentials, as if given by the options below (implies --stack external)",
    ),
    Option("target_url", "base URL of the service under test (external stack)"),
    Option("prometheus_url", "Prometheus base URL (external stack)"),
    Option("alertmanager_url", "Alertmanager base URL (external stack)"),
    Option("load_profile", "load profile of the SLO gate's Locust run", "baseline"),
    Option("load_profiles", "load profiles file", "load/profiles.yaml"),
    Option("load_workers", "Locust worker processes (0: one local process)", "0"),
    # Locust workers on other hosts (synthmon worker --master HOST:PORT LOCUSTFILE)
    Option(
        "load_remote_workers",
        "Locust workers the master waits for from other hosts (`synthmon worker --master "
        "HOST:PORT LOCUSTFILE` on each), besides --load-workers local ones",
        "0",
    ),
    Option(
        "load_master_bind",
        "HOST:PORT the Locust master listens on for workers of other hosts",
        "0.0.0.0:5557",
    ),
    Option(
        "load_workers_wait",
        "how long the Locust master waits for the workers of other hosts (DURATION)",
        "30s",
    ),
    Option(
        "min_alert_coverage",
        "fail the run when fewer than N percent of the alert rules have a passing scenario",
        "0",
    ),
    Option("slo_spec", "SLO spec file the gate evaluates", "slo/baseline.yaml"),
    Option("grafana_url", "Grafana base URL; its health check is skipped when unset"),
    Option(
        "otel_url",
        "OpenTelemetry collector health URL (external stack; an embedded stack's own Jaeger "
        "otherwise); skipped when unset",
    ),
    Option("jaeger_url", "Jaeger query API base URL, the runbook's :16686 (external stack)"),
    Option("logs_url", "log store base URL: VictoriaLogs or Loki (external stack)"),
    Option("logs_api", "the log store's query API: victorialogs or loki", "victorialogs"),
    Option("image_jaeger", "container image of Jaeger v2", "jaegertracing/jaeger:2.13.0"),
    Option(
        "image_victorialogs",
        "container image of VictoriaLogs",
        "victoriametrics/victoria-logs:v1.52.1",
    ),
    # nightly synthetic mode: an external stack, its credentials, and where results go
    Option("allow_destructive", "run checks marked destructive on an external stack", switch=True),
    Option("allow_load", "external stack: allow load above the smoke profile's size", switch=True),
    Option("slo_lookback", "external stack: the SLO gate evaluates the last DURATION", "24h"),
    Option("pushgateway_url", "push the run's results to this Pushgateway at session end"),
    Option("push_instance", "instance label of pushed results (default: the target's host:port)"),
    Option("bearer_token", "bearer token for the external stack", cli=False),
    Option("bearer_token_file", "file holding the bearer token (or env SYNTHMON_BEARER_TOKEN)"),
    Option("basic_auth_user", "basic-auth user name for the external stack"),
    Option("basic_auth_password", "basic-auth password for the external stack", cli=False),
    Option("basic_auth_password_file", "file with the password (or SYNTHMON_BASIC_AUTH_PASSWORD)"),
    Option("ca_file", "CA bundle (PEM) that verifies the external stack's certificates"),
    Option("client_cert", "client certificate (PEM) for mutual TLS with the external stack"),
    Option("client_key", "private key (PEM) of --client-cert when not in the same file"),
    Option(
        "dashboards",
        "Grafana dashboard JSON file or directory",
        "monitoring/grafana/dashboards",
    ),
    Option("dashboard_rate_interval", "what $__rate_interval means in dashboard queries", "1m"),
    # -- the log analysis over a log store (issue 15, part 6) --
    Option(
        "logs_lookback",
        "external stack: the log analysis reads the log store's last DURATION (a stack synthmon "
        "starts: the run's own window)",
        "1h",
    ),
)


def _images(raw: Mapping[str, str | None], sources: Mapping[str, str]) -> dict[str, str]:
    """service → image, from the ``image_*`` options; an image name has no spaces."""
    images = {}
    for opt in OPTIONS:
        if opt.name.startswith("image_"):
            value = (raw.get(opt.name, opt.default) or "").strip()
            if not value or any(c.isspace() for c in value):
                where = sources.get(opt.name, opt.flag)
                raise ConfigError(f"{where}: expected an image name like redis:7, got {value!r}")
            images[opt.name.removeprefix("image_")] = value
    return images


def _project_images(
    project: Project | None, raw: Mapping[str, str | None], env: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The project's own image settings (a service's ``image: NAME`` that no ``image_*``
    option declares): ``--image NAME=IMAGE,...``, else ``SYNTHMON_IMAGE_NAME``, else
    :data:`PROJECT_IMAGE`; and where each came from."""
    fixed = {o.name.removeprefix("image_") for o in OPTIONS if o.name.startswith("image_")}
    own = sorted({s.image for s in project.services if s.image} - fixed) if project else []
    flag = next(o.flag for o in OPTIONS if o.name == "image")
    given: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in (raw.get("image") or "").split(","))):
        name, sep, image = (part.strip() for part in item.partition("="))
        if not sep or not name or not image:
            raise ConfigError(f"{flag}: expected NAME=IMAGE[,NAME=IMAGE...], got {item!r}")
        if name not in own:
            raise ConfigError(
                f"{flag}: {name!r} is no image setting of the project's own "
                f"(have: {', '.join(own) or 'none'}; the built-in ones are --image-NAME)"
            )
        given[name] = image
    images, sources = {}, {}
    for name in own:
        variable = f"SYNTHMON_IMAGE_{name.upper()}"
        images[name], sources[name] = (
            (given[name], f"{flag} {name}=")
            if name in given
            else (env[variable], variable)
            if env.get(variable)
            else (PROJECT_IMAGE.format(name=name), f"the default of image setting {name!r}")
        )
        if any(c.isspace() for c in images[name]):
            raise ConfigError(
                f"{sources[name]}: expected an image name like redis:7, got {images[name]!r}"
            )
    return images, sources


def _url(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = hide_password(value)  # never echo a password
        raise ConfigError(f"{name}: expected an http(s) URL like http://host:port, got {shown!r}")
    return value.rstrip("/")


def _logs_api(name: str, value: str | None) -> Literal["victorialogs", "loki"]:
    text = (value or "").strip().lower()
    if text == "victorialogs":
        return "victorialogs"
    if text == "loki":
        return "loki"
    raise ConfigError(f"{name}: expected one of {', '.join(LOGS_APIS)}, got {value!r}")


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


def _percent(name: str, value: str) -> int:
    number = _count(name, value)
    if number > 100:
        raise ConfigError(f"{name}: expected a percentage 0..100, got {value!r}")
    return number


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _switch(name: str, value: str | None) -> bool:
    text = (value or "").strip().lower()
    if text not in _TRUE + _FALSE:
        raise ConfigError(f"{name}: expected 1/0, true/false, yes/no or on/off, got {value!r}")
    return text in _TRUE


def _file(name: str, value: str | None) -> Path | None:
    """A readable file, tried once here so that a typo fails before anything starts."""
    if not value:
        return None
    try:
        with open(value, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {value}: {exc.strerror or exc}") from None
    return Path(value)


def _duration(name: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{name}: expected a duration > 0, got {text!r}")
    return seconds


def _address(name: str, text: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets)."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}: expected HOST:PORT like 0.0.0.0:5557, got {text!r}")
    return host, int(port)


def _load_workers(raw: Mapping[str, str | None], sources: Mapping[str, str]) -> dict[str, Any]:
    """The Settings fields of Locust workers on other hosts, from raw values."""
    return {
        "load_remote_workers": _count(
            sources["load_remote_workers"], str(raw["load_remote_workers"])
        ),
        "load_master_bind": _address(sources["load_master_bind"], str(raw["load_master_bind"])),
        "load_workers_wait": _duration(sources["load_workers_wait"], str(raw["load_workers_wait"])),
    }


def _synthetic(raw: Mapping[str, str | None], sources: Mapping[str, str]) -> dict[str, Any]:
    """The Settings fields of the nightly synthetic mode (an external stack), from raw values."""
    _duration(sources["dashboard_rate_interval"], str(raw["dashboard_rate_interval"]))
    return {
        "allow_destructive": _switch(sources["allow_destructive"], raw["allow_destructive"]),
        "allow_load": _switch(sources["allow_load"], raw["allow_load"]),
        "slo_lookback": _duration(sources["slo_lookback"], str(raw["slo_lookback"])),
        "push_instance": raw["push_instance"] or None,
        "bearer_token": read_secret(raw, sources, "bearer_token"),
        "basic_auth_user": raw["basic_auth_user"] or None,
        "basic_auth_password": read_secret(raw, sources, "basic_auth_password"),
        "ca_file": _file(sources["ca_file"], raw["ca_file"]),
        "client_cert": _file(sources["client_cert"], raw["client_cert"]),
        "client_key": _file(sources["client_key"], raw["client_key"]),
        "dashboards": Path(str(raw["dashboards"])) if raw["dashboards"] is not None else None,
        "dashboard_rate_interval": str(raw["dashboard_rate_interval"]),
    }


@dataclass(frozen=True)
class Settings:
    """What one run needs to know; validated on creation so bad values fail before any start."""

    stack: StackKind = "auto"
    project: Project | None = None
    images: Mapping[str, str] = field(default_factory=lambda: _images({}, {}))
    run_dir: Path = Path(".synthmon/runs")
    keep_stack: bool = False
    time_scale: float = 60.0
    startup_timeout: float = 60.0
    http_timeout: float = 5.0
    load_profile: str = "baseline"
    load_profiles: Path = Path("load/profiles.yaml")
    load_workers: int = 0
    load_remote_workers: int = 0  # Locust workers from other hosts the master waits for
    load_master_bind: tuple[str, int] = ("0.0.0.0", 5557)
    load_workers_wait: float = 30.0
    min_alert_coverage: int = 0
    slo_spec: Path = Path("slo/baseline.yaml")
    target_url: str | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    grafana_url: str | None = None
    otel_url: str | None = None
    jaeger_url: str | None = None
    logs_url: str | None = None
    logs_api: Literal["victorialogs", "loki"] = "victorialogs"
    # nightly synthetic mode (an external stack); secrets are Secret, masked in repr
    allow_destructive: bool = False
    allow_load: bool = False
    slo_lookback: float = 86400.0
    pushgateway_url: str | None = None
    push_instance: str | None = None
    bearer_token: Secret | None = field(default=None, repr=False)
    basic_auth_user: str | None = None
    basic_auth_password: Secret | None = field(default=None, repr=False)
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    dashboards: Path | None = Path("monitoring/grafana/dashboards")  # None: the project has none
    dashboard_rate_interval: str = "1m"
    environment: str | None = None  # the project's environment the external URLs came from
    # -- the log analysis over a log store --
    logs_lookback: float = 3600.0  # external stack: seconds of the log store the analysis reads
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
        self._check_auth()

    def _check_auth(self) -> None:
        """One way to authenticate, and TLS files that belong together."""
        where = self.where
        if self.bearer_token and (self.basic_auth_user or self.basic_auth_password):
            raise ConfigError(
                f"give bearer auth ({self.bearer_token.source}) or basic auth "
                f"({where('basic_auth_user')}), not both"
            )
        if bool(self.basic_auth_user) != bool(self.basic_auth_password):
            given, missing = ("basic_auth_user", "basic_auth_password")
            if not self.basic_auth_user:
                given, missing = missing, given
            raise ConfigError(f"{where(given)} needs {where(missing)} too")
        if self.client_key and not self.client_cert:
            raise ConfigError(f"{where('client_key')} needs {where('client_cert')} too")

    def where(self, name: str) -> str:
        """Where a setting came from, for error messages (``--time-scale`` or ``SYNTHMON_…``)."""
        return self.sources.get(name, name)

    @classmethod
    def from_values(
        cls,
        lookup: Callable[[Option], str | None],
        environ: Mapping[str, str] | None = None,
        ini: Mapping[str, tuple[str, str]] | None = None,
    ) -> Settings:
        """Build from option values (``lookup``), falling back to ``SYNTHMON_*``, then to
        ``ini`` (name → value, where it was set), then to the project's files and defaults."""
        env = os.environ if environ is None else environ
        raw: dict[str, str | None] = {}
        sources: dict[str, str] = {}
        given = set()
        for opt in OPTIONS:
            value = lookup(opt)
            sources[opt.name] = opt.flag
            if value is None and env.get(opt.env):
                value, sources[opt.name] = env[opt.env], opt.env
            if value is None and opt.name in (ini or {}):
                value, sources[opt.name] = (ini or {})[opt.name]
            if value is not None:
                given.add(opt.name)
            raw[opt.name] = value if value is not None else opt.default
        from synthmon.projectfile import load_project  # pydantic: only when a project is named

        try:
            project = load_project(str(raw["project"])) if raw["project"] else None
        except ConfigError as exc:
            raise ConfigError(f"{sources['project']}: {exc}") from None
        if project is not None:
            defaults = {
                "load_profiles": project.load_profiles,
                "slo_spec": project.slo_spec,
                "dashboards": project.monitoring.dashboards,
            }
            raw.update({k: str(v) for k, v in defaults.items() if k not in given and v})
            if project.monitoring.dashboards is None and "dashboards" not in given:
                raw["dashboards"] = None  # the project names none: nothing to check
        apply_environment(project, raw, sources, given, env)  # --environment NAME

        def num(name: str) -> float:
            return _positive(sources[name], str(raw[name]))

        kwargs: dict[str, Any] = {
            "stack": raw["stack"],
            "project": project,
            "run_dir": Path(str(raw["run_dir"])),
            "keep_stack": _switch(sources["keep_stack"], raw["keep_stack"]),
            "time_scale": num("time_scale"),
            "startup_timeout": num("startup_timeout"),
            "http_timeout": num("http_timeout"),
            "load_profile": str(raw["load_profile"]),
            "load_profiles": Path(str(raw["load_profiles"])),
            "load_workers": _count(sources["load_workers"], str(raw["load_workers"])),
            "min_alert_coverage": _percent(
                sources["min_alert_coverage"], str(raw["min_alert_coverage"])
            ),
            "slo_spec": Path(str(raw["slo_spec"])),
            "sources": sources,
        }
        urls = ("target_url", "prometheus_url", "alertmanager_url", "grafana_url", "otel_url")
        for name in (*urls, "jaeger_url", "logs_url"):
            kwargs[name] = _url(sources[name], raw[name])
        kwargs["logs_api"] = _logs_api(sources["logs_api"], raw["logs_api"])
        kwargs.update(_synthetic(raw, sources))
        kwargs.update(_load_workers(raw, sources))
        own, own_sources = _project_images(project, raw, env)
        kwargs["images"] = {**_images(raw, sources), **own}
        sources.update({f"image_{name}": where for name, where in own_sources.items()})
        kwargs["environment"] = raw["environment"] or None
        kwargs["logs_lookback"] = _duration(sources["logs_lookback"], str(raw["logs_lookback"]))
        kwargs["pushgateway_url"] = _url(sources["pushgateway_url"], raw["pushgateway_url"])
        return cls(**kwargs)
