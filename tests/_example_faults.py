"""The reference example's faults for synthmon's self-tests, built from the same data kinds as
its synthmon.yaml scenarios (a service's own fault endpoint: the app's chaos API, the fake
GitHub's quota, a toxic on the app's PostgreSQL link)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from synthmon.faults import Faults
from synthmon.project import HttpCall, HttpFault, LinkFault, ToxicKind, UpstreamFault

CHAOS_HEADERS = {"X-Chaos-Token": "${secret:chaos_token}"}


def chaos(faults: Faults, endpoint: str = "*", **settings: float) -> AbstractContextManager[object]:
    """App chaos on ``endpoint``: error_rate, latency_ms, cpu_burn, …; cleared after."""
    return faults.apply(
        HttpFault(
            "app",
            HttpCall("PUT", "/api/chaos", {"endpoint": endpoint, **settings}, CHAOS_HEADERS),
            HttpCall("DELETE", "/api/chaos", None, CHAOS_HEADERS),
        )
    )


def github_quota(faults: Faults, remaining: int) -> AbstractContextManager[object]:
    """The fake GitHub's remaining quota set to ``remaining``; its routes file's after."""
    return faults.apply(UpstreamFault("github", "repo", remaining=remaining))


def postgres_link(toxic: ToxicKind, **attributes: float) -> LinkFault:
    """A toxic on the app's PostgreSQL link (the fault proxy's ``app-postgres``)."""
    return LinkFault("postgres", toxic, "app", attributes=attributes)
