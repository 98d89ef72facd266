"""Read what reached the sinks, and wait for a notification with a deadline that explains itself."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from synthmon.http_errors import json_of, send
from synthmon.service_client import ServiceClient
from synthmon.sinks._model import Notification, SinkRequest
from synthmon.waiting import NotYet, never_during, wait_until

Predicate = Callable[[Notification], bool]
_SHOWN = 25  # notifications listed in a timeout message


class SinkClient(ServiceClient):
    """HTTP client of ``python -m synthmon.sinks``."""

    def notifications(self, since: float | None = None) -> list[Notification]:
        """Everything recorded (at or after ``since``, a Unix time), oldest first."""
        params = {"since": repr(since)} if since is not None else {}
        data = json_of("sinks", self.base_url, self._request("GET", "/notifications", params))
        return [Notification.from_json(item) for item in data]

    def requests(self, since: float | None = None) -> list[SinkRequest]:
        """Every request (notifications, token fetches, searches, refusals), oldest first."""
        params = {"since": repr(since)} if since is not None else {}
        data = json_of("sinks", self.base_url, self._request("GET", "/requests", params))
        return [SinkRequest.from_json(item) for item in data]

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

        On timeout: WaitTimeout naming ``describe`` and listing what did arrive.
        """

        def matching() -> list[Notification] | NotYet:
            seen = self.notifications(since)
            matched = [n for n in seen if predicate(n)]
            return matched or NotYet(f"received {len(seen)}:{_listing(seen)}")

        return wait_until(
            matching, timeout_s=deadline_s, interval_s=poll_s, what=f"a notification {describe}"
        )

    def expect_none(
        self,
        predicate: Predicate,
        window_s: float,
        describe: str,
        *,
        since: float | None = None,
        poll_s: float = 0.1,
    ) -> None:
        """Watch for ``window_s`` seconds; UnexpectedEvent as soon as a match arrives."""

        def unwanted() -> str:
            matched = [n for n in self.notifications(since) if predicate(n)]
            return f"{len(matched)}:{_listing(matched)}" if matched else ""

        never_during(
            unwanted, window_s=window_s, interval_s=poll_s, what=f"no notification {describe}"
        )

    def _request(
        self, method: str, path: str, params: dict[str, str] | None = None
    ) -> httpx.Response:
        return send(self._http, "sinks", method, path, base_url=self.base_url, params=params)


def _listing(items: list[Notification]) -> str:
    lines = [f"\n  - {n.describe()}" for n in items[-_SHOWN:]]
    hidden = len(items) - len(lines)
    return (f"\n  (... {hidden} earlier)" if hidden else "") + "".join(lines)
