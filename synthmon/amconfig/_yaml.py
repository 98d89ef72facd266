"""Shape checks on a parsed alertmanager.yml: each failure is one ConfigError line."""

from __future__ import annotations

from typing import Any

from synthmon.errors import ConfigError


def require_mapping(value: object, where: str) -> None:
    """ConfigError unless ``value`` is a YAML mapping."""
    if not isinstance(value, dict):
        raise ConfigError(f"alertmanager config: {where} must be a mapping, got {value!r:.60}")


def as_list(value: object, where: str) -> list[Any]:
    """A YAML list (absent or null: empty); anything else is one ConfigError line."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"alertmanager config: {where} must be a list, got {value!r:.60}")
    return value
