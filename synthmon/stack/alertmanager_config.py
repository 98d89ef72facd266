"""Render the production alertmanager.yml for the test stack, and read its timings back.

The production file keeps real intervals and real PagerDuty/Slack/SMTP endpoints. The test
stack needs the same routing with time compressed and every integration pointed at the local
sinks, so the routing under test is the production routing, not a hand-written copy.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
    template_dir: Path,
    secrets_dir: Path,
) -> str:
    """The production config with intervals divided by ``factor`` and every receiver on sinks.

    Secret ``*_file`` fields are kept (so the file-reading code path runs) but point to dummy
    files written into ``secrets_dir``.
    """
    if factor <= 0:
        raise ConfigError(f"alertmanager config: time scale factor must be > 0, got {factor}")
    config = _load(text)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    sinks = _Sinks(sinks_http_url.rstrip("/"), smtp_host, smtp_port, secrets_dir)

    glob = config.setdefault("global", {})
    _require_mapping(glob, "global")
    if "resolve_timeout" in glob:
        glob["resolve_timeout"] = _scaled(glob, "resolve_timeout", "global", factor, 1.0)
    glob.update(
        smtp_smarthost=f"{smtp_host}:{smtp_port}",
        smtp_require_tls=False,
        pagerduty_url=f"{sinks.http_url}/pagerduty/v2/enqueue",
    )
    for key in ("smtp_auth_password", "smtp_auth_secret", "slack_api_url"):
        glob.pop(key, None)
    if "smtp_auth_password_file" in glob:
        glob["smtp_auth_password_file"] = sinks.secret("global-smtp-password", "dummy")
    if "slack_api_url_file" in glob:
        url = f"{sinks.http_url}/slack/default"
        glob["slack_api_url_file"] = sinks.secret("global-slack-url", url)

    route = config["route"]
    for key, default in DEFAULT_TIMINGS.items():
        route.setdefault(key, default)
    _scale_route(route, "route", factor, {})

    for index, receiver in enumerate(_list(config.get("receivers"), "receivers")):
        _require_mapping(receiver, f"receivers[{index}]")
        name = str(receiver.get("name", index))
        for kind in receiver:
            if kind.endswith("_configs") and kind not in _REWRITERS:
                raise ConfigError(
                    f"alertmanager config: receivers[{name}].{kind}: no local sink for it "
                    f"(the test stack has {', '.join(_REWRITERS)})"
                )
        for kind, rewrite in _REWRITERS.items():
            for number, entry in enumerate(_list(receiver.get(kind), f"receivers[{name}].{kind}")):
                where = f"receivers[{name}].{kind}[{number}]"
                _require_mapping(entry, where)
                rewrite(entry, where, name, sinks)

    templates = _list(config.get("templates"), "templates") or ["*.tmpl"]
    config["templates"] = [str(template_dir / Path(str(t)).name) for t in templates]
    return yaml.safe_dump(config, sort_keys=False)


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


# -- receivers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sinks:
    """Where the rendered receivers deliver to."""

    http_url: str
    smtp_host: str
    smtp_port: int
    secrets_dir: Path

    def secret(self, name: str, value: str) -> str:
        """Write a dummy secret file (0600) and return its path."""
        path = self.secrets_dir / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        path.write_text(value + "\n")
        path.chmod(0o600)
        return str(path)


def _pagerduty(entry: dict[str, Any], where: str, receiver: str, sinks: _Sinks) -> None:
    if "service_key" in entry or "service_key_file" in entry:
        raise ConfigError(
            f"alertmanager config: {where}.service_key: the sinks speak Events API v2 only; "
            "use routing_key"
        )
    entry["url"] = f"{sinks.http_url}/pagerduty/v2/enqueue"
    entry.pop("routing_key", None)
    # A stable 32-character key per receiver, shaped like a real integration key.
    key = hashlib.md5(receiver.encode(), usedforsecurity=False).hexdigest()
    entry["routing_key_file"] = sinks.secret(f"{receiver}-pagerduty-routing-key", key)


def _slack(entry: dict[str, Any], where: str, receiver: str, sinks: _Sinks) -> None:
    channel = str(entry.get("channel") or "").lstrip("#@") or "default"
    entry.pop("api_url", None)
    url = f"{sinks.http_url}/slack/{channel}"
    entry["api_url_file"] = sinks.secret(f"{receiver}-slack-{channel}-url", url)


def _email(entry: dict[str, Any], where: str, receiver: str, sinks: _Sinks) -> None:
    if "to" not in entry:
        raise ConfigError(f"alertmanager config: {where}.to is missing")
    if "smarthost" in entry:
        entry["smarthost"] = f"{sinks.smtp_host}:{sinks.smtp_port}"
    entry["require_tls"] = False
    entry.pop("tls_config", None)
    for key in ("auth_password", "auth_secret"):
        entry.pop(key, None)
    if "auth_password_file" in entry:
        entry["auth_password_file"] = sinks.secret(f"{receiver}-smtp-password", "dummy")


def _webhook(entry: dict[str, Any], where: str, receiver: str, sinks: _Sinks) -> None:
    if "url" not in entry:
        raise ConfigError(f"alertmanager config: {where}.url is missing")
    entry["url"] = f"{sinks.http_url}/webhook/{receiver}"
    _http_config(entry, receiver, sinks)


def _http_config(entry: dict[str, Any], receiver: str, sinks: _Sinks) -> None:
    """The sinks speak plain HTTP and check no credentials: TLS settings go, and each
    credentials file the production config names (``authorization.credentials_file``,
    ``basic_auth.password_file``, ``bearer_token_file``) points to a dummy file."""
    http = entry.get("http_config")
    if not isinstance(http, dict):
        return
    http.pop("tls_config", None)
    if "bearer_token_file" in http:
        http["bearer_token_file"] = sinks.secret(f"{receiver}-bearer-token", "dummy")
    for section, key in (("authorization", "credentials_file"), ("basic_auth", "password_file")):
        part = http.get(section)
        if isinstance(part, dict) and key in part:
            part[key] = sinks.secret(f"{receiver}-{section}-{key}", "dummy")


_REWRITERS = {
    "pagerduty_configs": _pagerduty,
    "slack_configs": _slack,
    "email_configs": _email,
    "webhook_configs": _webhook,
}


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
