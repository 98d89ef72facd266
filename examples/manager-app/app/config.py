"""Settings read once from the environment (the contract in docs/architecture.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from app import __version__


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {raw!r}")
    return value


def _optional(name: str) -> str | None:
    value = os.environ.get(name, "")
    return value or None


@dataclass(frozen=True)
class Settings:
    """Everything the app can be told from outside; defaults match production-like local use."""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/claude_manager"
    redis_url: str = "redis://127.0.0.1:6379/0"
    github_api_url: str = "https://api.github.com"
    github_token: str | None = None
    chaos_token: str | None = None
    login_password: str = "demo-password"
    version: str = __version__
    probe_timeout: float = 1.0
    probe_interval: float = 1.0
    memory_limit_bytes: int | None = None

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from APP_* variables; empty values mean "use the default"."""
        env = os.environ.get
        memory = env("APP_MEMORY_LIMIT_BYTES", "").strip()
        return cls(
            database_url=env("APP_DATABASE_URL") or cls.database_url,
            redis_url=env("APP_REDIS_URL") or cls.redis_url,
            github_api_url=(env("APP_GITHUB_API_URL") or cls.github_api_url).rstrip("/"),
            github_token=_optional("APP_GITHUB_TOKEN"),
            chaos_token=_optional("APP_CHAOS_TOKEN"),
            login_password=env("APP_LOGIN_PASSWORD") or cls.login_password,
            version=env("APP_VERSION") or cls.version,
            probe_timeout=_float("APP_PROBE_TIMEOUT", cls.probe_timeout),
            probe_interval=_float("APP_PROBE_INTERVAL", cls.probe_interval),
            memory_limit_bytes=int(memory) if memory else None,
        )

    def __repr__(self) -> str:
        """Never show secrets, even in a debugger or a crash dump."""
        return (
            f"Settings(database_url=<hidden>, redis_url={self.redis_url!r}, "
            f"github_api_url={self.github_api_url!r}, chaos={'on' if self.chaos_token else 'off'})"
        )
