"""What may run on an external stack (``--stack external``): a deployed environment is somebody
else's, so checks that inject faults are skipped unless allowed, and load is capped to the
smoke profile unless allowed.

Its settings and credentials live in synthmon.settings and synthmon.secrets, its clients in
synthmon.clients (re-exported here for the modules that import them from here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synthmon.clients import ClientConfig, alertmanager, client_config, prometheus, secrets_of
from synthmon.secrets import Secret

if TYPE_CHECKING:
    from synthmon.load import LoadProfile

__all__ = [
    "DESTRUCTIVE_SKIP",
    "LOAD_CAP_PROFILE",
    "ClientConfig",
    "Secret",
    "alertmanager",
    "cap_load",
    "client_config",
    "describe_load",
    "max_rate",
    "prometheus",
    "secrets_of",
]

DESTRUCTIVE_SKIP = (
    "destructive: not run against an external stack without --allow-destructive "
    "(SYNTHMON_ALLOW_DESTRUCTIVE=1)"
)
LOAD_CAP_PROFILE = "smoke"


def max_rate(profile: LoadProfile) -> float:
    """The most requests per second ``profile`` can offer (closed loop: users / shortest wait)."""
    if profile.constant_throughput and profile.target_rps is not None:
        return profile.target_rps
    if profile.wait_min_s <= 0:
        return float("inf")
    return profile.users / profile.wait_min_s


def cap_load(profile: LoadProfile, cap: LoadProfile) -> LoadProfile:
    """``profile`` if it is no bigger than ``cap`` (users, offered rate, duration), else ``cap``
    itself: on somebody else's environment a synthetic run may probe, not stress."""
    fits = (
        profile.users <= cap.users
        and profile.steady_s <= cap.steady_s
        and max_rate(profile) <= max_rate(cap)
    )
    return profile if fits else cap


def describe_load(profile: LoadProfile) -> str:
    rate = max_rate(profile)
    shown = "unbounded" if rate == float("inf") else f"up to {rate:g} req/s"
    return f"{profile.name}: {profile.users} users, {shown}, {profile.steady_s:g} s steady"
