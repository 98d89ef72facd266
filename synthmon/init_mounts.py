"""What a compose service reaches outside its container: host files behind its container paths,
and SaaS hosts behind the URLs its environment takes from a variable.

A Prometheus or Alertmanager container names container paths (``--config.file``, rule_files,
templates, ``*_file`` secrets); the compose model's bind mounts, secrets and configs say which
host file each one is. A value such as ``${PAYMENTS_URL:-https://api.stripe.com}`` (seen in
the model Compose has not interpolated) is a SaaS the test stack cannot reach: init writes a
commented-out fake upstream to stand in for it. Only the compose *model* is read here (never
compose YAML); the configs found that way are the user's files, read with PyYAML
(:mod:`synthmon.yamlfile`).
"""

from __future__ import annotations

import glob
import ipaddress
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from synthmon.init_text import Note, scalar
from synthmon.project import BUILTIN_SERVICES
from synthmon.stack.compose_override import flag as argv_flag
from synthmon.yamlfile import parse_yaml, read_text

GLOB_CHARS = frozenset("*?[")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# a whole value Compose fills in from a variable with a default: ${VAR:-URL} or ${VAR-URL}
DEFAULTED_URL = re.compile(r"\$\{(?P<var>[A-Za-z_][A-Za-z0-9_]*):?-(?P<url>https?://[^}]+)\}")
# host labels that name no product (api.stripe.com → stripe)
GENERIC_LABELS = frozenset({"api", "www", "app", "rest", "gateway", "public", "v1", "v2", "v3"})
UPSTREAM_HELP = 'the routes file format: README "fake upstream", python -m synthmon.upstream --help'


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
    found = argv_flag(argv, name)
    return default if found is None else found


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
) -> tuple[dict[str, tuple[Path, str]], list[PurePosixPath]]:
    """``path_map`` entries for named files: a container dir → host dir where every file under
    it sits in one host dir under the same name (e.g. a secrets directory), else per file; and
    the files no mount provides."""
    by_dir: dict[PurePosixPath, dict[PurePosixPath, tuple[Path, str]]] = {}
    unmapped = []
    for path in dict.fromkeys(paths):
        if any(path == PurePosixPath(c) or PurePosixPath(c) in path.parents for c in covered):
            continue
        try:
            host, mount = host_path(path, service_mounts)
        except NotInferred:
            unmapped.append(path)
            continue
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
    return entries, unmapped


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


@dataclass(frozen=True)
class StandIn:
    """An env value of ``service`` that Compose fills from ``var`` with a default ``url`` on a
    host outside the compose project (a SaaS): fake upstream ``name`` stands in for it."""

    name: str
    var: str
    url: str
    service: str
    key: str


def _outside(host: str | None, services: Mapping[str, Any]) -> bool:
    """A host no test stack reaches: not a compose service, loopback or a private address."""
    if not host or host in services or "." not in host:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return not host.endswith((".local", ".localhost", ".internal", ".lan"))


def _stand_in_name(host: str, taken: set[str]) -> str:
    """``api.stripe.com`` → ``stripe``: its first label that names a product."""
    labels = host.lower().split(".")[:-1]
    base = re.sub(r"\W", "_", next((x for x in labels if x not in GENERIC_LABELS), labels[0]))
    base = base if IDENTIFIER.match(base) else f"upstream_{base}"
    name, n = base, 1
    while name in taken or name in BUILTIN_SERVICES:
        n += 1
        name = f"{base}_{n}"
    return name


def stand_ins(raw: Mapping[str, Any], keep: Sequence[str]) -> list[StandIn]:
    """The kept services' env values set by ``${VAR:-https://outside}`` (one per variable)."""
    services = raw["services"]
    taken, found = set(services), list[StandIn]()
    for service in keep:
        env = services[service].get("environment") or {}
        if isinstance(env, list):  # ["KEY=VALUE"]
            env = dict(str(e).partition("=")[::2] for e in env)
        for key, value in sorted(env.items()):
            match = DEFAULTED_URL.fullmatch(str(value or "").strip())
            if not match or any(s.var == match["var"] for s in found):
                continue
            host = urlsplit(match["url"]).hostname
            if host and _outside(host, services):
                name = _stand_in_name(host, taken)
                taken.add(name)
                found.append(StandIn(name, match["var"], match["url"], service, key))
    return found


def stand_in_notes(found: Sequence[StandIn]) -> list[Note]:
    """The commented-out ``services:`` entries of the stand-ins, each with why."""
    notes = []
    for s in found:
        why = (
            f"{s.name}: {s.service}'s {s.key} is ${{{s.var}:-{s.url}}}, a SaaS the test stack "
            f"cannot reach (its health says so). A stand-in: synthmon's fake upstream, answering "
            f"what its routes file says ({UPSTREAM_HELP}). Uncomment it and compose.env's "
            f"{s.var} line:"
        )
        notes += [Note(why), Note(f"{s.name}: {{kind: fake_upstream, routes: TODO.yaml}}")]
    return notes


def stand_in_env(found: Sequence[StandIn]) -> Note:
    """compose.env's lines that point each variable at its stand-in, commented out."""
    env = [
        f"  {s.var}: {scalar('${' + s.name + '.url}')}  # {s.service}'s {s.key} → {s.name}"
        for s in found
    ]
    names = ", ".join(f"services.{s.name}" for s in found)
    head = f"env: for Compose's interpolation (wins over .env); uncomment with {names}:"
    return Note("\n".join([head, "env:", *env]), wrap=False)
