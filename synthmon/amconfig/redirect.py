"""The faithful redirection: the user's alertmanager.yml with only its destinations changed.

Every integration entry keeps its templates, fields and routing and is pointed at the local
sink of its own path, ``/r/{receiver}/{integration}/{index}`` (email: the EHLO name), so a
notification is attributed by where it arrived, not by what its (user-written) text says.
What may change is data in :mod:`synthmon.amconfig.integrations`.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from synthmon.amconfig._yaml import as_list, require_mapping
from synthmon.amconfig.integrations import (
    GLOBAL_SECRETS,
    HTTP_DROPPED,
    HTTP_SECRET_FILES,
    INTEGRATIONS,
    NON_DESTINATION_URLS,
    TLS_DROPPED,
    Integration,
    global_destinations,
)
from synthmon.errors import ConfigError

__all__ = [
    "Destination",
    "Redirected",
    "Unverifiable",
    "changed_fields",
    "non_loopback_destinations",
    "redirect",
    "sink_path",
]


@dataclass(frozen=True)
class Destination:
    """One integration entry of one receiver, and the sink path it now delivers to."""

    receiver: str
    integration: str
    index: int
    send_resolved: bool
    path: str  # /r/{receiver}/{integration}/{index} (email: the EHLO name, without the /)


@dataclass(frozen=True)
class Unverifiable:
    """An integration entry no config can point at a sink: removed from the copy."""

    receiver: str
    integration: str
    index: int
    reason: str


@dataclass(frozen=True)
class Redirected:
    """The test copy (a new dict) and what it delivers where."""

    config: dict[str, Any]
    destinations: tuple[Destination, ...]
    unverifiable: tuple[Unverifiable, ...]


def sink_path(receiver: str, integration: str, index: int) -> str:
    """The contract's sink path of one destination."""
    return f"/r/{quote(receiver, safe='')}/{integration}/{index}"


@dataclass(frozen=True)
class _Target:
    sinks: str
    smtp: str
    secrets_dir: Path

    def secret(self, name: str, value: str) -> str:
        """Write a dummy secret file (0600) into the run's secrets dir; return its path."""
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        path = self.secrets_dir / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        path.write_text(value + "\n")
        path.chmod(0o600)
        return str(path)


def _dummy(name: str) -> str:
    """A stable 32-hex value per secret, shaped like an integration key."""
    return hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()


def redirect(
    config: Mapping[str, Any],
    *,
    sinks_http_url: str,
    smtp_host: str,
    smtp_port: int,
    secrets_dir: Path,
    path_map: Mapping[str, Path],
    base_dir: Path,
) -> Redirected:
    """A copy of ``config`` with every destination on the sinks (``config`` is not changed)."""
    doc: dict[str, Any] = copy.deepcopy(dict(config))
    target = _Target(sinks_http_url.rstrip("/"), f"{smtp_host}:{smtp_port}", secrets_dir)
    glob = doc.get("global")
    if glob is not None:
        require_mapping(glob, "global")
        _global(glob, target)
    found: list[Destination] = []
    lost: list[Unverifiable] = []
    for number, receiver in enumerate(as_list(doc.get("receivers"), "receivers")):
        require_mapping(receiver, f"receivers[{number}]")
        name = str(receiver.get("name", number))
        for key in list(receiver):
            if key.endswith("_configs"):
                got, gone = _receiver_list(receiver, key, name, glob or {}, target)
                found += got
                lost += gone
    if "templates" in doc:
        doc["templates"] = _templates(doc["templates"], path_map, base_dir)
    return Redirected(doc, tuple(found), tuple(lost))


# -- global ---------------------------------------------------------------------------------


def _global(glob: dict[str, Any], target: _Target) -> None:
    """Globals the user set: destinations to an (unused) sink URL, secrets to dummy files.

    Every entry gets its own destination (below), so no global destination is used; they are
    still rewritten so nothing in the copy names a production host.
    """
    for key, integration in global_destinations().items():
        if key not in glob:
            continue
        if integration == "email":
            glob[key] = target.smtp
        elif key.endswith("_file"):
            url = f"{target.sinks}/r/global/{integration}/0"
            glob[key] = target.secret(f"global-{key}", url)
        else:
            glob[key] = f"{target.sinks}/r/global/{integration}/0"
    for _value, file in GLOBAL_SECRETS:
        if file and file in glob:
            glob[file] = target.secret(f"global-{file}", _dummy(f"global/{file}"))
    if isinstance(glob.get("http_config"), dict):
        _http_config(glob["http_config"], "global", f"{target.sinks}/r/global/http/0", target)
    if isinstance(glob.get("smtp_tls_config"), dict):
        _tls(glob["smtp_tls_config"])


# -- receivers ------------------------------------------------------------------------------


def _receiver_list(
    receiver: dict[str, Any], key: str, name: str, glob: Mapping[str, Any], target: _Target
) -> tuple[list[Destination], list[Unverifiable]]:
    kind = key.removesuffix("_configs")
    where = f"receivers[{name}].{key}"
    integ = INTEGRATIONS.get(kind)
    if integ is None:
        raise ConfigError(
            f"alertmanager config: {where}: unknown integration (known: "
            f"{', '.join(sorted(INTEGRATIONS))})"
        )
    entries = as_list(receiver[key], where)
    found: list[Destination] = []
    lost: list[Unverifiable] = []
    kept: list[Any] = []
    for index, entry in enumerate(entries):
        require_mapping(entry, f"{where}[{index}]")
        reason = _unverifiable(integ, entry)
        if reason:
            lost.append(Unverifiable(name, kind, index, reason))
            continue
        path = sink_path(name, kind, index)
        _entry(integ, entry, path, glob, target)
        send = bool(entry.get("send_resolved", integ.send_resolved))
        found.append(Destination(name, kind, index, send, path))
        kept.append(entry)
    receiver[key] = kept
    return found, lost


def _unverifiable(integ: Integration, entry: Mapping[str, Any]) -> str:
    if integ.unverifiable:
        return integ.unverifiable
    if any(entry.get(k) for k in integ.unverifiable_if_set):
        return integ.reason
    if integ.unverifiable_if_unset and not any(entry.get(k) for k in integ.unverifiable_if_unset):
        return integ.reason
    return ""


def _entry(
    integ: Integration, entry: dict[str, Any], path: str, glob: Mapping[str, Any], t: _Target
) -> None:
    prefix = path.strip("/").replace("/", "-")
    for _value, file in integ.secrets:
        if file and file in entry:
            entry[file] = t.secret(f"{prefix}-{file}", _dummy(f"{path}/{file}"))
    if integ.name == "email":
        _email(entry, path, glob, t)
        return
    url = t.sinks + path + ("/" if integ.trailing_slash else "")
    dest, dest_file = integ.destination, integ.destination_file
    assert dest is not None  # an integration without one is unverifiable
    uses_file = dest_file is not None and (
        dest_file in entry
        or (dest not in entry and not glob.get(integ.global_default or "") and
            bool(glob.get(integ.global_default_file or "")))
    )  # fmt: skip
    if uses_file and dest_file:
        entry.pop(dest, None)
        entry[dest_file] = t.secret(f"{prefix}-{dest_file}", url)
    else:
        if dest_file:
            entry.pop(dest_file, None)
        entry[dest] = url
    http = entry.get("http_config")
    if http is None and isinstance(glob.get("http_config"), dict):
        # Alertmanager gives an entry without http_config the global one: same here, per entry
        http = entry["http_config"] = copy.deepcopy(glob["http_config"])
    if isinstance(http, dict):
        _http_config(http, prefix, t.sinks + path, t)


def _email(entry: dict[str, Any], path: str, glob: Mapping[str, Any], t: _Target) -> None:
    """SMTP sink, attributed by EHLO name; STARTTLS with any certificate; require_tls kept."""
    entry["smarthost"] = t.smtp
    entry["hello"] = path.lstrip("/")
    tls = entry.get("tls_config")
    if tls is None:
        tls = copy.deepcopy(glob.get("smtp_tls_config")) or {}
    require_mapping(tls, f"{path}.tls_config")
    entry["tls_config"] = tls
    _tls(tls)


def _http_config(http: dict[str, Any], prefix: str, base: str, t: _Target) -> None:
    """No proxy, any TLS certificate, the OAuth2 token from the sink, secrets from dummies."""
    for key in HTTP_DROPPED:
        http.pop(key, None)
    _tls(http.setdefault("tls_config", {}))
    for keys in HTTP_SECRET_FILES:
        *parents, leaf = keys
        node: Any = http
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node[leaf] = t.secret(f"{prefix}-{'-'.join(keys)}", _dummy(f"{prefix}/{keys}"))
    oauth2 = http.get("oauth2")
    if isinstance(oauth2, dict):
        oauth2["token_url"] = f"{base}/oauth2/token"
        for key in HTTP_DROPPED:
            oauth2.pop(key, None)
        if isinstance(oauth2.get("tls_config"), dict):
            _tls(oauth2["tls_config"])
    headers = http.get("http_headers")
    for name, header in (headers or {}).items() if isinstance(headers, dict) else ():
        if isinstance(header, dict) and isinstance(header.get("files"), list):
            header["files"] = [
                t.secret(f"{prefix}-header-{name}-{n}", _dummy(f"{prefix}/{name}/{n}"))
                for n, _ in enumerate(header["files"])
            ]


def _tls(tls: Any) -> None:
    if not isinstance(tls, dict):
        raise ConfigError(f"alertmanager config: tls_config must be a mapping, got {tls!r:.60}")
    for key in TLS_DROPPED:
        tls.pop(key, None)
    tls["insecure_skip_verify"] = True


# -- templates ------------------------------------------------------------------------------


def _templates(value: Any, path_map: Mapping[str, Path], base_dir: Path) -> list[str]:
    """Each template path made absolute: production paths through ``path_map``."""
    return [_template(str(t), path_map, base_dir) for t in as_list(value, "templates")]


def _template(path: str, path_map: Mapping[str, Path], base_dir: Path) -> str:
    if not path.startswith("/"):
        return str(base_dir.resolve() / path)
    for prod in sorted(path_map, key=len, reverse=True):
        root = prod.rstrip("/")
        if path == root or path.startswith(root + "/"):
            return str(Path(path_map[prod]).resolve()) + path[len(root) :]
    keys = ", ".join(sorted(path_map)) or "none"
    raise ConfigError(
        f"alertmanager config: templates: {path} is under no monitoring.path_map entry "
        f"(have: {keys}); add one naming where its files are in the repository"
    )


# -- the loopback check -------------------------------------------------------------------


def non_loopback_destinations(
    config: Mapping[str, Any], sink_hosts: Collection[str] = ()
) -> list[str]:
    """``key.path: value`` of every URL or smarthost of a rendered copy that is not on
    loopback, including the SaaS defaults Alertmanager fills in for unset fields.
    ``sink_hosts``: the sinks' own host names (a compose service), local by construction."""

    def local(value: str) -> bool:
        return _loopback(value) or _host(value) in sink_hosts

    glob = config.get("global") or {}
    found = [f"global.{k}: {v}" for k, v in _global_urls(glob) if not local(v)]
    for number, receiver in enumerate(config.get("receivers") or []):
        for key, entries in receiver.items():
            integ = INTEGRATIONS.get(str(key).removesuffix("_configs"))
            if integ is None or not str(key).endswith("_configs"):
                continue
            for index, entry in enumerate(entries or []):
                where = f"receivers[{number}].{key}[{index}]"
                urls = _entry_urls(integ, entry, glob)
                found += [f"{where}{'.' * bool(k)}{k}: {v}" for k, v in urls if not local(v)]
    return found


def _global_urls(glob: Mapping[str, Any]) -> list[tuple[str, str]]:
    urls = [(k, _read(k, glob[k])) for k in global_destinations() if glob.get(k)]
    return urls + _http_urls("http_config", glob.get("http_config"))


def _entry_urls(
    integ: Integration, entry: Mapping[str, Any], glob: Mapping[str, Any]
) -> list[tuple[str, str]]:
    reason = _unverifiable(integ, entry)
    if reason:
        return [("", f"unverifiable ({reason})")]
    sources = ((entry, integ.destination), (entry, integ.destination_file),
               (glob, integ.global_default), (glob, integ.global_default_file))  # fmt: skip
    value = next((_read(k, d[k]) for d, k in sources if k and d.get(k)), integ.saas_default)
    urls = [(str(integ.destination), value)] if value else []
    # and, apart from the table, every field named like a URL (a table that misses one fails)
    urls += [(k, _read(k, v)) for k, v in entry.items() if isinstance(k, str) and v and
             k.endswith(("url", "url_file")) and k not in NON_DESTINATION_URLS]  # fmt: skip
    http = entry.get("http_config", glob.get("http_config"))
    return list(dict.fromkeys(urls + _http_urls("http_config", http)))


def _http_urls(where: str, http: Any) -> list[tuple[str, str]]:
    if not isinstance(http, dict):
        return []
    urls = [(f"{where}.proxy_url", str(http["proxy_url"]))] if http.get("proxy_url") else []
    if http.get("proxy_from_environment"):
        urls.append((f"{where}.proxy_from_environment", "the environment's proxy"))
    oauth2 = http.get("oauth2")
    if isinstance(oauth2, dict):
        urls += [(f"{where}.oauth2.token_url", str(oauth2.get("token_url", "")))]
        urls += _http_urls(f"{where}.oauth2", {k: v for k, v in oauth2.items() if k != "oauth2"})
    return urls


def _read(key: str, value: Any) -> str:
    """A destination's value; a ``*_file`` one is the file's content."""
    if not key.endswith("_file"):
        return str(value)
    try:
        return Path(str(value)).read_text().strip()
    except OSError:
        return f"{value} (unreadable)"


def _host(value: str) -> str | None:
    """The host of a URL or host:port."""
    return urlsplit(value).hostname if "://" in value else urlsplit(f"//{value}").hostname


def _loopback(value: str) -> bool:
    """Whether a URL or host:port names 127.0.0.0/8, ::1 or localhost."""
    host = _host(value)
    if host is None or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- diff -----------------------------------------------------------------------------------


def changed_fields(original: Any, changed: Any, where: str = "") -> list[str]:
    """Key paths (``receivers[0].slack_configs[0].api_url``) where the two documents differ."""
    if isinstance(original, dict) and isinstance(changed, dict):
        found: list[str] = []
        for key in [*original, *(k for k in changed if k not in original)]:
            sub = f"{where}.{key}" if where else str(key)
            if key not in original or key not in changed:
                found.append(sub)
            else:
                found += changed_fields(original[key], changed[key], sub)
        return found
    if isinstance(original, list) and isinstance(changed, list):
        if len(original) != len(changed):
            return [where]
        return [p for n, (a, b) in enumerate(zip(original, changed, strict=True)) for p in
                changed_fields(a, b, f"{where}[{n}]")]  # fmt: skip
    return [] if original == changed else [where]
