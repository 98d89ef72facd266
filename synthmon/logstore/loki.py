"""Loki's query API (LogQL over ``/loki/api/v1/query_range``), behind :class:`LogStore`.

For a user whose logs are in Loki: the same check points at their Loki. Loki is not run here
(AGPL): this client is tested against recorded-format answers (tests/data/loki/). The answer's
``data.result`` is a list of streams, each its labels and ``[ns, line]`` (or, with categorized
labels, ``[ns, line, {structuredMetadata, parsed}]``) values; an OTLP record's severity is the
``severity_text`` / ``detected_level`` label or structured metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from synthmon.errors import HttpError
from synthmon.http_errors import http_error, json_of, send
from synthmon.logstore.model import LogLine
from synthmon.logstore.times import from_unix_ns, unix_ns

QUERY_PATH = "/loki/api/v1/query_range"
LEVEL_FIELDS = ("severity_text", "detected_level", "level", "severity")
_LEVELS = '"(?i)error|critical|fatal"'
#: the runbook's patterns as LogQL: the level labels, then the words in the line itself
PROBLEM_FILTERS = (
    f"| severity_text=~{_LEVELS} or detected_level=~{_LEVELS} or level=~{_LEVELS}",
    r'|~ "\\b(ERROR|CRITICAL|FATAL)\\b|(?i)out of memory|\\boom\\b|memoryerror|oom-kill"',
)


class Loki:
    """A Loki at ``base_url`` (``http://host:3100``), queried with ``http``."""

    name = "Loki"

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http

    def lines(self, query: str, start: datetime, end: datetime, limit: int = 1000) -> list[LogLine]:
        params: dict[str, str | int] = {
            "query": query, "start": unix_ns(start), "end": unix_ns(end), "limit": limit,
            "direction": "backward",  # the newest `limit` lines when there are more
        }  # fmt: skip
        url = f"{self.base_url}{QUERY_PATH}"
        response = send(self._http, self.name, "GET", url, base_url=self.base_url, params=params)
        body = json_of(self.name, self.base_url, response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("resultType") != "streams":
            shape = data.get("resultType") if isinstance(data, dict) else type(body).__name__
            raise self._bad(response, f"expected data.resultType streams, got {shape!r}")
        found = [line for stream in data.get("result") or () for line in self._stream(stream)]
        return sorted(found, key=lambda line: line.time)

    def problem_queries(self, query: str) -> tuple[str, ...]:
        return tuple(f"{query} {narrowing}" for narrowing in PROBLEM_FILTERS)

    def _stream(self, stream: Any) -> list[LogLine]:
        labels = _strings(stream.get("stream") if isinstance(stream, dict) else None)
        lines = []
        for value in stream.get("values") or () if isinstance(stream, dict) else ():
            stamp, text, *more = value
            fields = dict(labels)
            if more and isinstance(more[0], Mapping):  # categorize-labels encoding
                for group in ("structuredMetadata", "parsed"):
                    fields.update(_strings(more[0].get(group)))
            level = next((fields[f] for f in LEVEL_FIELDS if fields.get(f)), "")
            lines.append(LogLine(from_unix_ns(str(stamp)), level, str(text), fields))
        return lines

    def _bad(self, response: httpx.Response, seen: str) -> HttpError:
        return http_error(
            self.name, self.base_url, f"GET {QUERY_PATH}", method="GET",
            url=str(response.request.url), status=response.status_code, seen=seen,
        )  # fmt: skip


def _strings(labels: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
