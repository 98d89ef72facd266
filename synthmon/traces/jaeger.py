"""Jaeger's query API as a client: services, a trace search, one trace by ID.

Which API: ``/api/v3`` (``/api/v3/services``, ``/api/v3/traces``, ``/api/v3/traces/{id}``).
It is the query API Jaeger documents as public and stable; ``/api/traces`` is the UI's own,
documented as internal and free to change. v3 answers OTLP JSON, so a span's kind and typed
attributes arrive as the SDK sent them (the UI's API flattens them into string tags).

An empty search is not an error here: Jaeger's 404 "No traces found" becomes ``[]`` (or
``None`` for one trace), and the checks that needed a trace say what they searched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from synthmon.errors import HttpError
from synthmon.http_errors import error_of, http_error, one_line
from synthmon.traces.model import Trace
from synthmon.traces.otlp import traces_of

SERVICE = "Jaeger"
API = "/api/v3"
DEFAULT_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True)
class Search:
    """What a search asked for, in the words a failure message uses."""

    service: str
    operation: str | None
    start: datetime
    end: datetime
    min_duration_ms: float | None = None
    limit: int = 20

    def __str__(self) -> str:
        op = f"operation {self.operation!r}" if self.operation else "any operation"
        parts = [f"service {self.service!r}", op]
        if self.min_duration_ms is not None:
            parts.append(f"duration >= {self.min_duration_ms:g} ms")
        window = f"{_rfc3339(self.start)} .. {_rfc3339(self.end)}"
        return f"{', '.join(parts)}, started {window} (at most {self.limit})"

    def params(self) -> dict[str, str]:
        out = {
            "query.service_name": self.service,
            "query.start_time_min": _rfc3339(self.start),
            "query.start_time_max": _rfc3339(self.end),
            "query.num_traces": str(self.limit),
        }
        if self.operation:
            out["query.operation_name"] = self.operation
        if self.min_duration_ms is not None:
            out["query.duration_min"] = f"{self.min_duration_ms:g}ms"
        return out


def _rfc3339(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _documents(text: str) -> list[Any]:
    """The JSON documents of a body: one, or several back to back (a streamed answer)."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)
        while at < len(text) and text[at].isspace():
            at += 1
    return docs


class JaegerClient:
    """Jaeger's ``/api/v3`` at ``base_url`` (the query port, the runbook's 16686)."""

    api = API

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http

    def _get(self, path: str, params: dict[str, str] | None = None) -> list[Any] | None:
        """The answer's JSON documents; None on Jaeger's 404 "No traces found"."""
        url = f"{self.base_url}{self.api}{path}"
        try:
            response = self._http.get(url, params=params)
        except httpx.HTTPError as exc:
            timeout = self._http.timeout.read
            raise error_of(SERVICE, self.base_url, exc, timeout_s=timeout) from None
        if response.status_code == 404 and "No traces found" in response.text:
            return None
        if response.status_code >= 400:
            raise error_of(SERVICE, self.base_url, response)
        try:
            return _documents(response.text)
        except ValueError as exc:
            raise self._bad(response, f"not JSON: {exc}") from None

    def _bad(self, response: httpx.Response, problem: str) -> HttpError:
        request = response.request
        return http_error(
            SERVICE,
            self.base_url,
            f"{request.method} {request.url.path}",
            method=request.method,
            url=str(request.url),
            status=response.status_code,
            seen=f"{problem} (body: {one_line(response.text, 120) or 'empty'})",
        )

    def services(self) -> list[str]:
        """The service names Jaeger holds spans of."""
        docs = self._get("/services") or [{}]
        services = docs[0].get("services") if isinstance(docs[0], dict) else None
        return sorted(str(s) for s in services or [])

    def find(
        self,
        service: str,
        operation: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        min_duration_ms: float | None = None,
        limit: int = 20,
    ) -> list[Trace]:
        """Traces of ``service`` (a root or any span of it) started in [start, end] (default:
        the last hour); ``[]`` when there are none."""
        return self.search(self.search_for(service, operation, start, end, min_duration_ms, limit))

    @staticmethod
    def search_for(
        service: str,
        operation: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        min_duration_ms: float | None = None,
        limit: int = 20,
    ) -> Search:
        """The :class:`Search` :meth:`find` sends (a message can name it)."""
        end = end or datetime.now(UTC)
        start = start or end - DEFAULT_LOOKBACK
        return Search(service, operation, start, end, min_duration_ms, limit)

    def search(self, search: Search) -> list[Trace]:
        docs = self._get("/traces", search.params()) or []
        where = f"{SERVICE} {self.base_url}{self.api}/traces"
        found: dict[str, Trace] = {}
        for doc in docs:
            for trace in traces_of(doc, where):
                known = found.get(trace.trace_id)
                spans = trace.spans if known is None else known.spans + trace.spans
                found[trace.trace_id] = Trace(trace.trace_id, spans)
        return list(found.values())

    def trace(self, trace_id: str) -> Trace | None:
        """The trace with ``trace_id`` (32 hex digits), or None when Jaeger has none."""
        tid = trace_id.lower()
        docs = self._get(f"/traces/{tid}") or []
        where = f"{SERVICE} {self.base_url}{self.api}/traces/{tid}"
        spans = tuple(s for doc in docs for t in traces_of(doc, where) for s in t.spans)
        return Trace(tid, spans) if spans else None
