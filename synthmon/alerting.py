"""A small Alertmanager API v2 client: alerts, silences, status.

Checks use it to see what Alertmanager holds (is the alert there, is it silenced or inhibited)
and to run the runbook's maintenance procedure: create a silence, then expire it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import httpx
from prometheus_client.parser import text_string_to_metric_families

from synthmon.errors import QueryError
from synthmon.http_errors import json_of, send
from synthmon.service_client import ServiceClient


class Matcher(TypedDict):
    """One silence matcher, as API v2 spells it."""

    name: str
    value: str
    isRegex: bool
    isEqual: bool


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as Alertmanager writes it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_payload(
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    generator_url: str = "",
) -> dict[str, Any]:
    """One alert for :meth:`AlertmanagerClient.post_alerts`.

    Give ``ends_at`` in the future for a firing alert (as Prometheus does), or now to resolve:
    without it Alertmanager resolves the alert itself after ``resolve_timeout``. ``starts_at``
    defaults to now, or ``ends_at`` if that is earlier (Alertmanager refuses a start after the
    end with HTTP 400: "now" taken after a resolve's ``ends_at`` is microseconds later).
    """
    start = starts_at or datetime.now(UTC)
    if starts_at is None and ends_at is not None:
        start = min(start, ends_at)
    alert: dict[str, Any] = {
        "labels": dict(labels),
        "annotations": dict(annotations or {}),
        "startsAt": iso(start),
    }
    if ends_at is not None:
        alert["endsAt"] = iso(ends_at)
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AlertmanagerClient(ServiceClient):
    """Alertmanager API v2 over httpx; every failure is a one-line HttpError (a QueryError)."""

    def __init__(
        self, base_url: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(base_url, timeout, api="/api/v2", headers=headers)

    def status(self) -> dict[str, Any]:
        """Cluster, version and the loaded config (``config.original``)."""
        data: dict[str, Any] = self._json(self._request("GET", "/status"))
        return data

    def alerts(
        self,
        labels: Mapping[str, str] | None = None,
        *,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
    ) -> list[dict[str, Any]]:
        """Alerts whose labels equal ``labels``; ``status.state`` says active/suppressed."""
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("active", str(active).lower()),
            ("silenced", str(silenced).lower()),
            ("inhibited", str(inhibited).lower()),
        ]
        params += [("filter", f"{k}={_quote(v)}") for k, v in (labels or {}).items()]
        query = httpx.QueryParams(params)
        data: list[dict[str, Any]] = self._json(self._request("GET", "/alerts", params=query))
        return data

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Push alerts as Prometheus would (see :func:`alert_payload`)."""
        self._request("POST", "/alerts", json=list(alerts))

    def failed_notifications(self) -> dict[str, float]:
        """``alertmanager_notifications_failed_total`` by integration, from /metrics: every
        delivery Alertmanager gave up on (a sink that refused it, a destination not reached)."""
        response = send(
            self._http, "Alertmanager", "GET", f"{self.base_url}/metrics", base_url=self.base_url
        )
        failed: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "alertmanager_notifications_failed_total":
                    kind = sample.labels.get("integration", "?")
                    failed[kind] = failed.get(kind, 0.0) + sample.value
        return failed

    def silences(self) -> list[dict[str, Any]]:
        """All silences, including expired ones (``status.state``)."""
        data: list[dict[str, Any]] = self._json(self._request("GET", "/silences"))
        return data

    def create_silence(
        self,
        matchers: Mapping[str, str] | Sequence[Matcher],
        duration_s: float,
        created_by: str,
        comment: str,
    ) -> str:
        """Silence from now for ``duration_s`` (a mapping: equality matchers); its id."""
        if isinstance(matchers, Mapping):
            matchers = [
                Matcher(name=k, value=v, isRegex=False, isEqual=True) for k, v in matchers.items()
            ]
        if not matchers:
            raise QueryError("Alertmanager silence: at least one matcher is required")
        now = datetime.now(UTC)
        body = {
            "matchers": list(matchers),
            "startsAt": iso(now),
            "endsAt": iso(now + timedelta(seconds=duration_s)),
            "createdBy": created_by,
            "comment": comment,
        }
        return str(self._json(self._request("POST", "/silences", json=body))["silenceID"])

    def expire_silence(self, silence_id: str) -> None:
        self._request("DELETE", f"/silence/{silence_id}")

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | None = None,
        json: object = None,
    ) -> httpx.Response:
        return send(
            self._http,
            "Alertmanager",
            method,
            path,
            base_url=f"{self.base_url}/api/v2",
            params=params,
            json=json,
        )

    def _json(self, response: httpx.Response) -> Any:
        return json_of("Alertmanager", f"{self.base_url}/api/v2", response)
