"""Render the production alertmanager.yml for the test stack, and read its timings back.

The production file keeps real intervals and real endpoints. The test stack needs the same
routing with time compressed and every destination pointed at the local sinks (the faithful
redirection of :mod:`synthmon.amconfig.redirect`), so what is tested is the production config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from synthmon.amconfig.redirect import Redirected, non_loopback_destinations, redirect
from synthmon.durations import format_duration, parse_duration
from synthmon.errors import ConfigError
from synthmon.yamlfile import parse_yaml

# Alertmanager's own defaults for a root route that leaves them unset.
DEFAULT_TIMINGS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
# Floors after scaling: Alertmanager rejects a zero group_interval/repeat_interval, and
# sub-second flush loops only add load without making a test any faster to read.
MIN_SECONDS = {"group_wait": 0.25, "group_interval": 1.0, "repeat_interval": 1.0}


@dataclass(frozen=True)
class RouteTiming:
    """The effective timers of the route an alert lands on, in seconds."""

    receiver: str
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float


def render_alertmanager_config(
    text: str,
    *,
    factor: float,
    sinks_http_url: str,
    smtp_host: str,
    smtp_port: int,
    secrets_dir: Path,
    path_map: Mapping[str, Path],
    base_dir: Path,
) -> str:
    """The production config with intervals divided by ``factor`` and every destination on
    the sinks (:func:`synthmon.amconfig.redirect.redirect`), as YAML text."""
    return redirect_alertmanager_config(
        text, factor=factor, sinks_http_url=sinks_http_url, smtp_host=smtp_host,
        smtp_port=smtp_port, secrets_dir=secrets_dir, path_map=path_map, base_dir=base_dir,
    )[0]  # fmt: skip


def redirect_alertmanager_config(
    text: str,
    *,
    factor: float,
    sinks_http_url: str,
    smtp_host: str,
    smtp_port: int,
    secrets_dir: Path,
    path_map: Mapping[str, Path],
    base_dir: Path,
) -> tuple[str, Redirected]:
    """:func:`render_alertmanager_config`, and what the copy delivers where.

    Raises ConfigError when anything in the copy still names a host off loopback.
    """
    if factor <= 0:
        raise ConfigError(f"alertmanager config: time scale factor must be > 0, got {factor}")
    config = _load(text)
    glob = config.get("global")
    if glob is not None:
        _require_mapping(glob, "global")
        if "resolve_timeout" in glob:
            glob["resolve_timeout"] = _scaled(glob, "resolve_timeout", "global", factor, 1.0)
    route = config["route"]
    for key, default in DEFAULT_TIMINGS.items():
        route.setdefault(key, default)
    _scale_route(route, "route", factor, {})
    done = redirect(
        config, sinks_http_url=sinks_http_url, smtp_host=smtp_host, smtp_port=smtp_port,
        secrets_dir=secrets_dir, path_map=path_map, base_dir=base_dir,
    )  # fmt: skip
    left = non_loopback_destinations(done.config)
    if left:
        raise ConfigError(
            f"alertmanager config: the test copy still names hosts off loopback: {'; '.join(left)}"
        )
    return yaml.safe_dump(done.config, sort_keys=False), done


def route_timings(text: str, labels: Mapping[str, str]) -> list[RouteTiming]:
    """The routes an alert with ``labels`` lands on (several when ``continue`` is set)."""
    config = _load(text)
    root = config["route"]
    inherited = {key: root.get(key, DEFAULT_TIMINGS[key]) for key in DEFAULT_TIMINGS}
    return _match(root, labels, inherited, str(root.get("receiver", "")))


def notification_delay(text: str, labels: Mapping[str, str] | None = None) -> float:
    """Worst-case seconds from an alert reaching Alertmanager to its first notification.

    That is the ``group_wait`` of the route the alert lands on; without ``labels``, the largest
    ``group_wait`` anywhere in the tree. A resolved notification can take up to the route's
    ``group_interval`` (see :func:`route_timings`).
    """
    if labels is not None:
        return max(t.group_wait_s for t in route_timings(text, labels))
    waits: list[float] = []

    def walk(route: Mapping[str, Any], wait: str) -> None:
        wait = str(route.get("group_wait", wait))
        waits.append(_seconds(wait, "group_wait"))
        for child in route.get("routes") or []:
            walk(child, wait)

    walk(_load(text)["route"], DEFAULT_TIMINGS["group_wait"])
    return max(waits)


# -- loading and scaling ---------------------------------------------------------------------


def _load(text: str) -> dict[str, Any]:
    config = parse_yaml(text, "alertmanager config")
    _require_mapping(config, "alertmanager config")
    _require_mapping(config.get("route"), "route")
    return dict(config)


def _require_mapping(value: object, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"alertmanager config: {where} must be a mapping, got {value!r:.60}")


def _list(value: object, where: str) -> list[Any]:
    """A YAML list (absent or null: empty); anything else is one ConfigError line."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"alertmanager config: {where} must be a list, got {value!r:.60}")
    return value


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
    _require_mapping(route, where)
    effective = dict(inherited)
    for key, minimum in MIN_SECONDS.items():
        if key in route:
            route[key] = _scaled(route, key, where, factor, minimum)
            effective[key] = parse_duration(route[key])
    if effective["repeat_interval"] < effective["group_interval"]:
        effective["repeat_interval"] = effective["group_interval"]
        route["repeat_interval"] = format_duration(effective["group_interval"])
    for index, child in enumerate(_list(route.get("routes"), f"{where}.routes")):
        _scale_route(child, f"{where}.routes[{index}]", factor, effective)


# -- routing (for timings; amtool stays the authority in tests) ------------------------------

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


def _matches(route: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    checks: list[tuple[str, str, str]] = []
    for item in route.get("matchers") or []:
        text = str(item).strip()
        parts = text[1:-1].split(",") if text.startswith("{") else [text]
        for part in parts:
            found = _MATCHER.match(part)
            if not found:
                raise ConfigError(f'alertmanager config: matcher {item!r} is not name="value"')
            checks.append((found[1], found[2], found[3]))
    checks += [(k, "=", str(v)) for k, v in (route.get("match") or {}).items()]
    checks += [(k, "=~", str(v)) for k, v in (route.get("match_re") or {}).items()]
    for name, op, value in checks:
        actual = labels.get(name, "")
        try:
            hit = actual == value if op in ("=", "!=") else bool(re.fullmatch(value, actual))
        except re.error as exc:
            raise ConfigError(f"alertmanager config: matcher {name}{op}{value!r}: {exc}") from None
        if hit != (op in ("=", "=~")):
            return False
    return True


def _match(
    route: Mapping[str, Any], labels: Mapping[str, str], inherited: dict[str, Any], receiver: str
) -> list[RouteTiming]:
    timers = {key: route.get(key, inherited[key]) for key in inherited}
    receiver = str(route.get("receiver", receiver))
    found: list[RouteTiming] = []
    for child in route.get("routes") or []:
        if _matches(child, labels):
            found += _match(child, labels, timers, receiver)
            if not child.get("continue", False):
                break
    if found:
        return found
    seconds = {key: _seconds(value, key) for key, value in timers.items()}
    return [RouteTiming(receiver, *(seconds[k] for k in DEFAULT_TIMINGS))]
