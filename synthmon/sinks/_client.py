"""Read what reached the sinks, and wait for a notification with a deadline that explains itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import httpx

from synthmon.errors import QueryError
from synthmon.sinks._model import Notification

Predicate = Callable[[Notification], bool]
_SHOWN = 25  # notifications listed in a timeout message


class SinkClient:
    """HTTP client of ``python -m synthmon.sinks``."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def __enter__(self) -> SinkClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def ready(self) -> bool:
        try:
            return self._http.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def notifications(self, since: float | None = None) -> list[Notification]:
        """Everything recorded (at or after ``since``, a Unix time), oldest first."""
        params = {"since": repr(since)} if since is not None else {}
        data = self._request("GET", "/notifications", params).json()
        return [Notification.from_json(item) for item in data]

    def clear(self) -> None:
        self._request("DELETE", "/notifications")

    def wait_for(
        self,
        predicate: Predicate,
        deadline_s: float,
        describe: str,
        *,
        since: float | None = None,
        poll_s: float = 0.1,
    ) -> list[Notification]:
        """The notifications matching ``predicate`` once there is at least one.

        On timeout: AssertionError naming ``describe`` and listing what did arrive.
        """
        end = time.monotonic() + deadline_s
        while True:
            seen = self.notifications(since)
            matched = [n for n in seen if predicate(n)]
            if matched:
                return matched
            if time.monotonic() >= end:
                raise AssertionError(
                    f"no notification {describe} within {deadline_s:g}s; "
                    f"received {len(seen)}:{_listing(seen)}"
                )
            time.sleep(poll_s)

    def expect_none(
        self,
        predicate: Predicate,
        window_s: float,
        describe: str,
        *,
        since: float | None = None,
        poll_s: float = 0.1,
    ) -> None:
        """Watch for ``window_s`` seconds; AssertionError as soon as a match arrives."""
        end = time.monotonic() + window_s
        while True:
            matched = [n for n in self.notifications(since) if predicate(n)]
            if matched:
                raise AssertionError(
                    f"expected no notification {describe}, got {len(matched)}:{_listing(matched)}"
                )
            if time.monotonic() >= end:
                return
            time.sleep(poll_s)

    def _request(
        self, method: str, path: str, params: dict[str, str] | None = None
    ) -> httpx.Response:
        url = f"{self.base_url}{path}"
        try:
            response = self._http.request(method, path, params=params)
        except httpx.HTTPError as exc:
            raise QueryError(f"sinks {method} {url} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise QueryError(
                f"sinks {method} {url} failed: HTTP {response.status_code}: {response.text[:200]}"
            )
        return response


def _listing(items: list[Notification]) -> str:
    lines = [f"\n  - {n.describe()}" for n in items[-_SHOWN:]]
    hidden = len(items) - len(lines)
    return (f"\n  (... {hidden} earlier)" if hidden else "") + "".join(lines)
