"""Settings from the environment (twelve-factor style: no config file).

LINKCHECK_REDIS_URL            redis://localhost:6379/0
LINKCHECK_UPSTREAM_URL         http://localhost:8081 (the status API; GET /status/{id})
LINKCHECK_UPSTREAM_TIMEOUT_S   2.0   total time allowed for one upstream call
LINKCHECK_UPSTREAM_PROBE_PATH  /status/ping   what /healthz and the prober GET on the upstream
LINKCHECK_PROBE_TIMEOUT_S      0.5   per dependency probe (redis PING, upstream GET)
LINKCHECK_PROBE_INTERVAL_S     1.0   background probe period (keeps the gauge fresh)
LINKCHECK_RESULT_TTL_S         3600  how long a check result is kept in Redis
LINKCHECK_LOG_LEVEL            info
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name}: expected a number, got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"{name}: expected a number > 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    redis_url: str
    upstream_url: str
    upstream_timeout_s: float
    upstream_probe_path: str
    probe_timeout_s: float
    probe_interval_s: float
    result_ttl_s: int
    log_level: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=os.environ.get("LINKCHECK_REDIS_URL", "redis://localhost:6379/0"),
            upstream_url=os.environ.get("LINKCHECK_UPSTREAM_URL", "http://localhost:8081").rstrip(
                "/"
            ),
            upstream_timeout_s=_float("LINKCHECK_UPSTREAM_TIMEOUT_S", 2.0),
            upstream_probe_path=os.environ.get("LINKCHECK_UPSTREAM_PROBE_PATH", "/status/ping"),
            probe_timeout_s=_float("LINKCHECK_PROBE_TIMEOUT_S", 0.5),
            probe_interval_s=_float("LINKCHECK_PROBE_INTERVAL_S", 1.0),
            result_ttl_s=int(_float("LINKCHECK_RESULT_TTL_S", 3600)),
            log_level=os.environ.get("LINKCHECK_LOG_LEVEL", "info").lower(),
        )
