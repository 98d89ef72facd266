"""Which routes of an alertmanager.yml an alert lands on, computed as ``dispatch/route.go`` does.

A route inherits receiver, ``group_by`` and the three timers from its parent (Alertmanager's
defaults 30s/5m/4h at the root); ``mute_time_intervals``/``active_time_intervals`` are the
route's own (not inherited). An alert walks the children in order: each matching child's own
matches are taken, and the walk stops at the first matching child without ``continue``; when
no child matches, the route itself is the answer. amtool (``config routes test``) is the
authority the tests compare with; this module answers without a process, for any time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from synthmon.amconfig.matchers import Matcher, ParserMode, config_matchers, matches_all
from synthmon.amconfig.timeintervals import TimeInterval, active, named_intervals
from synthmon.durations import parse_duration
from synthmon.errors import ConfigError

DEFAULTS = {"group_wait": 30.0, "group_interval": 300.0, "repeat_interval": 4 * 3600.0}
_TIMERS = tuple(DEFAULTS)


@dataclass(frozen=True)
class RouteMatch:
    """One route an alert lands on, with everything it inherited.

    ``muted`` is None when no time was asked for; else whether the route's time intervals keep
    its notifications back at that time, and ``muted_by`` says which (or why).
    """

    route_id: str  # "route", "route.routes[2].routes[0]"
    receiver: str
    group_by: tuple[str, ...]
    group_by_all: bool  # group_by: ['...']
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    continue_: bool
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    muted: bool | None = None
    muted_by: str = ""


@dataclass(frozen=True)
class _Route:
    route_id: str
    matchers: tuple[Matcher, ...]
    opts: RouteMatch
    children: tuple[_Route, ...]


def _seconds(value: object, where: str) -> float:
    if str(value) == "0":  # model.ParseDuration takes a bare 0
        return 0.0
    try:
        return parse_duration(str(value))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _names(value: object, where: str, known: Mapping[str, object]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of time interval names")
    for name in value:
        if name not in known:
            raise ConfigError(f"{where}: time interval {name!r} is not defined")
    return tuple(str(v) for v in value)


def _build(
    node: object,
    route_id: str,
    parent: RouteMatch | None,
    intervals: Mapping[str, object],
    mode: ParserMode,
) -> _Route:
    where = f"alertmanager config: {route_id}"
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: expected a mapping")
    base = parent or RouteMatch(route_id, "", (), False, 30.0, 300.0, 4 * 3600.0, False)
    group_by, group_by_all = base.group_by, base.group_by_all
    given = node.get("group_by")
    if given is not None:
        if not isinstance(given, list):
            raise ConfigError(f"{where}.group_by: expected a list of label names")
        names = tuple(sorted({str(g) for g in given if g != "..."}))
        if "..." in given and names:
            raise ConfigError(f"{where}.group_by: '...' and label names cannot be combined")
        if names:  # as config.Route: an empty list leaves GroupBy nil, so it is inherited
            group_by, group_by_all = names, False
        elif "..." in given:
            group_by_all = True
    timers = {
        key: _seconds(node[key], f"{where}.{key}") if node.get(key) is not None else old
        for key, old in zip(
            _TIMERS, (base.group_wait_s, base.group_interval_s, base.repeat_interval_s), strict=True
        )
    }
    opts = RouteMatch(
        route_id=route_id,
        receiver=str(node.get("receiver") or base.receiver),
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait_s=timers["group_wait"],
        group_interval_s=timers["group_interval"],
        repeat_interval_s=timers["repeat_interval"],
        continue_=bool(node.get("continue", False)),
        mute_time_intervals=_names(
            node.get("mute_time_intervals"), f"{where}.mute_time_intervals", intervals
        ),
        active_time_intervals=_names(
            node.get("active_time_intervals"), f"{where}.active_time_intervals", intervals
        ),
    )
    children = node.get("routes") or []
    if not isinstance(children, list):
        raise ConfigError(f"{where}.routes: expected a list of routes")
    return _Route(
        route_id,
        config_matchers(node, where, mode=mode),
        opts,
        tuple(
            _build(child, f"{route_id}.routes[{n}]", opts, intervals, mode)
            for n, child in enumerate(children)
        ),
    )


class RouteTree:
    """The route tree of one alertmanager.yml (a dict), parsed once."""

    def __init__(self, config: Mapping[str, Any], mode: ParserMode = "fallback") -> None:
        if not isinstance(config, Mapping) or not isinstance(config.get("route"), dict):
            raise ConfigError("alertmanager config: route: expected a mapping (the root route)")
        self.intervals: dict[str, tuple[TimeInterval, ...]] = named_intervals(config)
        self.root = _build(config["route"], "route", None, self.intervals, mode)
        if not self.root.opts.receiver:
            raise ConfigError("alertmanager config: route.receiver: the root route needs one")

    def match(self, labels: Mapping[str, str], at: datetime | None = None) -> list[RouteMatch]:
        """The routes ``labels`` land on (several with ``continue``); muting evaluated at
        ``at`` (timezone-aware) when given."""
        found = _walk(self.root, labels)
        return [found_one if at is None else self._muting(found_one, at) for found_one in found]

    def receivers(self, labels: Mapping[str, str]) -> list[str]:
        """The receivers in route order, as ``amtool config routes test`` prints them."""
        return [m.receiver for m in self.match(labels)]

    def _muting(self, found: RouteMatch, at: datetime) -> RouteMatch:
        muted_by = next(
            (f"mute_time_intervals {n}" for n in found.mute_time_intervals
             if active(self.intervals[n], at)),
            "",
        )  # fmt: skip
        wanted = found.active_time_intervals
        if not muted_by and wanted and not any(active(self.intervals[n], at) for n in wanted):
            muted_by = "outside active_time_intervals " + ", ".join(wanted)
        return replace(found, muted=bool(muted_by), muted_by=muted_by)


def _walk(route: _Route, labels: Mapping[str, str]) -> list[RouteMatch]:
    if not matches_all(route.matchers, labels):
        return []
    found: list[RouteMatch] = []
    for child in route.children:
        matched = _walk(child, labels)
        found += matched
        if matched and not child.opts.continue_:
            break
    return found or [route.opts]


def route(
    config: Mapping[str, Any], labels: Mapping[str, str], at: datetime | None = None
) -> list[RouteMatch]:
    """The routes an alert with ``labels`` lands on in ``config`` (an alertmanager.yml dict)."""
    return RouteTree(config).match(labels, at)


def integrations(config: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Receiver name → its integrations (``slack_configs`` → ``slack``), in file order."""
    found: dict[str, tuple[str, ...]] = {}
    receivers = config.get("receivers") or []
    if not isinstance(receivers, list):
        raise ConfigError("alertmanager config: receivers: expected a list")
    for n, receiver in enumerate(receivers):
        if not isinstance(receiver, dict) or not isinstance(receiver.get("name"), str):
            raise ConfigError(f"alertmanager config: receivers[{n}]: expected a mapping with name")
        found[receiver["name"]] = tuple(
            key.removesuffix("_configs")
            for key, value in receiver.items()
            if key.endswith("_configs") and value
        )
    return found
