"""What the sinks received, in memory and as JSON lines: notifications and every request."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any, TextIO

from synthmon.sinks._model import Kind, Notification, SinkRequest
from synthmon.sinks._parse import ParsedAlert


class Store:
    """Every arrival, in order; a lock because handlers and readers may run on other threads."""

    def __init__(self, log: TextIO) -> None:
        self._lock = threading.Lock()
        self._items: list[Notification] = []
        self._requests: list[SinkRequest] = []
        self._states: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._arrivals = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._log = log

    def add(
        self, kind: Kind, channel: str, alerts: list[ParsedAlert], raw: Any, *,
        receiver: str = "", index: int = 0, method: str = "", path: str = "",
    ) -> None:  # fmt: skip
        """One arrival at destination ``(receiver, kind, index)``: one Notification an alert."""
        now = time.time()
        with self._lock:
            arrival = next(self._arrivals)
            for alert in alerts:
                self._items.append(
                    Notification(
                        id=next(self._ids), arrival_id=arrival, time=now, kind=kind,
                        channel=channel, receiver=receiver, status=alert.status,
                        alertname=alert.labels.get("alertname", ""), labels=alert.labels,
                        annotations=alert.annotations, raw=raw, index=index, method=method,
                        path=path,
                    )
                )  # fmt: skip
            self.log(
                event="notification", arrival_id=arrival, receiver=receiver, kind=kind,
                index=index, channel=channel, method=method, path=path,
                alerts=[[a.status, a.labels.get("alertname", "")] for a in alerts],
            )  # fmt: skip

    def add_request(
        self, receiver: str, kind: str, index: int, method: str, path: str, *,
        status_code: int, notification: bool, errors: tuple[str, ...] = (), tls: bool = False,
        authenticated: bool = False,
    ) -> None:  # fmt: skip
        with self._lock:
            item = SinkRequest(
                id=next(self._request_ids), time=time.time(), receiver=receiver, kind=kind,
                index=index, method=method, path=path, status_code=status_code,
                notification=notification, errors=list(errors), tls=tls,
                authenticated=authenticated,
            )  # fmt: skip
            self._requests.append(item)
            if not notification:
                self.log(event="request", **{k: v for k, v in item.to_json().items() if k != "id"})

    def state(self, destination: tuple[str, str, int]) -> dict[str, Any]:
        """A destination's memory across requests (Jira's issues, Telegram's message ids)."""
        with self._lock:
            return self._states.setdefault(destination, {})

    def snapshot(self, since: float | None = None) -> list[Notification]:
        with self._lock:
            return [n for n in self._items if since is None or n.time >= since]

    def requests(self, since: float | None = None) -> list[SinkRequest]:
        with self._lock:
            return [r for r in self._requests if since is None or r.time >= since]

    def clear(self) -> int:
        with self._lock:
            count, self._items, self._requests = len(self._items), [], []
            self._states.clear()
            return count

    def log(self, **fields: Any) -> None:
        """One JSON object per line; callers may hold the lock (it is not re-taken here)."""
        self._log.write(json.dumps({"ts": time.time(), **fields}) + "\n")
        self._log.flush()
