"""What a compose service's monitoring files are on the host, for ``synthmon init --from``.

A Prometheus or Alertmanager container names container paths (``--config.file``, rule_files,
templates, ``*_file`` secrets); the compose model's bind mounts, secrets and configs say which
host file each one is. Only the compose *model* is read here (never compose YAML); the
prometheus.yml and alertmanager.yml found that way are the user's files, read with PyYAML.
"""

from __future__ import annotations

import glob
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from synthmon.init_text import Block, Todo, Value
from synthmon.yamlfile import parse_yaml, read_text

GLOB_CHARS = frozenset("*?[")
# where the official images read their config when the command names no --config.file
PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"
ALERTMANAGER_YML = "/etc/alertmanager/alertmanager.yml"
NO_PROMETHEUS_YML = Todo("no prometheus.yml was found")


class NotInferred(Exception):
    """One thing init could not infer; its message says why (becomes a ``# TODO`` line)."""


@dataclass(frozen=True)
class Mount:
    """A container path backed by a host path: a bind mount, a secret or a config."""

    target: PurePosixPath
    source: Path
    how: str  # "bind mount", "secret NAME", "config NAME"


def mounts(service: Mapping[str, Any], model: Mapping[str, Any]) -> tuple[Mount, ...]:
    """Every host-backed path of a service of the compose model ``model``."""
    found = [
        Mount(PurePosixPath(v["target"]), Path(v["source"]), "bind mount")
        for v in service.get("volumes") or ()
        if v.get("type") == "bind" and v.get("source") and v.get("target")
    ]
    for key, default_dir in (("secrets", "/run/secrets"), ("configs", "/")):
        top = model.get(key) or {}
        for ref in service.get(key) or ():
            source = ref["source"] if isinstance(ref, dict) else str(ref)
            target = ref.get("target") if isinstance(ref, dict) else None
            host = (top.get(source) or {}).get("file")
            if host:
                where = PurePosixPath(default_dir) / (target or source)  # absolute target wins
                found.append(Mount(where, Path(host), f"{key[:-1]} {source}"))
    return tuple(found)


def host_path(path: PurePosixPath, service_mounts: tuple[Mount, ...]) -> tuple[Path, Mount]:
    """The host path behind container ``path`` (the longest mount that covers it)."""
    covering = [m for m in service_mounts if path == m.target or m.target in path.parents]
    if not covering:
        have = ", ".join(sorted(str(m.target) for m in service_mounts)) or "none"
        raise NotInferred(f"{path} is in no mount of the service (mounts: {have})")
    mount = max(covering, key=lambda m: len(m.target.parts))
    return mount.source.joinpath(*path.parts[len(mount.target.parts) :]), mount


def flag(service: Mapping[str, Any], name: str, default: str) -> str:
    """The value of ``--name=V`` / ``--name V`` in the service's entrypoint and command."""
    argv: list[str] = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        argv += shlex.split(value) if isinstance(value, str) else list(value or ())
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
    return default


def config_file(
    role: str, service: Mapping[str, Any], service_mounts: tuple[Mount, ...], default: str
) -> tuple[PurePosixPath, Path, str]:
    """(container path, host file, how) of a Prometheus/Alertmanager ``--config.file``."""
    inside = PurePosixPath(flag(service, "config.file", default))
    try:
        host, mount = host_path(inside, service_mounts)
    except NotInferred as exc:
        raise NotInferred(f"{role}: --config.file {exc}") from None
    if not host.is_file():
        raise NotInferred(f"{role}: --config.file {inside} is {host} ({mount.how}): no such file")
    return inside, host, f"{role} --config.file {inside} ({mount.how})"


def read_config(path: Path, what: str) -> dict[str, Any]:
    """A user's prometheus.yml or alertmanager.yml as a mapping (an empty file: {})."""
    doc = parse_yaml(read_text(path, what), str(path))
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise NotInferred(f"{path}: {what} is not a mapping")
    return doc


@dataclass
class GlobsBack:
    """Container globs mapped back to the host: per host dir, its patterns."""

    dirs: dict[Path, list[str]] = field(default_factory=dict)
    path_map: dict[str, tuple[Path, str]] = field(default_factory=dict)  # → (host, how)


def globs_back(
    globs: list[str], base: PurePosixPath, service_mounts: tuple[Mount, ...], key: str
) -> GlobsBack:
    """Container ``globs`` (relative ones to ``base``) as host dirs + patterns; a glob with no
    wildcard is one file (it may be mounted alone)."""
    back = GlobsBack()
    for pattern in globs:
        inside = base / pattern
        parts = inside.parts
        fixed = next((i for i, p in enumerate(parts) if GLOB_CHARS & set(p)), None)
        directory = inside if fixed is None else PurePosixPath(*parts[:fixed])
        try:
            host, mount = host_path(directory, service_mounts)
        except NotInferred as exc:
            raise NotInferred(f"{key} {pattern}: {exc}") from None
        if fixed is None:
            back.dirs.setdefault(host.parent, []).append(host.name)
        else:
            back.dirs.setdefault(host, []).append("/".join(parts[fixed:]))
        back.path_map[str(directory)] = (host, f"{key} {pattern}, {mount.how}")
    return back


def files_of(back: GlobsBack) -> list[Path]:
    """The host files the mapped globs match, sorted."""
    found = {
        Path(p)
        for host, patterns in back.dirs.items()
        for pattern in patterns
        for p in glob.glob(str(host / pattern))
    }
    return sorted(p for p in found if p.is_file())


def named_files(doc: Any, base: PurePosixPath) -> Iterator[PurePosixPath]:
    """Every ``*_file`` path a config names (secrets, tokens, CAs), as container paths."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
                yield base / value
            else:
                yield from named_files(value, base)
    elif isinstance(doc, list):
        for item in doc:
            yield from named_files(item, base)


def files_map(
    paths: list[PurePosixPath], service_mounts: tuple[Mount, ...], covered: Mapping[str, object]
) -> dict[str, tuple[Path, str]]:
    """``path_map`` entries for named files: a container dir → host dir where every file under
    it sits in one host dir under the same name (e.g. a secrets directory), else per file."""
    by_dir: dict[PurePosixPath, dict[PurePosixPath, tuple[Path, str]]] = {}
    for path in dict.fromkeys(paths):
        if any(path == PurePosixPath(c) or PurePosixPath(c) in path.parents for c in covered):
            continue
        host, mount = host_path(path, service_mounts)
        by_dir.setdefault(path.parent, {})[path] = (host, mount.how)
    entries: dict[str, tuple[Path, str]] = {}
    for directory, files in by_dir.items():
        parents = {h.parent for h, _ in files.values()}
        if (
            len(files) > 1
            and len(parents) == 1
            and all(p.name == h.name for p, (h, _) in files.items())
        ):
            how = ", ".join(sorted(h for _, h in files.values()))
            entries[str(directory)] = (parents.pop(), f"files the config names: {how}")
        else:
            entries.update(
                {str(p): (h, f"named by the config: {how}") for p, (h, how) in files.items()}
            )
    return entries


def alert_names(rule_files: list[Path]) -> list[str]:
    """The alert names of the rule files, in file order, each once."""
    names: dict[str, None] = {}
    for path in rule_files:
        doc = read_config(path, "rule file")
        for group in doc.get("groups") or ():
            for rule in (group or {}).get("rules") or ():
                if isinstance(rule, dict) and isinstance(rule.get("alert"), str):
                    names[rule["alert"]] = None
    return list(names)


@dataclass
class Inferred:
    """The ``monitoring:`` block, ``scrape_jobs`` and the alert names of the rule files."""

    block: Block = field(default_factory=Block)
    scrape_jobs: Value | Todo = NO_PROMETHEUS_YML
    alerts: list[str] = field(default_factory=list)
    path_map: dict[str, tuple[Path, str]] = field(default_factory=dict)


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path.resolve(), base.resolve())


def _rules(back: GlobsBack, globs: list[str], base: Path) -> Value:
    """``rules:``: a directory when every glob is ``*.yml``/``*.yaml`` in one, else globs."""
    why = f"prometheus.yml rule_files {', '.join(globs)}"
    if not globs:
        return Value([], "prometheus.yml has no rule_files")
    if len(back.dirs) == 1 and set(next(iter(back.dirs.values()))) <= {"*.yml", "*.yaml"}:
        return Value(_rel(next(iter(back.dirs)), base), why)
    return Value([_rel(d / p, base) for d, ps in back.dirs.items() for p in ps], why)


def _prometheus(
    found: Inferred, spec: Mapping[str, Any], mnts: tuple[Mount, ...], base: Path
) -> None:
    try:
        inside, host, how = config_file("prometheus", spec, mnts, PROMETHEUS_YML)
    except NotInferred as exc:
        found.block.add("prometheus_yml", Todo(str(exc)))
        found.block.add("rules", Todo("no prometheus.yml, so no rule_files"))
        return
    found.block.add("prometheus_yml", Value(_rel(host, base), how))
    doc = read_config(host, "prometheus.yml")
    globs = [str(g) for g in doc.get("rule_files") or ()]
    try:
        back = globs_back(globs, inside.parent, mnts, "rule_files")
    except NotInferred as exc:
        found.block.add("rules", Todo(f"prometheus: {exc}"))
    else:
        found.block.add("rules", _rules(back, globs, base))
        found.path_map.update(back.path_map)
        found.alerts = alert_names(files_of(back))
    found.path_map.update(_named(doc, inside, mnts, found, "prometheus"))
    jobs = [str(c.get("job_name")) for c in doc.get("scrape_configs") or () if isinstance(c, dict)]
    found.scrape_jobs = Value(
        jobs, "every job of prometheus.yml: keep those the test stack scrapes", guessed=True
    )


def _named(
    doc: Any, inside: PurePosixPath, mnts: tuple[Mount, ...], found: Inferred, role: str
) -> dict[str, tuple[Path, str]]:
    try:
        return files_map(list(named_files(doc, inside.parent)), mnts, found.path_map)
    except NotInferred as exc:
        found.block.add("path_map", Todo(f"a file {inside.name} names: {role}: {exc}"))
        return {}


def _alertmanager(
    found: Inferred, spec: Mapping[str, Any], mnts: tuple[Mount, ...], base: Path
) -> None:
    try:
        inside, host, how = config_file("alertmanager", spec, mnts, ALERTMANAGER_YML)
    except NotInferred as exc:
        found.block.add("alertmanager_yml", Todo(str(exc)))
        return
    found.block.add("alertmanager_yml", Value(_rel(host, base), how))
    doc = read_config(host, "alertmanager.yml")
    globs = [str(g) for g in doc.get("templates") or ()]
    try:
        back = globs_back(globs, inside.parent, mnts, "templates")
    except NotInferred as exc:
        found.block.add("templates", Todo(f"alertmanager: {exc}"))
    else:
        if len(back.dirs) == 1:
            found.block.add(
                "templates",
                Value(
                    _rel(next(iter(back.dirs)), base),
                    f"alertmanager.yml templates {', '.join(globs)}",
                ),
            )
        elif back.dirs:
            found.block.add(
                "templates", Todo(f"templates in {len(back.dirs)} directories: {', '.join(globs)}")
            )
        elif not (host.parent / "templates").is_dir():  # synthmon's default: it must exist
            why = "alertmanager.yml names no templates; a directory that exists (read for none)"
            found.block.add("templates", Value(_rel(host.parent, base), why, guessed=True))
        found.path_map.update(back.path_map)
    found.path_map.update(_named(doc, inside, mnts, found, "alertmanager"))


def _outermost(path_map: Mapping[str, tuple[Path, str]]) -> dict[str, tuple[Path, str]]:
    """The entries no other entry already maps (a subdirectory of a mapped directory)."""
    kept = {}
    for inside, (host, how) in path_map.items():
        path = PurePosixPath(inside)
        if not any(
            PurePosixPath(o) in path.parents and h / path.relative_to(o) == host
            for o, (h, _) in path_map.items()
        ):
            kept[inside] = (host, how)
    return kept


def dashboards(model: Mapping[str, Any], grafana: Sequence[str], base: Path) -> Value | None:
    """The first directory a Grafana service mounts that holds dashboard JSON, if any."""
    for name in grafana:
        for mount in mounts(model["services"][name], model):
            if mount.source.is_dir() and next(mount.source.rglob("*.json"), None):
                why = f"{name} mounts it at {mount.target} and it holds *.json"
                return Value(_rel(mount.source, base), why, guessed=True)
    return None


def monitoring(
    model: Mapping[str, Any],
    prometheus: str | None,
    alertmanager: str | None,
    base: Path,
    grafana: Sequence[str] = (),
) -> Inferred:
    """What the Prometheus and Alertmanager services' mounts say the monitoring files are
    (and a dropped Grafana's, where the dashboards are)."""
    found = Inferred()
    services = model["services"]
    for name, role, infer in (
        (prometheus, "prometheus", _prometheus),
        (alertmanager, "alertmanager", _alertmanager),
    ):
        if name is None:
            found.block.add(f"{role}_yml", Todo(f"no {role} service (see compose.{role})"))
            continue
        infer(found, services[name], mounts(services[name], model), base)
    board = dashboards(model, grafana, base)
    if board is not None:
        found.block.add("dashboards", board)
    if found.path_map:
        entries = Block(why="container paths the configs name → the files here")
        for inside, (host, how) in sorted(_outermost(found.path_map).items()):
            entries.add(inside, Value(_rel(host, base), how))
        found.block.add("path_map", entries)
    return found
