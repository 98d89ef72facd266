"""Prometheus duration strings: parsed, formatted and scaled exactly."""

from __future__ import annotations

import pytest

from synthmon.durations import format_duration, parse_duration, scale_duration
from synthmon.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("1d", 86400), ("0s", 0)]
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"), [(300, "5m"), (5400, "1h30m"), (0.25, "250ms"), (0, "0s")]
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_scale_with_minimum() -> None:
    assert scale_duration("5m", 60) == "5s"
    assert scale_duration("30s", 60, minimum=1) == "1s"
    assert scale_duration("1h", 60) == "1m"


@pytest.mark.parametrize("bad", ["5", "m", "5 m", "-5m", ""])
def test_bad_duration(bad: str) -> None:
    with pytest.raises(ConfigError, match="is not a Prometheus duration"):
        parse_duration(bad)


def test_bad_factor() -> None:
    with pytest.raises(ConfigError, match="factor must be > 0"):
        scale_duration("5m", 0)
