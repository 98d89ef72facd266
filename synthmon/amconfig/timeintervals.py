"""Alertmanager's named time intervals (``time_intervals`` and the legacy top-level
``mute_time_intervals``), evaluated as ``timeinterval.ContainsTime`` does.

A named interval holds at a moment when any of its entries does; an entry holds when each of
its fields that is set does (``times`` end exclusive; ``days_of_month`` may count from the
end, -1 the last day; ``location`` an IANA zone, default UTC).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from synthmon.errors import ConfigError

_WEEKDAYS = {d: (i + 1) % 7 for i, d in enumerate(calendar.day_name[i].lower() for i in range(7))}
_MONTHS = {calendar.month_name[i].lower(): i for i in range(1, 13)}
_TIME = re.compile(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)")
Range = tuple[int, int]


@dataclass(frozen=True)
class TimeInterval:
    """One entry of a named interval; ``None``: the field is not set (any value holds)."""

    times: tuple[Range, ...] | None = None  # minutes of the day, [start, end)
    weekdays: tuple[Range, ...] | None = None  # 0 = Sunday, as Go's time.Weekday
    days_of_month: tuple[Range, ...] | None = None
    months: tuple[Range, ...] | None = None
    years: tuple[Range, ...] | None = None
    location: tzinfo | None = None

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (timezone-aware) falls in this entry."""
        t = moment.astimezone(self.location or ZoneInfo("UTC"))
        days = calendar.monthrange(t.year, t.month)[1]
        checks: list[tuple[tuple[Range, ...] | None, int, bool]] = [
            (self.times, t.hour * 60 + t.minute, True),
            (self.days_of_month, t.day, False),
            (self.months, t.month, False),
            (self.weekdays, (t.weekday() + 1) % 7, False),
            (self.years, t.year, False),
        ]
        for ranges, value, end_exclusive in checks:
            if ranges is None:
                continue
            if ranges is self.days_of_month:
                ranges = tuple(_day_range(r, days) for r in ranges if _day_begin(r, days) <= days)
            hit = any(
                lo <= value and (value < hi if end_exclusive else value <= hi) for lo, hi in ranges
            )
            if not hit:
                return False
        return True


def _day_begin(r: Range, days: int) -> int:
    return days + r[0] + 1 if r[0] < 0 else r[0]


def _day_range(r: Range, days: int) -> Range:
    end = days + r[1] + 1 if r[1] < 0 else r[1]
    return _clamp(_day_begin(r, days), days), _clamp(end, days)


def _clamp(n: int, days: int) -> int:
    """Go's ``clamp(n, -days, days)``: a day never crosses into another month."""
    return max(-days, min(n, days))


def _ranges(value: object, where: str, member: Any, lo: int, hi: int) -> tuple[Range, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of ranges (e.g. ['1:5'])")
    out = []
    for item in value:
        text = str(item).lower()
        parts = text.split(":") if ":" in text else [text, text]
        if len(parts) != 2:
            raise ConfigError(f"{where}: {item!r}: expected START:END")
        try:
            begin, end = (member(p.strip()) for p in parts)
        except (KeyError, ValueError):
            raise ConfigError(f"{where}: {item!r}: not a valid range") from None
        if not (lo <= begin <= hi and lo <= end <= hi):
            raise ConfigError(f"{where}: {item!r}: out of range {lo}..{hi}")
        if begin > end and (begin >= 0) == (end >= 0):
            raise ConfigError(f"{where}: {item!r}: start after end")
        out.append((begin, end))
    return tuple(out)


def _minutes(text: object, where: str) -> int:
    if not isinstance(text, str) or not _TIME.match(text):
        raise ConfigError(f"{where}: {text!r}: expected HH:MM (00:00 to 24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _times(value: object, where: str) -> tuple[Range, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of start_time/end_time")
    out = []
    for n, item in enumerate(value):
        if not isinstance(item, dict) or not {"start_time", "end_time"} <= item.keys():
            raise ConfigError(f"{where}[{n}]: both start_time and end_time must be given")
        start = _minutes(item["start_time"], f"{where}[{n}].start_time")
        end = _minutes(item["end_time"], f"{where}[{n}].end_time")
        if start >= end:
            raise ConfigError(f"{where}[{n}]: start_time must be before end_time")
        out.append((start, end))
    return tuple(out)


def _location(value: object, where: str) -> tzinfo:
    name = str(value)
    if name == "Local":
        zone = datetime.now().astimezone().tzinfo
        assert zone is not None
        return zone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: {name!r} is not a time zone (e.g. Europe/Berlin)") from None


def _member(table: Mapping[str, int]) -> Any:
    return lambda text: table[text] if text in table else int(text)


_FIELDS = {  # key: (parse, lo, hi)
    "weekdays": (lambda t: _WEEKDAYS[t], 0, 6),
    "days_of_month": (int, -31, 31),
    "months": (_member(_MONTHS), 1, 12),
    "years": (int, 0, 9999),
}


def parse_interval(node: object, where: str) -> TimeInterval:
    """One entry of a named interval; ConfigError naming the key."""
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(node) - {*_FIELDS, "times", "location"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    fields: dict[str, Any] = {
        key: _ranges(node[key], f"{where}.{key}", parse, lo, hi)
        for key, (parse, lo, hi) in _FIELDS.items()
        if node.get(key) is not None
    }
    if node.get("times") is not None:
        fields["times"] = _times(node["times"], f"{where}.times")
    if node.get("location") is not None:
        fields["location"] = _location(node["location"], f"{where}.location")
    return TimeInterval(**fields)


def named_intervals(config: Mapping[str, Any]) -> dict[str, tuple[TimeInterval, ...]]:
    """Name → entries, from ``time_intervals`` and the legacy ``mute_time_intervals``."""
    found: dict[str, tuple[TimeInterval, ...]] = {}
    for key in ("time_intervals", "mute_time_intervals"):
        items = config.get(key) or []
        if not isinstance(items, list):
            raise ConfigError(f"alertmanager config: {key}: expected a list")
        for n, item in enumerate(items):
            where = f"alertmanager config: {key}[{n}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ConfigError(f"{where}: expected a mapping with name and time_intervals")
            if item["name"] in found:
                raise ConfigError(f"{where}: interval {item['name']!r} is defined twice")
            entries = item.get("time_intervals") or []
            found[item["name"]] = tuple(
                parse_interval(e, f"{where}.time_intervals[{i}]") for i, e in enumerate(entries)
            )
    return found


def active(entries: tuple[TimeInterval, ...], moment: datetime) -> bool:
    """A named interval holds at ``moment`` when any of its entries does."""
    return any(entry.contains(moment) for entry in entries)
