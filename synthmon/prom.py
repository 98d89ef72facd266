"""Prometheus HTTP API through prometheus-api-client, with typed results and loud failures.

Every call has a timeout, every failure (unreachable, HTTP error, PromQL error, a body that
is not Prometheus's) becomes one :class:`~synthmon.errors.HttpError` line (a QueryError) in the
format of synthmon.http_errors, naming the URL, the PromQL and Prometheus's own error text, and
nothing ever turns into a silent empty result.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from synthmon.errors import QueryError
from synthmon.http_errors import body_excerpt, http_error, one_line, transport_problem
from synthmon.masking import hide_password
from synthmon.waiting import NotYet
from synthmon.waiting import wait_until as _wait_until


@dataclass(frozen=True)
class Sample:
    """One instant-vector element (or a scalar, with no labels)."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class Series:
    """One range-vector / range-query series: its raw ``(timestamp, value)`` points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Target:
    """An active scrape target as /api/v1/targets reports it."""

    job: str
    health: str
    last_error: str
    scrape_url: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    """A pending or firing alert as /api/v1/alerts reports it."""

    name: str
    state: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    value: str
    active_at: float | None = None  # Unix time it became pending (firing: plus its for:)


_CLIENT_ERROR = re.compile(r"HTTP Status Code (\d+) \((b(?:'.*'|\".*\"))\)\Z", re.S)


class Prometheus:
    """A Prometheus server; ``query*`` return typed samples or raise QueryError."""

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        verify: bool = True,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.url = url.rstrip("/")
        self.shown_url = hide_password(self.url)  # for messages: never a basic-auth password
        self.timeout = timeout
        self._session = requests.Session()
        self._session.verify = verify
        # The client's default retries 500-504 with a 1 s backoff, three times; a gate must fail
        # fast, and an error status must reach us (raise_on_status=False) with its body.
        # A slow query is not retried (read=False): that would only double the wait.
        retry = Retry(
            total=1,
            read=False,
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            raise_on_status=False,
        )
        self._client = PrometheusConnect(
            url=self.url,
            headers=dict(headers or {}),
            disable_ssl=not verify,
            retry=retry,
            session=self._session,
            timeout=timeout,  # 0.7.2 applies the constructor timeout to every request
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, path: str, fn: Callable[[], Any]) -> Any:
        """Run one client call (a GET of ``path``); every failure is a one-line HttpError."""

        def failed(seen: str, status: int | None = None) -> QueryError:
            return http_error(
                "Prometheus",
                self.shown_url,
                what,
                method="GET",
                url=f"{self.url}{path}",
                status=status,
                seen=seen,
            )

        try:
            return fn()
        except PrometheusApiClientException as exc:
            match = _CLIENT_ERROR.match(str(exc))
            if match is None:
                raise failed(one_line(str(exc))) from None
            status, body = int(match.group(1)), ast.literal_eval(match.group(2))
            raise failed(body_excerpt(body), status) from None
        except requests.JSONDecodeError as exc:
            raise failed(f"not a Prometheus API answer ({exc})", 200) from None
        except requests.RequestException as exc:
            raise failed(transport_problem(exc, self.timeout)) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise failed(f"not a Prometheus API answer ({exc!r})") from None

    def _get(self, path: str) -> Any:
        """GET an /api/v1 path the client has no method for; returns ``data``."""

        def fetch() -> Any:
            resp = self._session.get(
                f"{self.url}{path}", headers=self._client.headers, timeout=self.timeout
            )
            if resp.status_code != 200:
                raise PrometheusApiClientException(
                    f"HTTP Status Code {resp.status_code} ({resp.content!r})"
                )
            return resp.json()["data"]

        return self._call(f"GET {path}", path, fetch)

    def _instant(self, promql: str, at: float | None) -> Any:
        params = {} if at is None else {"time": repr(float(at))}
        return self._call(
            f"query {promql!r}", "/api/v1/query", lambda: self._client.custom_query(promql, params)
        )

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        """Instant query at ``at`` (unix seconds; None = server's now)."""
        return self._samples(promql, self._instant(promql, at))

    def _samples(self, promql: str, result: Any) -> list[Sample]:
        if (
            isinstance(result, list)
            and len(result) == 2
            and isinstance(result[0], int | float)
            and isinstance(result[1], str)
        ):  # a scalar or string result: [ts, "value"]
            return [Sample({}, float(result[1]), float(result[0]))]
        try:
            return [
                Sample(dict(r["metric"]), float(r["value"][1]), float(r["value"][0]))
                for r in result
            ]
        except (KeyError, TypeError, ValueError, IndexError):
            raise QueryError(
                f"Prometheus {self.shown_url}: query {promql!r}: expected an instant vector, got "
                f"{one_line(repr(result), 120)}"
            ) from None

    def query_one(self, promql: str, at: float | None = None, what: str = "") -> Sample:
        """The single sample of ``promql``; QueryError when there is none (or several)."""
        samples = self.query(promql, at)
        if not samples:
            raise QueryError(f"no data: {what or 'value'}: {promql} returned nothing")
        if len(samples) > 1:
            raise QueryError(
                f"{what or 'value'}: {promql} returned {len(samples)} series, expected one"
            )
        return samples[0]

    def query_matrix(self, promql: str, at: float | None = None) -> list[Series]:
        """Instant query of a range vector (``x[5m]``): the raw samples, not resampled."""
        return self._series(promql, self._instant(promql, at))

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """Range query evaluated every ``step`` seconds from ``start`` to ``end``."""
        result = self._call(
            f"query_range {promql!r}",
            "/api/v1/query_range",
            lambda: self._client.custom_query_range(
                promql,
                start_time=datetime.fromtimestamp(start, UTC),
                end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step:g}",
            ),
        )
        return self._series(promql, result)

    def _series(self, promql: str, result: Any) -> list[Series]:
        try:
            return [
                Series(dict(r["metric"]), tuple((float(t), float(v)) for t, v in r["values"]))
                for r in result
            ]
        except (KeyError, TypeError, ValueError):
            raise QueryError(
                f"Prometheus {self.shown_url}: {promql!r}: expected a range vector, got "
                f"{one_line(repr(result), 120)}"
            ) from None

    def targets(self) -> list[Target]:
        """Active scrape targets with their health and last scrape error."""
        data = self._call(
            "GET /api/v1/targets", "/api/v1/targets", lambda: self._client.get_targets("active")
        )
        return [
            Target(
                job=str(t.get("labels", {}).get("job", t.get("scrapePool", ""))),
                health=str(t.get("health", "unknown")),
                last_error=str(t.get("lastError", "")),
                scrape_url=str(t.get("scrapeUrl", "")),
                labels=dict(t.get("labels", {})),
            )
            for t in data.get("activeTargets", [])
        ]

    def wait_settled(self, timeout_s: float) -> None:
        """Every target scraped once, then every rule evaluated after that: until then
        a rule such as ``absent(up{job="x"})`` fires from the start alone, not from a fault."""

        def scraped() -> float | NotYet:
            waiting = [t.job for t in self.targets() if t.health == "unknown"]
            return NotYet(f"not scraped yet: {waiting}") if waiting else time.time()

        since = _wait_until(scraped, timeout_s=timeout_s, interval_s=0.2, what="a first scrape")
        self.wait_evaluated(since, timeout_s)

    def wait_evaluated(self, since: float, timeout_s: float) -> None:
        """Wait until every rule was evaluated at or after ``since`` (Unix seconds);
        WaitTimeout names the rules not evaluated since then."""

        def evaluated() -> bool | NotYet:
            waiting = [
                str(rule.get("name"))
                for group in self.rules()
                for rule in group.get("rules", [])
                if (_unix(rule.get("lastEvaluation")) or 0.0) < since
            ]
            return NotYet(f"not evaluated since then: {', '.join(waiting)}") if waiting else True

        _wait_until(
            evaluated,
            timeout_s=timeout_s,
            interval_s=0.2,
            what=f"Prometheus {self.shown_url} to evaluate every rule",
            retry_on=(QueryError,),
        )

    def alerts(self) -> list[Alert]:
        """Alerts in state pending or firing (resolved ones are not listed by Prometheus)."""
        data = self._get("/api/v1/alerts")
        return [
            Alert(
                name=str(a.get("labels", {}).get("alertname", "")),
                state=str(a.get("state", "")),
                labels=dict(a.get("labels", {})),
                annotations=dict(a.get("annotations", {})),
                value=str(a.get("value", "")),
                active_at=_unix(a.get("activeAt")),
            )
            for a in data.get("alerts", [])
        ]

    def flags(self) -> dict[str, str]:
        """The command-line flags Prometheus runs with (``/api/v1/status/flags``)."""
        data = self._get("/api/v1/status/flags")
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def query_exemplars(self, promql: str, start: float, end: float) -> Any:
        """``/api/v1/query_exemplars``: the series' exemplars in [start, end], as returned."""
        params = {"query": promql, "start": repr(float(start)), "end": repr(float(end))}
        return self._get("/api/v1/query_exemplars?" + urlencode(params))

    def rules(self) -> list[dict[str, Any]]:
        """Rule groups as /api/v1/rules returns them (name, file, rules with health/state)."""
        groups = self._get("/api/v1/rules").get("groups", [])
        return [dict(g) for g in groups]


def wait_until(
    predicate_fn: Callable[[], bool],
    deadline_s: float,
    describe_fn: Callable[[], str],
    interval: float = 0.5,
    *,
    what: str = "the condition",
) -> None:
    """Poll ``predicate_fn`` until true: :func:`synthmon.waiting.wait_until` with a QueryError
    inside the predicate counted as "not yet" (e.g. Prometheus still starting). On timeout a
    WaitTimeout (a QueryError) with ``describe_fn()``'s state and the last such error.
    """
    _wait_until(
        predicate_fn,
        timeout_s=deadline_s,
        interval_s=interval,
        what=what,
        retry_on=(QueryError,),
        describe=describe_fn,
    )


def _unix(stamp: object) -> float | None:
    """RFC 3339 (as Prometheus writes ``activeAt``) as Unix time; None when absent or not one."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
