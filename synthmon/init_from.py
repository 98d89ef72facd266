"""``synthmon init --from docker-compose.yml``: a starter synthmon.yaml for a team that has
only its compose file.

Everything is inferred from the compose *model* (``docker compose config``, through
:mod:`synthmon.stack.compose_cli`) and from the prometheus.yml/alertmanager.yml its mounts
point at; each heuristic is marked ``# guessed:`` in the output and what could not be inferred
is a ``# TODO`` line plus a warning. The user's files are only read.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from synthmon.errors import ConfigError
from synthmon.init_monitoring import Inferred, monitoring
from synthmon.init_mounts import StandIn, stand_in_env, stand_in_notes, stand_ins
from synthmon.init_telemetry import telemetry
from synthmon.init_text import Block, Note, Todo, Value, lines, todos
from synthmon.project import BUILTIN_SERVICES
from synthmon.stack.compose_cli import config_json

OUTPUT_NAME = "synthmon.yaml"
# role → image repositories (registry and tag stripped) that run it
ROLE_IMAGES = {
    "prometheus": ("prom/prometheus", "prometheus/prometheus", "bitnami/prometheus"),
    "alertmanager": ("prom/alertmanager", "prometheus/alertmanager", "bitnami/alertmanager"),
    "pushgateway": ("prom/pushgateway", "prometheus/pushgateway", "bitnami/pushgateway"),
}
# services the test stack runs without: image repository or service name → which product
DROP = {
    **dict.fromkeys(("grafana", "grafana-oss", "grafana-enterprise"), "Grafana"),
    **dict.fromkeys(("loki", "grafana-loki", "promtail"), "Loki"),
    **dict.fromkeys(("tempo", "grafana-tempo"), "Tempo"),
}
DROP_WHY = "AGPL-3.0, no package or image of them here: the test stack runs without them"
# kind → the last part of its image repositories, and the port it listens on by default
KINDS = {
    "postgres": (re.compile(r"postgres(ql)?|postgis|timescaledb(-ha)?"), 5432),
    "redis": (re.compile(r"redis(-stack(-server)?)?|valkey"), 6379),
    "jaeger": (re.compile(r"jaeger"), 4318),  # Jaeger v2 (jaegertracing/jaeger)
    "victorialogs": (re.compile(r"victoria-logs"), 9428),
}
# kinds whose port is that one whatever the service publishes first (Jaeger: OTLP/HTTP, what
# ${NAME.url} and OTEL_EXPORTER_OTLP_ENDPOINT are; its others have names of their own)
FIXED_PORT = {"jaeger": "its OTLP/HTTP port, its url (query, health: ports of their own)",
              "victorialogs": "its HTTP port"}  # fmt: skip
REGISTRY = re.compile(r"^[^/]+[.:][^/]*/|^localhost/")  # docker.io/, quay.io/, host:5000/
HTTP_CLIENTS = re.compile(r"\b(curl|wget|urlopen|httpx|requests)\b")
URL = re.compile(r"https?://[^\s'\"|;)]+")
# published ports that are no HTTP service's (a target is reached over HTTP)
NOT_HTTP = frozenset({2181, 3306, 5432, 5672, 6379, 9042, 9092, 11211, 27017})
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Started:
    """What ``init_from`` wrote and the warnings it printed (one line each)."""

    path: Path
    text: str
    warnings: tuple[str, ...]


def repository(image: str) -> str:
    """``docker.io/library/redis:7-alpine`` → ``redis``; ``quay.io/prometheus/x:v1`` →
    ``prometheus/x``."""
    name = REGISTRY.sub("", image.split("@", 1)[0])
    name = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return name.removeprefix("library/")


def roles(services: Mapping[str, Any]) -> dict[str, Value | Todo]:
    """The compose services running Prometheus, Alertmanager and the Pushgateway."""
    found: dict[str, Value | Todo] = {}
    for role, images in ROLE_IMAGES.items():
        by_image = [n for n, s in services.items() if repository(s.get("image") or "") in images]
        if by_image:
            name = sorted(by_image)[0]
            others = f"; also {', '.join(sorted(by_image)[1:])}" if len(by_image) > 1 else ""
            found[role] = Value(name, f"image {services[name]['image']}{others}", guessed=True)
        elif role in services:
            why = f"named {role} (image {services[role].get('image') or 'none'} is not {images[0]})"
            found[role] = Value(role, why, guessed=True)
        elif role == "pushgateway":
            found[role] = Value(None, f"no {images[0]} image, no service named {role}", True)
        else:
            found[role] = Todo(f"no service runs {' or '.join(images)}, none is named {role}")
    return found


def dropped(services: Mapping[str, Any]) -> dict[str, str]:
    """Grafana, Loki and Tempo services (by image, else by name) → which of them it is."""
    found = {}
    for name, spec in sorted(services.items()):
        last = repository(spec.get("image") or "").rsplit("/", 1)[-1]
        if last in DROP or name in DROP:
            found[name] = DROP.get(last) or DROP[name]
    return found


def guess_kind(spec: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, why) from the service's image."""
    image = spec.get("image") or ""
    last = repository(image).rsplit("/", 1)[-1]
    for kind, (pattern, _) in KINDS.items():
        if pattern.fullmatch(last) and "build" not in spec:
            return kind, f"image {image}"
    return "compose", ("built here (build:)" if "build" in spec else f"image {image or 'none'}")


def port(spec: Mapping[str, Any], kind: str, health_url: str | None) -> Value | Todo:
    """The port it listens on inside its container."""
    if kind in FIXED_PORT:
        return Value(KINDS[kind][1], f"{kind}: {FIXED_PORT[kind]}", True)
    for entry in spec.get("ports") or ():
        return Value(int(entry["target"]), "its first container port under ports:", True)
    for entry in spec.get("expose") or ():
        first = re.match(r"\d+", str(entry))  # "9100", "7000/tcp", "7000-7010"
        if first:
            return Value(int(first.group(0)), "its first port under expose:", True)
    if health_url and urlsplit(health_url).port:
        return Value(urlsplit(health_url).port, "the port of its healthcheck URL", True)
    if kind in KINDS:
        return Value(KINDS[kind][1], f"no ports/expose: {kind}'s default port", True)
    return Todo("no ports:, expose: or healthcheck URL names its container port")


def image_healthcheck(spec: Mapping[str, Any]) -> str:
    """The ``HEALTHCHECK`` of the Containerfile a ``build:`` names ("" without one): where a
    service built here says its health, when its compose entry has no healthcheck."""
    build = spec.get("build") or {}
    if not isinstance(build, Mapping) or not build.get("context"):
        return ""
    file = Path(build["context"]) / (build.get("dockerfile") or "Dockerfile")
    try:
        text = file.read_text(encoding="utf-8").replace("\\\n", " ")
    except (OSError, UnicodeDecodeError):
        return ""  # a remote context or an unreadable file: nothing to infer from
    found = [line for line in text.splitlines() if line.lstrip().upper().startswith("HEALTHCHECK")]
    return found[-1] if found else ""


def health_url(spec: Mapping[str, Any], image: bool = False) -> str | None:
    """The URL of an HTTP healthcheck (``curl``/``wget``/``urlopen`` ... URL), if it has one;
    ``image``: else its Containerfile's (a hint only, no readiness probe: a health answer that
    depends on an unreachable SaaS would keep the stack from coming up)."""
    test = (spec.get("healthcheck") or {}).get("test") or ()
    text = test if isinstance(test, str) else " ".join(str(t) for t in test)
    for said in (text, image_healthcheck(spec) if image and not test else ""):
        found = URL.search(said)
        if found and HTTP_CLIENTS.search(said):
            return found.group(0)
    return None


def service_block(name: str, spec: Mapping[str, Any], keep: Sequence[str]) -> Block:
    """One ``services:`` entry."""
    kind, why = guess_kind(spec)
    block = Block().add("kind", Value(kind, why, guessed=True))
    if kind == "postgres":
        database = (spec.get("environment") or {}).get("POSTGRES_DB")
        block.add(
            "database",
            Value(database, "POSTGRES_DB")
            if database
            else Value("postgres", "no POSTGRES_DB: the image's default database", True),
        )
    if kind == "compose" and "build" in spec:
        block.add(
            "image",
            Value(name, f"--image {name}=IMAGE runs a prebuilt image instead of build: "
                  f"(default synthmon/{name}:latest; without it Compose builds)", guessed=True),
        )  # fmt: skip
    url = health_url(spec)
    block.add("port", port(spec, kind, url))
    if url:
        path = urlsplit(url).path or "/"
        block.add("health_path", Value(path, f"its healthcheck: {url}", guessed=True))
    elif kind == "compose":
        block.add("", Note("no health_path: it has no HTTP healthcheck, so ready = TCP connect"))
    needs = sorted(d for d in spec.get("depends_on") or {} if d in keep)
    if needs:
        block.add("depends_on", Value(needs, "its depends_on (services kept here)"))
    return block


def _serves(spec: Mapping[str, Any]) -> bool:
    """Built here, or publishing a port that may be HTTP."""
    published = [p for p in spec.get("ports") or () if p.get("published")]
    return "build" in spec or any(int(p["target"]) not in NOT_HTTP for p in published)


def target(services: Mapping[str, Any], keep: Sequence[str]) -> Value | Todo:
    """The service the others depend on least, of those built here or publishing a port."""
    rule = "of the services with build: or a published HTTP port, the one the others depend on"
    candidates = [
        n
        for n in keep
        if guess_kind(services[n])[0] == "compose"
        and (
            "build" in services[n]
            or any(p.get("published") for p in services[n].get("ports") or ())
        )
    ]
    if not candidates:
        return Todo(f"no service has build: or a published HTTP port ({rule} least)")
    dependents = {n: sum(n in (services[o].get("depends_on") or {}) for o in keep) for n in keep}
    best = min(candidates, key=lambda n: (dependents[n], "build" not in services[n], n))
    count = dependents[best]
    by = f"{count} service(s) depend on it" if count else "nothing depends on it"
    return Value(best, f"{rule} least ({by})", guessed=True)


def relative(path: Path, base: Path) -> str:
    """``path`` relative to the output's directory (as synthmon.yaml's paths are)."""
    return os.path.relpath(path.resolve(), base.resolve())


def _kept(services: Mapping[str, Any], skip: set[str]) -> tuple[list[str], Block]:
    """The services synthmon.yaml lists, and a Todo for each name it cannot take."""
    keep, bad = [], Block()
    for name in sorted(services):
        if name in skip:
            continue
        if not IDENTIFIER.match(name) or name in BUILTIN_SERVICES:
            why = "synthmon runs its own" if name in BUILTIN_SERVICES else "not an identifier"
            bad.add(name, Todo(f"the service name {name!r} cannot be used ({why}): rename it"))
        else:
            keep.append(name)
    return keep, bad


def _compose(
    files: Sequence[Path],
    env_files: Sequence[Path],
    profiles: Sequence[str],
    base: Path,
    found: Mapping[str, Value | Todo],
    drop: Sequence[str],
    saas: Sequence[StandIn] = (),
) -> Block:
    block = Block().add("files", Value([relative(f, base) for f in files], "--from"))
    if env_files:
        block.add("env_files", Value([relative(f, base) for f in env_files], "--env-file"))
    if profiles:
        block.add("profiles", Value(list(profiles), "--profile"))
    block.add("", stand_in_env(saas) if saas else Note(ENV_NOTE))
    for role, node in found.items():
        block.add(role, node)
    if drop:
        block.add("drop", Value(list(drop), f"Grafana/Loki/Tempo: {DROP_WHY}", guessed=True))
    return block


ENV_NOTE = (
    "env: {VAR: value} for Compose's interpolation (these win over .env), e.g. an upstream's "
    "URL pointed at synthmon's fake one"
)


def _stubs(alerts: Sequence[str]) -> Note:
    """The scenarios still to write, as commented-out YAML."""
    stub = [f"  {a}: {{cause: ..., faults: [...]}}" for a in alerts]
    head = (
        f"scenarios: the fault behind each alert. These alerts of the rule files have none yet "
        f"({len(alerts)}):"
        if alerts
        else "scenarios: the fault behind each alert (no alert rules were found)"
    )
    return Note("\n".join([head, "scenarios:", *stub]), wrap=False)


HEADER = """\
synthmon.yaml started by `synthmon init`, from the compose model of {sources}.
Lines marked `# guessed:` are guesses: check each one; `# TODO` lines could not be inferred.
Check it: synthmon validate {output}
Still to fill in: scenarios (below), health (the target's health contract), load
({{locustfile, profiles}}) and slo ({{spec}}). Paths are relative to this file.{saas}"""


def document(
    model: Mapping[str, Any],
    files: Sequence[Path],
    output: Path,
    env_files: Sequence[Path] = (),
    profiles: Sequence[str] = (),
    raw: Mapping[str, Any] | None = None,
) -> Block:
    """The starter synthmon.yaml of compose model ``model`` as nodes (``raw``: the model not
    interpolated, where the SaaS URLs that need a stand-in are seen)."""
    base = output.parent
    services = model["services"]
    found = roles(services)
    drop = dropped(services)
    role_names = {r: n.value for r, n in found.items() if isinstance(n, Value) and n.value}
    keep, bad = _kept(services, set(drop) | set(role_names.values()))
    saas = stand_ins(raw, keep) if raw is not None else []
    sources = ", ".join(str(f) for f in files)
    named = "".join(f"\nAnd a stand-in for {s.url}: services.{s.name}, compose.env" for s in saas)
    header = HEADER.format(sources=sources, output=output, saas=named)
    doc = Block().add("", Note(header, wrap=False))
    doc.add("name", Value(model.get("name") or base.name, "the compose project name"))
    doc.add("compose", _compose(files, env_files, profiles, base, found, list(drop), saas))
    listed = Block(bad.items)
    for name in keep:
        listed.add(name, service_block(name, services[name], keep))
    for note in stand_in_notes(saas):
        listed.add("", note)
    doc.add("services", listed)
    chosen = target(services, keep)
    doc.add("target", chosen)
    url = health_url(services[chosen.value], image=True) if isinstance(chosen, Value) else None
    if url:
        hint = f"health: {{path: {urlsplit(url).path or '/'}}} (its healthcheck), with its entries"
        doc.add("", Note(f"{hint}: the target's health contract, see the README"))
    kinds = {n: guess_kind(services[n])[0] for n in keep}
    repos = {n: repository(s.get("image") or "") for n, s in services.items()}
    traced = telemetry(services, kinds, repos, chosen)
    if traced is not None:
        doc.add("telemetry", traced)
    grafana = [name for name, what in drop.items() if what == "Grafana"]
    scraped = {n for n in keep if guess_kind(services[n])[0] not in KINDS} | set(ROLE_IMAGES)
    mon: Inferred = monitoring(
        model, role_names.get("prometheus"), role_names.get("alertmanager"), base, grafana, scraped
    )
    doc.add("monitoring", mon.block)
    doc.add("scrape_jobs", mon.scrape_jobs)
    doc.add("", _stubs(mon.alerts))
    return doc


def init_from(
    files: Sequence[Path],
    *,
    output: Path | None = None,
    force: bool = False,
    env_files: Sequence[Path] = (),
    profiles: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Started:
    """Write the starter synthmon.yaml for compose ``files`` (default: next to the first);
    an existing file is kept unless ``force``. ConfigError: a refused compose file, an output
    that exists."""
    if not files:
        raise ConfigError("--from: give the compose file(s), e.g. --from docker-compose.yml")
    path = output if output is not None else files[0].parent / OUTPUT_NAME
    if path.exists() and not force:
        raise ConfigError(f"{path}: exists; give --force to overwrite it (or --output PATH)")
    given: dict[str, Any] = {"env_files": env_files, "profiles": profiles, "environ": environ}
    model = config_json(files, **given)
    raw = config_json(files, **given, no_interpolate=True)
    doc = document(model, files, path, env_files, profiles, raw)
    text = "\n".join(lines(doc)).lstrip("\n") + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return Started(path, text, tuple(todos(doc)))


HELP = "write a starter synthmon.yaml from docker-compose files (exit 4 on bad input)"
ARGUMENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--from", {"dest": "sources", "action": "append", "required": True, "metavar": "FILE",
                "help": "a compose file (repeat to merge several, as docker compose -f)"}),
    ("--output", {"metavar": "PATH", "help": "default: synthmon.yaml next to the first file"}),
    ("--force", {"action": "store_true", "help": "overwrite an existing output"}),
    ("--env-file", {"action": "append", "default": [], "metavar": "FILE",
                    "help": "as docker compose --env-file"}),
    ("--profile", {"action": "append", "default": [], "metavar": "NAME",
                   "help": "as docker compose --profile"}),
)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """``synthmon init``: 0 written (warnings on stderr), 4 bad input (one line)."""
    from synthmon.validate import VALIDATE_EXIT  # validate's imports are heavy: only here

    try:
        started = init_from(
            [Path(p) for p in args.sources],
            output=Path(args.output) if args.output else None,
            force=args.force,
            env_files=[Path(p) for p in args.env_file],
            profiles=args.profile,
        )
    except ConfigError as exc:
        print(f"synthmon init: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return VALIDATE_EXIT
    for line in started.warnings:
        print(f"synthmon init: warning: {line}", file=sys.stderr)
    print(f"synthmon init: wrote {started.path}; check it: synthmon validate {started.path}")
    return 0
