"""Credentials of an external stack: :class:`Secret` values, read only from env or files.

A leaf (it imports nothing of synthmon but errors) so that settings, clients and the
redaction plugin can all use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from synthmon.errors import ConfigError


class Secret:
    """A credential; ``value`` is read only where it goes into a header. repr/str show where
    it came from instead, so settings can be printed, logged and shown by ``pytest -l``.
    Not a dataclass on purpose: ``dataclasses.asdict(settings)`` must not unpack it."""

    __slots__ = ("source", "value")

    def __init__(self, value: str, source: str) -> None:
        self.value, self.source = value, source

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.value, self.source) == (
            other.value,
            other.source,
        )

    def __hash__(self) -> int:
        return hash((self.value, self.source))


def read_secret(
    raw: Mapping[str, str | None], sources: Mapping[str, str], name: str
) -> Secret | None:
    """``name`` (env only) or the contents of ``name_file``, not both; messages name the
    variable or the file, never the value."""
    direct, path = raw[name], raw[f"{name}_file"]
    if direct and path:
        raise ConfigError(f"give {sources[name]} or {sources[name + '_file']}, not both")
    if direct:
        return Secret(direct, sources[name])
    if not path:
        return None
    where = sources[f"{name}_file"]
    try:
        text = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read {path}: {reason or exc}") from None
    if not text.strip():
        raise ConfigError(f"{where}: {path} is empty (expected the secret on its first line)")
    return Secret(text, f"{where} {path}")
