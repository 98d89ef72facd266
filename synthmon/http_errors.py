"""One format for every failed HTTP call to a stack service, and the one way to make such a call.

``<service> <base URL>: <action>: HTTP <status>: <body excerpt>`` (or ``: unreachable: ...``,
``: no answer within N s``), one line, password masked, as an :class:`~synthmon.errors.HttpError`
that carries method, URL, status and what was seen. Prometheus, Alertmanager, the Pushgateway,
the sinks and the dashboard checks all fail in this shape, so a reader learns it once.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from synthmon.errors import HttpError
from synthmon.jsonfile import parse_json
from synthmon.masking import hide_password

EXCERPT = 300  # characters of a body in a message
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')\]]+)")


def one_line(text: str, limit: int = EXCERPT) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def body_excerpt(body: bytes | str) -> str:
    """The ``error`` of a JSON error body (Prometheus, Pushgateway), else the body, one line."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        doc = json.loads(body)
    except ValueError:
        return one_line(body) or "(empty body)"
    if isinstance(doc, dict) and "error" in doc:
        return one_line(f"{doc.get('errorType', 'error')}: {doc['error']}")
    return one_line(body)


def root_cause(exc: BaseException) -> str:
    """``Connection refused`` rather than urllib3's three nested reprs."""
    found = _ERRNO.search(str(exc))
    return found.group(1).strip() if found else one_line(str(exc)) or type(exc).__name__


def _is(exc: BaseException, name: str) -> bool:
    """By class name, so that requests' exceptions (under prometheus-api-client) need no import."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def transport_problem(exc: BaseException, timeout_s: float | None = None) -> str:
    """What a call that got no HTTP answer saw: a timeout, a refused connection, or else."""
    if isinstance(exc, httpx.TimeoutException | TimeoutError) or _is(exc, "Timeout"):
        return (
            f"no answer within {timeout_s:g} s" if timeout_s else f"no answer ({exc or 'timeout'})"
        )
    if isinstance(exc, httpx.ConnectError) or _is(exc, "ConnectionError"):
        return f"unreachable: {root_cause(exc)}"
    return f"{type(exc).__name__}: {root_cause(exc)}"


def http_error(
    service: str,
    base_url: str,
    action: str,
    *,
    method: str,
    url: str,
    status: int | None = None,
    seen: str,
    error: type[HttpError] = HttpError,
) -> HttpError:
    """The one format: ``<service> <base_url>: <action>: [HTTP <status>: ]<seen>``; the status
    is shown when it is not a success (a 200 with an unusable body says so in ``seen``)."""
    shown = f"HTTP {status}: " if status is not None and not 200 <= status < 300 else ""
    message = hide_password(f"{service} {base_url.rstrip('/')}: {action}: {shown}{seen}")
    return error(message, method=method, url=hide_password(url), status=status, seen=seen)


def error_of(
    service: str,
    base_url: str,
    failure: httpx.Response | httpx.HTTPError,
    *,
    action: str = "",
    error: type[HttpError] = HttpError,
    timeout_s: float | None = None,
) -> HttpError:
    """:func:`http_error` for an httpx response with an error status or an httpx exception;
    ``action`` defaults to ``METHOD /path`` (the URL below ``base_url``)."""
    try:
        request: httpx.Request | None = failure.request
    except RuntimeError:  # an httpx exception raised before any request existed
        request = None
    method = request.method if request is not None else ""
    url = str(request.url) if request is not None else base_url
    if not action:
        path = url.removeprefix(base_url.rstrip("/"))
        action = f"{method} {path or '/'}".strip()
    if isinstance(failure, httpx.Response):
        seen = body_excerpt(failure.content)
        status: int | None = failure.status_code
    else:
        seen, status = transport_problem(failure, timeout_s), None
    return http_error(
        service, base_url, action, method=method, url=url, status=status, seen=seen, error=error
    )


def send(
    client: httpx.Client,
    service: str,
    method: str,
    url: str,
    *,
    base_url: str = "",
    error: type[HttpError] = HttpError,
    **kwargs: Any,
) -> httpx.Response:
    """``client.request(method, url, **kwargs)``; an error status or no answer raises
    :func:`error_of`'s error. ``base_url`` (default: the client's) is what messages name the
    service by; the action is the method and the rest of the URL."""
    base = base_url or str(client.base_url) or url
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise error_of(service, base, exc, error=error, timeout_s=client.timeout.read) from None
    if response.status_code >= 400:
        raise error_of(service, base, response, error=error)
    return response


def json_of(
    service: str, base_url: str, response: httpx.Response, error: type[HttpError] = HttpError
) -> Any:
    """The JSON body of ``response``; a body that is not JSON is an error in the one format."""
    request = response.request
    action = f"{request.method} {str(request.url).removeprefix(base_url.rstrip('/'))}"

    def failed(problem: str) -> HttpError:
        seen = f"{problem} (body: {one_line(response.text, 120) or 'empty'})"
        return http_error(
            service,
            base_url,
            action,
            method=request.method,
            url=str(request.url),
            status=response.status_code,
            seen=seen,
            error=error,
        )

    return parse_json(response.text, "body", "answer", error=failed)
