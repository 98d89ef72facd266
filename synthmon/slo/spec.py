"""The SLO spec file (``slo/baseline.yaml``): loaded strictly into frozen dataclasses.

Strict because a typo in a gate's spec is a silent pass: unknown keys, strings where numbers
belong, duplicate keys and out-of-range values are all errors, each one line naming the file,
the field path, what was expected and what was found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from synthmon.errors import ConfigError
from synthmon.slo import promql
from synthmon.slo.promql import LABEL_NAME, METRIC_NAME
from synthmon.yamlfile import parse_yaml, read_text

API_VERSION = "synthmon/v1"
KIND = "SLOSpec"
ObjectiveType = Literal["latency", "error_rate", "cpu", "memory"]
OBJECTIVE_TYPES: tuple[str, ...] = ("latency", "error_rate", "cpu", "memory")
_TOP_KEYS = (
    "apiVersion",
    "kind",
    "service",
    "description",
    "selector",
    "metrics",
    "objectives",
)
_OBJ_KEYS = (
    "name",
    "type",
    "threshold",
    "percentile",
    "endpoint",
    "description",
    "min_requests",
)
_REQUEST_TYPES = ("latency", "error_rate")  # objectives that count requests
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")

#: Default error statuses: any 5xx code (``200``, ``503``: the reference app's status label).
DEFAULT_ERROR_STATUS = "5.."


@dataclass(frozen=True)
class SLOMetrics:
    """The service's metric and label names (``metrics:``); defaults are the runbook's.

    ``None`` means "the service does not export it": an objective that needs it is a spec
    error. ``error_status`` is a regular expression matched against the whole value of
    ``status_label`` (fully anchored, like PromQL's ``=~``): ``5..`` for codes, ``5xx`` for an
    exporter that groups them.
    """

    request_counter: str | None = promql.REQUESTS
    duration_histogram: str | None = promql.DURATION  # ``_bucket`` series (``le``) are read
    status_label: str | None = "status"
    error_status: str = DEFAULT_ERROR_STATUS
    endpoint_label: str | None = "endpoint"
    cpu_counter: str | None = promql.CPU
    memory_rss: str | None = promql.RSS
    memory_limit: str | None = promql.MEMORY_LIMIT

    @property
    def duration_bucket(self) -> str | None:
        return None if self.duration_histogram is None else f"{self.duration_histogram}_bucket"

    @property
    def duration_count(self) -> str | None:
        return None if self.duration_histogram is None else f"{self.duration_histogram}_count"

    def is_error(self, status: str) -> bool:
        """Whether a status label value counts as an error (``error_status`` fullmatch)."""
        return re.fullmatch(self.error_status, status) is not None


_METRIC_KEYS = ("request_counter", "duration_histogram", "cpu_counter", "memory_rss",
                "memory_limit")  # fmt: skip
_LABEL_KEYS = ("status_label", "endpoint_label")
_METRICS_KEYS = (
    "request_counter",
    "duration_histogram",
    "status_label",
    "error_status",
    "endpoint_label",
    "cpu_counter",
    "memory_rss",
    "memory_limit",
)
#: What each objective type reads from ``metrics:`` (plus endpoint_label when it has one).
_NEEDS: dict[str, tuple[str, ...]] = {
    "latency": ("duration_histogram",),
    "error_rate": ("request_counter", "status_label"),
    "cpu": ("cpu_counter",),
    "memory": ("memory_rss", "memory_limit"),
}


@dataclass(frozen=True)
class Objective:
    """One objective. Thresholds are inclusive budgets (see synthmon.slo.decide)."""

    name: str
    type: ObjectiveType
    threshold: float
    percentile: float | None = None
    endpoint: str | None = None
    description: str = ""
    min_requests: int | None = None

    def matchers(
        self, selector: Mapping[str, str], endpoint_label: str | None = "endpoint"
    ) -> dict[str, str]:
        """The spec's selector plus this objective's endpoint (on ``endpoint_label``), if any."""
        out = dict(selector)
        if self.endpoint is not None:
            if endpoint_label is None:
                raise ConfigError(f"objective {self.name}: endpoint set but no endpoint_label")
            out[promql.check_label_name(endpoint_label)] = self.endpoint
        return out


@dataclass(frozen=True)
class SLOSpec:
    """A service's objectives and the label matchers that select its metrics."""

    service: str
    selector: Mapping[str, str]
    objectives: tuple[Objective, ...]
    description: str = ""
    path: str = field(default="", compare=False)
    metrics: SLOMetrics = field(default_factory=SLOMetrics)

    def matchers(self, objective: Objective) -> dict[str, str]:
        """The selector plus ``objective``'s endpoint on this spec's endpoint label."""
        return objective.matchers(self.selector, self.metrics.endpoint_label)


class _Bad(Exception):
    """Internal: a field path and message, turned into ConfigError with the file name."""


def _fail(path: str, expected: str, got: object) -> _Bad:
    return _Bad(f"{path}: expected {expected}, got {got!r}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    loader.flatten_mapping(node)  # resolve `<<` merge keys first
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, str) and key in seen:
            line = key_node.start_mark.line + 1
            raise _Bad(f"line {line}: duplicate key {key!r}")
        seen.add(key if isinstance(key, str) else id(key))
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _no_duplicates,
)


def _key(key: object) -> str:
    """A key as it appears in a field path: bare when plain, else repr (keeps one line)."""
    return key if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) else repr(key)


def _mapping(value: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path or "top level", "a mapping", value)
    for key in value:
        if key not in allowed:
            where = f"{path}.{_key(key)}" if path else _key(key)
            raise _Bad(f"{where}: unknown key (expected one of: {', '.join(allowed)})")
    return cast(dict[str, Any], value)


def _required(doc: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in doc:
        raise _Bad(f"{path}{key}: required key missing")
    return doc[key]


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "a non-empty string", value)
    return value


def _number(value: object, path: str, low: float, high: float | None = None) -> float:
    """A real number in (low, high]; bools and numeric strings are rejected on purpose."""
    expected = f"a number > {low:g}" if high is None else f"a number in ({low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, expected, value)
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number <= low:
        raise _fail(path, expected, value)
    if high is not None and number > high:
        raise _fail(path, expected, value)
    return number


def _objective(raw: object, path: str) -> Objective:
    doc = _mapping(raw, path, _OBJ_KEYS)
    name = _string(_required(doc, "name", f"{path}."), f"{path}.name")
    kind = _required(doc, "type", f"{path}.")
    if kind not in OBJECTIVE_TYPES:
        raise _fail(f"{path}.type", f"one of {', '.join(OBJECTIVE_TYPES)}", kind)
    high = {"latency": None, "error_rate": 1.0, "cpu": None, "memory": 1.0}[kind]
    threshold = _number(_required(doc, "threshold", f"{path}."), f"{path}.threshold", 0.0, high)
    percentile = None
    if kind == "latency":
        raw_p = _required(doc, "percentile", f"{path}.")
        percentile = _number(raw_p, f"{path}.percentile", 0.0, 1.0)
        if percentile >= 1.0:
            raise _fail(f"{path}.percentile", "a number in (0, 1) such as 0.95", raw_p)
    elif "percentile" in doc:
        raise _Bad(f"{path}.percentile: only allowed for type latency, not {kind}")
    endpoint = None
    if "endpoint" in doc:
        if kind not in _REQUEST_TYPES:
            raise _Bad(f"{path}.endpoint: only allowed for types latency, error_rate, not {kind}")
        endpoint = _string(doc["endpoint"], f"{path}.endpoint")
    min_requests = None
    if "min_requests" in doc:
        if kind not in _REQUEST_TYPES:
            raise _Bad(f"{path}.min_requests: only allowed for types latency, error_rate")
        raw_min = doc["min_requests"]
        if isinstance(raw_min, bool) or not isinstance(raw_min, int) or raw_min < 1:
            raise _fail(f"{path}.min_requests", "an integer >= 1", raw_min)
        min_requests = raw_min
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise _fail(f"{path}.description", "a string", description)
    return Objective(
        name=name,
        type=cast(ObjectiveType, kind),
        threshold=threshold,
        percentile=percentile,
        endpoint=endpoint,
        description=description,
        min_requests=min_requests,
    )


def _selector(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise _fail("selector", "a mapping of label name to value, e.g. {job: app}", raw)
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not LABEL_NAME.fullmatch(key):
            raise _fail(
                f"selector.{_key(key)}", "a label name matching [a-zA-Z_][a-zA-Z0-9_]*", key
            )
        if not isinstance(value, str):
            raise _fail(f"selector.{key}", "a string label value (quote it)", value)
        out[key] = value
    return out


def _metrics(raw: object) -> SLOMetrics:
    """The ``metrics:`` block: names checked against the PromQL grammar, the regex compiled."""
    doc = _mapping(raw, "metrics", _METRICS_KEYS)
    defaults = SLOMetrics()
    values: dict[str, Any] = {}
    for key, value in doc.items():
        where = f"metrics.{key}"
        if key == "error_status":
            if not isinstance(value, str) or not value:
                raise _fail(where, "a non-empty regular expression string such as '5..'", value)
            try:
                re.compile(value)
            except re.error as exc:
                raise _Bad(f"{where}: not a valid regular expression {value!r}: {exc}") from None
            if re.fullmatch(value, ""):
                raise _fail(where, "a regular expression that does not match ''", value)
        elif value is None:
            pass  # "not exported": objectives that need it are rejected below
        elif key in _METRIC_KEYS:
            if not isinstance(value, str) or not METRIC_NAME.fullmatch(value):
                raise _fail(where, "a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]* or null", value)
        elif not isinstance(value, str) or not LABEL_NAME.fullmatch(value) or value == "le":
            raise _fail(where, "a label name matching [a-zA-Z_][a-zA-Z0-9_]* or null", value)
        values[key] = value
    if "duration_histogram" in values and values["duration_histogram"] is not None:
        base = values["duration_histogram"]
        if base.endswith(("_bucket", "_count", "_sum")):
            raise _fail(
                "metrics.duration_histogram",
                "the histogram's base name (without _bucket, _count or _sum)",
                base,
            )
    merged = {key: values.get(key, getattr(defaults, key)) for key in _METRICS_KEYS}
    return SLOMetrics(**merged)


def _check_provided(objectives: tuple[Objective, ...], metrics: SLOMetrics) -> None:
    """An objective whose metrics the spec says the service does not export is an error."""
    for i, objective in enumerate(objectives):
        needs = _NEEDS[objective.type]
        if objective.endpoint is not None:
            needs = (*needs, "endpoint_label")
        for key in needs:
            if getattr(metrics, key) is None:
                raise _Bad(
                    f"objectives[{i}]: type {objective.type}"
                    f"{' with an endpoint' if key == 'endpoint_label' else ''} needs "
                    f"metrics.{key}, which this spec sets to null (not exported)"
                )


def parse_spec(doc: object, path: str = "") -> SLOSpec:
    """Validate a parsed YAML document; ConfigError names ``path`` and the bad field."""
    try:
        return _parse(doc, path)
    except _Bad as bad:
        raise ConfigError(f"{path or '<spec>'}: {bad}") from None


def _parse(doc: object, path: str) -> SLOSpec:
    top = _mapping(doc, "", _TOP_KEYS)
    version = _required(top, "apiVersion", "")
    if version != API_VERSION:
        raise _fail("apiVersion", repr(API_VERSION), version)
    kind = _required(top, "kind", "")
    if kind != KIND:
        raise _fail("kind", repr(KIND), kind)
    service = _string(_required(top, "service", ""), "service")
    description = top.get("description", "")
    if not isinstance(description, str):
        raise _fail("description", "a string", description)
    selector = _selector(_required(top, "selector", ""))
    metrics = _metrics(top["metrics"]) if "metrics" in top else SLOMetrics()
    raw_objectives = _required(top, "objectives", "")
    if not isinstance(raw_objectives, list) or not raw_objectives:
        raise _fail("objectives", "a non-empty list of objectives", raw_objectives)
    objectives = tuple(_objective(o, f"objectives[{i}]") for i, o in enumerate(raw_objectives))
    first: dict[str, int] = {}
    for i, objective in enumerate(objectives):
        if objective.name in first:
            raise _fail(
                f"objectives[{i}].name",
                f"a unique name (objectives[{first[objective.name]}] has it)",
                objective.name,
            )
        first[objective.name] = i
    _check_provided(objectives, metrics)
    return SLOSpec(service, selector, objectives, description, path, metrics)


def load_spec(path: str | Path) -> SLOSpec:
    """Read and validate an SLO spec file; any problem is one ConfigError line."""
    name = str(path)
    text = read_text(path, "SLO spec")
    try:
        doc = parse_yaml(text, name, _StrictLoader)
    except _Bad as bad:
        raise ConfigError(f"{name}:{str(bad).removeprefix('line ')}") from None
    return parse_spec(doc, name)
