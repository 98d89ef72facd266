"""The routes file of the fake upstream, read strictly: every problem is one line naming the
file and the key (``routes.yaml: routes[2].status: ...``); an unknown key is an error.

Templates: strings in a ``body`` and header values may name ``{param}`` (a ``{param}`` of the
route's path) and the quota's ``{limit}``, ``{remaining}``, ``{reset}``, ``{used}``; a string
that is exactly one quota reference becomes that number. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthmon.errors import ConfigError
from synthmon.yamlfile import parse_yaml, read_text

CONTROL_PREFIX = "/_fake"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
QUOTA_VALUES = ("limit", "remaining", "reset", "used")
DEFAULT_QUOTA_HEADERS: dict[str, str | None] = {
    "limit": "X-RateLimit-Limit",
    "remaining": "X-RateLimit-Remaining",
    "reset": "X-RateLimit-Reset",
    "used": "X-RateLimit-Used",
}
MAX_DELAY_MS = 600_000.0
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_PARAM = re.compile(r"\{([^{}]*)\}")
_REF = re.compile(r"\{\{|\}\}|\{(\w+)\}")

ROUTE_KEYS = ("name", "method", "path", "status", "body", "delay_ms", "headers", "quota")
QUOTA_KEYS = ("limit", "remaining", "reset_s", "headers", "exhausted")
REPLY_KEYS = ("status", "body", "headers")
TOP_KEYS = ("routes", "quota", "default")


@dataclass(frozen=True)
class Reply:
    """A fixed answer: the default for unmatched paths, or a quota's when it is spent."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One route as the file gives it (the running values start from these)."""

    name: str
    method: str
    path: str
    pattern: re.Pattern[str]
    status: int = 200
    body: Any = None
    delay_ms: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    quota: bool = False  # each request costs one of the shared quota

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Quota:
    """The shared rate limit: its window, header names and the answer once it is spent."""

    limit: int
    remaining: int
    reset_s: float
    headers: Mapping[str, str | None]
    exhausted: Reply


@dataclass(frozen=True)
class RoutesFile:
    source: str
    routes: tuple[Route, ...]
    default: Reply
    quota: Quota | None = None

    def route(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)


class _Reader:
    """Checks one document, naming ``source`` and the key path in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(
            f"{self.source}: {where}: {problem}" if where else f"{self.source}: {problem}"
        )

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                raise self.fail(
                    _join(where, str(key)), f"unknown key (allowed: {', '.join(allowed)})"
                )
        return value

    def integer(self, value: Any, where: str, low: int, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer, got {_kind(value)}")
        if value < low or (high is not None and value > high):
            bound = f"{low}-{high}" if high is not None else f">= {low}"
            raise self.fail(where, f"must be {bound}, got {value}")
        return value

    def status(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
            raise self.fail(where, f"must be an HTTP status (100-599), got {value!r}")
        return value

    def number(self, value: Any, where: str, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"must be a number, got {_kind(value)}")
        if not 0 <= value <= high:
            raise self.fail(where, f"must be between 0 and {high:g}, got {value}")
        return float(value)

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be a non-empty string, got {_kind(value)}")
        return value

    def headers(self, value: Any, where: str, names: frozenset[str]) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping of header name to value, got {_kind(value)}")
        headers = {}
        for key, item in value.items():
            at = _join(where, str(key))
            if not isinstance(key, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", key):
                raise self.fail(at, "not a valid header name")
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.fail(at, f"must be a string or number, got {_kind(item)}")
            headers[key] = str(item)
            self.references(headers[key], at, names)
        return headers

    def body(self, value: Any, where: str, names: frozenset[str]) -> Any:
        """JSON data (mappings with string keys, lists, scalars) with known references."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            self.references(value, where, names)
            return value
        if isinstance(value, list):
            return [self.body(item, f"{where}[{i}]", names) for i, item in enumerate(value)]
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise self.fail(where, f"JSON object keys must be strings, got {key!r}")
            return {k: self.body(v, _join(where, k), names) for k, v in value.items()}
        raise self.fail(where, f"not JSON data: {_kind(value)}")

    def references(self, text: str, where: str, names: frozenset[str]) -> None:
        for found in _REF.finditer(text):
            name = found.group(1)
            if name is not None and name not in names:
                known = ", ".join("{" + n + "}" for n in sorted(names)) or "none"
                raise self.fail(where, f"{{{name}}} names nothing here (have: {known})")
        stray = _REF.sub("", text)
        if "{" in stray or "}" in stray:
            raise self.fail(where, "a lone { or } (write {{ or }} for a literal brace)")

    def reply(self, value: Any, where: str, names: frozenset[str], status: int) -> Reply:
        data = self.mapping(value, where, REPLY_KEYS)
        return Reply(
            status=self.status(data.get("status", status), _join(where, "status")),
            body=self.body(data.get("body"), _join(where, "body"), names),
            headers=self.headers(data.get("headers", {}), _join(where, "headers"), names),
        )

    def quota(self, value: Any) -> Quota:
        data = self.mapping(value, "quota", QUOTA_KEYS)
        limit = self.integer(data.get("limit", 5000), "quota.limit", 0)
        remaining = self.integer(data.get("remaining", limit), "quota.remaining", 0)
        reset_s = self.number(data.get("reset_s", 3600), "quota.reset_s", 366 * 86400.0)
        if reset_s <= 0:
            raise self.fail("quota.reset_s", "must be > 0")
        headers = dict(DEFAULT_QUOTA_HEADERS)
        given = self.mapping(data.get("headers", {}), "quota.headers", QUOTA_VALUES)
        for key, name in given.items():
            if name is not None:
                self.text(name, f"quota.headers.{key}")
            headers[key] = name
        quota_names = frozenset(QUOTA_VALUES)
        exhausted = data.get("exhausted", {"status": 429})
        spent = self.reply(exhausted, "quota.exhausted", quota_names, 429)
        if not 400 <= spent.status <= 599:
            raise self.fail("quota.exhausted.status", f"must be a 4xx or 5xx, got {spent.status}")
        return Quota(limit, remaining, reset_s, headers, spent)

    def route(self, value: Any, where: str, name: str | None, quota: bool) -> Route:
        data = self.mapping(value, where, ROUTE_KEYS)
        if name is None:
            if "name" not in data:
                raise self.fail(where, "missing key name")
            name = self.text(data["name"], _join(where, "name"))
        elif "name" in data and data["name"] != name:
            raise self.fail(_join(where, "name"), f"differs from the key {name!r}")
        if not _NAME.fullmatch(name):
            raise self.fail(_join(where, "name"), f"{name!r}: letters, digits, _ . - only")
        method = self.text(data.get("method", "GET"), _join(where, "method")).upper()
        if method not in METHODS:
            raise self.fail(
                _join(where, "method"), f"{method!r} is not one of {', '.join(METHODS)}"
            )
        if "path" not in data:
            raise self.fail(where, "missing key path")
        path = self.text(data["path"], _join(where, "path"))
        pattern, params = self.path(path, _join(where, "path"))
        counted = data.get("quota", False)
        if not isinstance(counted, bool):
            raise self.fail(_join(where, "quota"), f"must be true or false, got {_kind(counted)}")
        if counted and not quota:
            raise self.fail(_join(where, "quota"), "the file has no quota: section")
        names = params | (frozenset(QUOTA_VALUES) if quota else frozenset())
        return Route(
            name=name,
            method=method,
            path=path,
            pattern=pattern,
            status=self.status(data.get("status", 200), _join(where, "status")),
            body=self.body(data.get("body"), _join(where, "body"), names),
            delay_ms=self.number(data.get("delay_ms", 0), _join(where, "delay_ms"), MAX_DELAY_MS),
            headers=self.headers(data.get("headers", {}), _join(where, "headers"), names),
            quota=counted,
        )

    def path(self, path: str, where: str) -> tuple[re.Pattern[str], frozenset[str]]:
        if not path.startswith("/"):
            raise self.fail(where, f"{path!r} must start with /")
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            raise self.fail(where, f"{path!r}: {CONTROL_PREFIX}/ is the control API's")
        regex, params, last = "", [], 0
        for found in _PARAM.finditer(path):
            param = found.group(1)
            if not param.isidentifier():
                raise self.fail(where, f"{{{param}}}: a parameter name must be an identifier")
            if param in params:
                raise self.fail(where, f"{{{param}}} appears twice")
            regex += re.escape(path[last : found.start()]) + f"(?P<{param}>[^/]+)"
            params.append(param)
            last = found.end()
        rest = path[last:]
        if "{" in rest or "}" in rest:
            raise self.fail(where, f"{path!r}: a lone {{ or }}")
        return re.compile(regex + re.escape(rest)), frozenset(params)


def parse_routes(document: Any, source: str) -> RoutesFile:
    """The routes of a parsed document: a mapping with ``routes`` (a list, or a mapping of
    name to route), optional ``quota`` and ``default``; a bare list is ``routes`` alone."""
    read = _Reader(source)
    if isinstance(document, list):
        document = {"routes": document}
    top = read.mapping(document, "", TOP_KEYS)
    quota = read.quota(top["quota"]) if top.get("quota") is not None else None
    if "routes" not in top:
        raise read.fail("", "missing key routes")
    given = top["routes"]
    items: list[tuple[str, str | None, Any]]
    if isinstance(given, list):
        items = [(f"routes[{i}]", None, v) for i, v in enumerate(given)]
    elif isinstance(given, dict):
        items = [(f"routes.{k}", str(k), v) for k, v in given.items()]
    else:
        raise read.fail("routes", f"must be a list or a mapping of routes, got {_kind(given)}")
    if not items:
        raise read.fail("routes", "no routes")
    routes: list[Route] = []
    for where, name, value in items:
        route = read.route(value, where, name, quota is not None)
        if any(r.name == route.name for r in routes):
            raise read.fail(_join(where, "name"), f"route {route.name!r} is defined twice")
        routes.append(route)
    quota_names = frozenset(QUOTA_VALUES) if quota else frozenset()
    default = {"status": 404, "body": {"message": "Not Found"}}
    reply = read.reply(top.get("default", default), "default", quota_names, 404)
    return RoutesFile(source, tuple(routes), reply, quota)


def load_routes(path: str | Path) -> RoutesFile:
    """Read and check a routes file; ConfigError (one line) for any problem."""
    return parse_routes(parse_yaml(read_text(path, "routes file"), str(path)), str(path))


def render(template: Any, values: Mapping[str, str | int]) -> Any:
    """``template`` with its references filled from ``values`` (checked when loaded)."""
    if isinstance(template, str):
        whole = _REF.fullmatch(template)
        if whole and isinstance(values.get(whole.group(1) or ""), int):
            return values[whole.group(1)]  # a quota value alone: the number itself

        def fill(found: re.Match[str]) -> str:
            if found.group(1) is None:
                return found.group(0)[0]
            return str(values[found.group(1)])

        return _REF.sub(fill, template)
    if isinstance(template, list):
        return [render(item, values) for item in template]
    if isinstance(template, dict):
        return {key: render(item, values) for key, item in template.items()}
    return template


def _join(where: str, key: str) -> str:
    if not where:
        return key
    return f"{where}.{key}"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
