"""The reference app's own faults: its chaos controls, the fake GitHub's quota, failed logins.

Reached through the project (``faults.project_fault("chaos", ...)``); each is a context
manager registered with the run's :class:`synthmon.faults.Faults`, so it is undone even when a
check forgets to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from synthmon.errors import StackError
from synthmon.faults import Faults
from synthmon.upstream import UpstreamClient

CHAOS_HEADER = "X-Chaos-Token"
LOGIN_USER = "demo"


def _chaos_call(faults: Faults, method: str, body: dict[str, Any] | None = None) -> None:
    response = faults.http.request(
        method,
        f"{faults.stack.app_url}/api/chaos",
        json=body,
        headers={CHAOS_HEADER: faults.stack.secrets.get("chaos_token", "")},
    )
    if response.status_code >= 300:
        raise StackError(f"app chaos {method}: HTTP {response.status_code}: {response.text}")


@contextlib.contextmanager
def chaos(faults: Faults, endpoint: str = "*", **settings: float) -> Iterator[None]:
    """App chaos on ``endpoint``: error_rate, latency_ms, latency_fraction, cpu_burn, …"""
    _chaos_call(faults, "PUT", {"endpoint": endpoint, **settings})
    with faults.restoring(lambda: _chaos_call(faults, "DELETE")):
        yield


@contextlib.contextmanager
def github_quota(faults: Faults, remaining: int) -> Iterator[None]:
    """The fake GitHub's remaining rate-limit quota set to ``remaining`` (upstreams/github.yaml)."""
    base = faults.stack.urls["github"]
    with UpstreamClient(base) as upstream:
        previous = upstream.state()["quota"]["remaining"]
        upstream.set_quota(remaining=remaining)

    def restore() -> None:
        with UpstreamClient(base) as upstream:
            upstream.set_quota(remaining=previous)

    with faults.restoring(restore):
        yield


def failed_logins(faults: Faults, per_second: float) -> contextlib.AbstractContextManager[None]:
    """A brute-force burst: wrong passwords for user ``demo`` (runbook: security alerts)."""
    url = f"{faults.stack.app_url}/api/login"
    body = {"username": LOGIN_USER, "password": "not-the-password"}
    return faults.traffic(lambda c: c.post(url, json=body), per_second)
