"""VictoriaLogs' query API (LogsQL over ``/select/logsql/query``), behind :class:`LogStore`.

The answer is JSON lines, one object per log record: ``_time``, ``_msg``, and every field the
record had (an OTLP record's attributes and resource, ``severity_text``, ``severity_number``).
"""

from __future__ import annotations

import json
from datetime import datetime

import httpx

from synthmon.errors import HttpError
from synthmon.http_errors import http_error, send
from synthmon.logstore.model import LogLine
from synthmon.logstore.times import parse_time, rfc3339

QUERY_PATH = "/select/logsql/query"
#: where a record keeps its level: OTLP's severity_text first, then JSON-lines conventions
LEVEL_FIELDS = ("severity_text", "level", "detected_level", "severity")
_LEVELS = '"(?i)^(error|critical|fatal)"'
_WORDS = r'"\\b(ERROR|CRITICAL|FATAL)\\b|(?i)out of memory|\\bOOM\\b|MemoryError|oom-kill"'
#: the runbook's patterns as a LogsQL filter pipe (health.py judges the answer again)
PROBLEM_FILTERS = (
    f"filter severity_text:~{_LEVELS} or level:~{_LEVELS} or severity_number:>=17 "
    f"or _msg:~{_WORDS} or exception.type:~{_WORDS}",
)


class VictoriaLogs:
    """A VictoriaLogs at ``base_url`` (``http://host:9428``), queried with ``http``."""

    name = "VictoriaLogs"

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http

    def lines(self, query: str, start: datetime, end: datetime, limit: int = 1000) -> list[LogLine]:
        params = {"query": query, "start": rfc3339(start), "end": rfc3339(end), "limit": limit}
        url = f"{self.base_url}{QUERY_PATH}"
        response = send(self._http, self.name, "GET", url, base_url=self.base_url, params=params)
        found = []
        for number, text in enumerate(response.text.splitlines(), 1):
            if text.strip():
                found.append(self._line(text, number, response))
        return sorted(found, key=lambda line: line.time)

    def problem_queries(self, query: str) -> tuple[str, ...]:
        return tuple(f"{query} | {narrowing}" for narrowing in PROBLEM_FILTERS)

    def _line(self, text: str, number: int, response: httpx.Response) -> LogLine:
        try:
            record = json.loads(text)
            stamp = parse_time(str(record["_time"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise self._bad(response, f"line {number} is no log record ({exc}): {text}") from None
        fields = {str(k): str(v) for k, v in record.items() if k not in ("_time", "_msg")}
        level = next((fields[f] for f in LEVEL_FIELDS if fields.get(f)), "")
        return LogLine(stamp, level, str(record.get("_msg", "")), fields)

    def _bad(self, response: httpx.Response, seen: str) -> HttpError:
        return http_error(
            self.name, self.base_url, f"GET {QUERY_PATH}", method="GET",
            url=str(response.request.url), status=response.status_code, seen=seen[:300],
        )  # fmt: skip
