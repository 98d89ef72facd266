"""Render the production alertmanager.yml for the test stack.

The production file keeps real intervals and real endpoints. The test stack needs the same
routing with time compressed and every destination pointed at the local sinks (the faithful
redirection of :mod:`synthmon.amconfig.redirect`), so what is tested is the production config.
Which route an alert lands on, with its timers, is :class:`synthmon.amconfig.routing.RouteTree`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit

import yaml

from synthmon.amconfig._yaml import as_list, require_mapping
from synthmon.amconfig.redirect import Redirected, non_loopback_destinations, redirect
from synthmon.durations import format_duration, parse_duration
from synthmon.errors import ConfigError
from synthmon.yamlfile import parse_yaml

# Alertmanager's own defaults for a root route that leaves them unset.
DEFAULT_TIMINGS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
# Floors after scaling: Alertmanager rejects a zero group_interval/repeat_interval, and
# sub-second flush loops only add load without making a test any faster to read.
MIN_SECONDS = {"group_wait": 0.25, "group_interval": 1.0, "repeat_interval": 1.0}


class SinkOptions(TypedDict):
    """Where the copy delivers: the keywords of :func:`synthmon.amconfig.redirect.redirect`."""

    sinks_http_url: str
    smtp_host: str
    smtp_port: int
    secrets_dir: Path
    path_map: Mapping[str, Path]
    base_dir: Path


def render_alertmanager_config(text: str, *, factor: float, **sinks: Unpack[SinkOptions]) -> str:
    """The production config with intervals divided by ``factor`` and every destination on
    the sinks (:func:`synthmon.amconfig.redirect.redirect`), as YAML text."""
    return redirect_alertmanager_config(text, factor=factor, **sinks)[0]


def redirect_alertmanager_config(
    text: str, *, factor: float, **sinks: Unpack[SinkOptions]
) -> tuple[str, Redirected]:
    """:func:`render_alertmanager_config`, and what the copy delivers where.

    Raises ConfigError when anything in the copy still names a host off loopback.
    """
    if factor <= 0:
        raise ConfigError(f"alertmanager config: time scale factor must be > 0, got {factor}")
    config = _load(text)
    glob = config.get("global")
    if glob is not None:
        require_mapping(glob, "global")
        if "resolve_timeout" in glob:
            glob["resolve_timeout"] = _scaled(glob, "resolve_timeout", "global", factor, 1.0)
    route = config["route"]
    for key, default in DEFAULT_TIMINGS.items():
        route.setdefault(key, default)
    _scale_route(route, "route", factor, {})
    done = redirect(config, **sinks)
    sink_hosts = {urlsplit(sinks["sinks_http_url"]).hostname or "", sinks["smtp_host"]}
    left = non_loopback_destinations(done.config, sink_hosts - {""})
    if left:
        raise ConfigError(
            f"alertmanager config: the test copy still names hosts off loopback: {'; '.join(left)}"
        )
    return yaml.safe_dump(done.config, sort_keys=False), done


# -- loading and scaling ---------------------------------------------------------------------


def _load(text: str) -> dict[str, Any]:
    config = parse_yaml(text, "alertmanager config")
    require_mapping(config, "alertmanager config")
    require_mapping(config.get("route"), "route")
    return dict(config)


def _seconds(value: object, where: str) -> float:
    try:
        return parse_duration(str(value))
    except ConfigError as exc:
        raise ConfigError(f"alertmanager config: {where}: {exc}") from exc


def _scaled(node: Mapping[str, Any], key: str, where: str, factor: float, minimum: float) -> str:
    return format_duration(max(_seconds(node[key], f"{where}.{key}") / factor, minimum))


def _scale_route(
    route: dict[str, Any], where: str, factor: float, inherited: dict[str, float]
) -> None:
    """Scale the timers a route sets; keep repeat_interval >= its effective group_interval."""
    require_mapping(route, where)
    effective = dict(inherited)
    for key, minimum in MIN_SECONDS.items():
        if key in route:
            route[key] = _scaled(route, key, where, factor, minimum)
            effective[key] = parse_duration(route[key])
    if effective["repeat_interval"] < effective["group_interval"]:
        effective["repeat_interval"] = effective["group_interval"]
        route["repeat_interval"] = format_duration(effective["group_interval"])
    for index, child in enumerate(as_list(route.get("routes"), f"{where}.routes")):
        _scale_route(child, f"{where}.routes[{index}]", factor, effective)
