"""The override file synthmon lays over the user's compose files (``-f theirs.yml -f ours.yml``).

Their files run as written; the override only: publishes every service's ports on 127.0.0.1 at
ports the engine picks (two runs never collide, and nothing listens beyond loopback), labels
every container with the run that owns it, mounts the test copies of prometheus.yml and
alertmanager.yml over theirs (plus the run's config directory at its own path, for the rules,
templates and dummy secrets the copies name), adds synthmon's own services (the notification
sinks and the fake upstreams, from the tools image) and swaps a ``build:`` for the image the
project names. It is data, computed from Compose's own model of their files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from synthmon.errors import ConfigError

SINKS_SERVICE = "synthmon-sinks"
PROXY_SERVICE = "synthmon-faultproxy"
PROXY_API_PORT = 8474  # Toxiproxy's
BACKSTAGE = "synthmon-backstage"  # where a proxied dependency lives, under its real name
SINKS_HTTP_PORT = 8025
SINKS_SMTP_PORT = 2525
UPSTREAM_PORT = 8080
# the ports Prometheus, Alertmanager and the Pushgateway listen on unless told otherwise
DEFAULT_PORTS = {"prometheus": 9090, "alertmanager": 9093, "pushgateway": 9091}
DEFAULT_CONFIG = {
    "prometheus": "/etc/prometheus/prometheus.yml",
    "alertmanager": "/etc/alertmanager/alertmanager.yml",
}


class Override(list[Any]):
    """A list Compose must take instead of merging (``!override``)."""


class _OverrideMap(dict[str, Any]):
    """A mapping Compose must take instead of merging (``!override``)."""


class Reset:
    """A key Compose must drop from the merged model (``!reset``)."""


def _dump_override(dumper: yaml.SafeDumper, data: Override) -> yaml.Node:
    return dumper.represent_sequence("!override", list(data))


def _dump_override_map(dumper: yaml.SafeDumper, data: _OverrideMap) -> yaml.Node:
    return dumper.represent_mapping("!override", dict(data))


def _dump_reset(dumper: yaml.SafeDumper, data: Reset) -> yaml.Node:
    return dumper.represent_scalar("!reset", "")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Override, _dump_override)
_Dumper.add_representer(Reset, _dump_reset)
_Dumper.add_representer(_OverrideMap, _dump_override_map)


@dataclass(frozen=True)
class Helper:
    """One of synthmon's own services, run from the tools image on the project's network."""

    name: str
    command: tuple[str, ...]
    port: int
    mounts: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What the override does, as data the stack needs afterwards too."""

    services: tuple[str, ...]  # every service `up` starts (theirs minus dropped, plus ours)
    ports: Mapping[str, tuple[int, ...]]  # service → the container ports published
    config_paths: Mapping[str, str]  # "prometheus"/"alertmanager" → its config in the container
    text: str  # the override file


def flag(command: Sequence[str], name: str) -> str | None:
    """The value of ``--name=VALUE`` or ``--name VALUE`` in an argv."""
    for i, arg in enumerate(command):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(command):
            return command[i + 1]
    return None


def listen_port(command: Sequence[str]) -> int | None:
    address = flag(command, "web.listen-address")
    if address is None or ":" not in address:
        return None
    try:
        return int(address.rsplit(":", 1)[1])
    except ValueError:
        return None


def container_ports(service: Mapping[str, Any]) -> list[int]:
    """The container ports a compose service publishes or exposes, in order, each once."""
    found: list[int] = []
    for entry in service.get("ports") or []:
        target = entry.get("target") if isinstance(entry, Mapping) else None
        if isinstance(target, int) and target not in found:
            found.append(target)
    for entry in service.get("expose") or []:
        port = str(entry).split("/")[0]
        if port.isdigit() and int(port) not in found:
            found.append(int(port))
    return found


def plan_override(
    model: Mapping[str, Any],
    *,
    roles: Mapping[str, str],
    commands: Mapping[str, Sequence[str]],
    wanted_ports: Mapping[str, int],
    rendered: Mapping[str, Path],
    conf_dir: Path,
    mounts: Sequence[Path],
    helpers: Sequence[Helper],
    images: Mapping[str, str],
    tools_image: str,
    labels: Mapping[str, str],
    drop: Sequence[str] = (),
    extra_args: Mapping[str, Sequence[str]] | None = None,
    links: Mapping[str, int] | None = None,
    proxy_config: Path | None = None,
) -> Plan:
    """The override for Compose's ``model`` of the user's files.

    ``roles``: "prometheus"/"alertmanager" → the compose service; ``commands``: those services'
    effective argv (their ``command:``, else the image's CMD); ``wanted_ports``: service → a
    container port checks reach (the project's services); ``rendered``: role → the test copy
    to mount over its config; ``mounts``: host paths mounted read-only at the same path;
    ``images``: service → the image replacing its ``build:``; ``extra_args``: role → flags
    appended to its command. ``links``: dependency → its container port, for the fault proxy
    (its Toxiproxy config at ``proxy_config``): the proxy takes over the dependency's name on
    its networks, and the dependency moves to a network of its own under
    :func:`real_name`, so no service's config changes.
    """
    services: dict[str, Any] = model["services"]
    unknown = sorted(set(drop) - set(services))
    if unknown:
        raise ConfigError(f"compose.drop: no service {', '.join(unknown)} in the compose files")
    out: dict[str, dict[str, Any]] = {}
    published: dict[str, tuple[int, ...]] = {}
    config_paths: dict[str, str] = {}
    binds = [_bind(path, path) for path in (conf_dir, *mounts)]
    by_service = {service: role for role, service in roles.items()}
    for name, service in services.items():
        if name in drop:
            continue
        entry: dict[str, Any] = {"labels": {**labels, "synthmon.service": name}}
        ports = container_ports(service)
        role = by_service.get(name)
        if role is not None:
            command = list(commands.get(name) or ())
            port = listen_port(command) or DEFAULT_PORTS.get(role)
            if port is not None and port not in ports:
                ports.append(port)
            if role in rendered:
                path = flag(command, "config.file") or DEFAULT_CONFIG[role]
                config_paths[role] = path
                entry["volumes"] = [_bind(rendered[role], Path(path)), *binds]
            extra = list((extra_args or {}).get(role, ()))
            if extra:
                entry["command"] = Override([*command, *extra])
        if name in wanted_ports and wanted_ports[name] not in ports:
            ports.append(wanted_ports[name])
        if ports:
            entry["ports"] = Override([f"127.0.0.1::{port}" for port in ports])
        if name in images:
            entry["image"] = images[name]
            if "build" in service:
                entry["build"] = Reset()
        published[name] = tuple(ports)
        out[name] = entry
    for helper in helpers:
        if helper.name in services:
            raise ConfigError(
                f"compose: service {helper.name!r} is synthmon's own ({' '.join(helper.command)}) "
                "and also in the compose files: give it another name in synthmon.yaml"
            )
        out[helper.name] = {
            "image": tools_image,
            "command": list(helper.command),
            "ports": [f"127.0.0.1::{helper.port}"],
            "labels": {**labels, "synthmon.service": helper.name},
            **({"volumes": [_bind(p, p) for p in helper.mounts]} if helper.mounts else {}),
        }
        published[helper.name] = (helper.port,)
    document: dict[str, Any] = {"services": out}
    # networks and volumes carry the owner too: the next run removes a dead run's, never a
    # live run's that has no container yet
    owned = {"labels": dict(labels)}
    document["networks"] = {name: owned for name in model.get("networks") or {"default": None}}
    if model.get("volumes"):
        document["volumes"] = {name: owned for name in model["volumes"]}
    if links:
        assert proxy_config is not None
        _take_over(document, services, links, proxy_config, tools_image, labels)
        published[PROXY_SERVICE] = (PROXY_API_PORT,)
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    return Plan(tuple(out), published, config_paths, text)


def real_name(dependency: str) -> str:
    """Where the proxy finds a dependency it stands in for."""
    return f"synthmon-real-{dependency}"


def _take_over(
    document: dict[str, Any],
    services: Mapping[str, Any],
    links: Mapping[str, int],
    proxy_config: Path,
    tools_image: str,
    labels: Mapping[str, str],
) -> None:
    out = document["services"]
    networks: dict[str, dict[str, list[str]] | None] = {}
    for dependency in links:
        if dependency not in services:
            raise ConfigError(f"link to {dependency!r}: no such service in the compose files")
        theirs = services[dependency].get("networks") or {"default": None}
        for network in theirs:
            entry = networks.setdefault(network, {"aliases": []})
            assert entry is not None
            entry["aliases"].append(dependency)
        out[dependency]["networks"] = _OverrideMap(
            {BACKSTAGE: {"aliases": [real_name(dependency)]}}
        )
    networks[BACKSTAGE] = None
    out[PROXY_SERVICE] = {
        "image": tools_image,
        "command": ["python", "-m", "synthmon.faultproxy", "--host", "0.0.0.0",
                    "--port", str(PROXY_API_PORT), "--config", str(proxy_config)],
        "ports": [f"127.0.0.1::{PROXY_API_PORT}"],
        "labels": {**labels, "synthmon.service": PROXY_SERVICE},
        "volumes": [_bind(proxy_config.parent, proxy_config.parent)],
        "networks": networks,
    }  # fmt: skip
    for name, service in services.items():
        needs = service.get("depends_on") or {}
        if name in out and any(d in links for d in needs):
            out[name]["depends_on"] = {PROXY_SERVICE: {"condition": "service_started"}}
    document["networks"][BACKSTAGE] = {"labels": dict(labels)}


def proxy_populate(links: Mapping[str, tuple[str, int]]) -> list[dict[str, Any]]:
    """The fault proxy's Toxiproxy config: proxy name → (dependency, its port)."""
    return [
        {"name": name, "listen": f"0.0.0.0:{port}",
         "upstream": f"{real_name(dependency)}:{port}", "enabled": True}
        for name, (dependency, port) in links.items()
    ]  # fmt: skip


def _bind(source: Path, target: Path) -> dict[str, Any]:
    return {"type": "bind", "source": str(source), "target": str(target), "read_only": True}


def sinks_helper() -> Helper:
    return Helper(
        SINKS_SERVICE,
        ("python", "-m", "synthmon.sinks", "--host", "0.0.0.0",
         "--http-port", str(SINKS_HTTP_PORT), "--smtp-port", str(SINKS_SMTP_PORT)),
        SINKS_HTTP_PORT,
    )  # fmt: skip


def upstream_helper(name: str, routes: Path, port: int | None) -> Helper:
    """A fake upstream under the project's name for it (the service's config names it)."""
    listen = port or UPSTREAM_PORT
    return Helper(
        name,
        ("python", "-m", "synthmon.upstream", "--host", "0.0.0.0", "--port", str(listen),
         "--routes", str(routes)),
        listen,
        (routes.parent,),
    )  # fmt: skip
