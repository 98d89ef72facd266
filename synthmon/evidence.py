"""Allure evidence: what a person needs to believe a check's verdict, with secrets redacted.

Checks attach the HTTP exchanges they judged, the PromQL they ran with its result, the
notifications the sinks received, the Locust report and plots. Without ``--alluredir``
allure-pytest registers no listener and its calls already do nothing; :func:`active` lets the
costly evidence (plots, files, extra queries) be skipped too. Headers are never attached, and
values that look like secrets (by key name, ``Bearer ...``, URL passwords) become ``***``
before anything is written; the run's known secret values are synthmon.redact's job.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import allure
import allure_commons
import httpx

from synthmon.prom import Alert, Sample, Series
from synthmon.sinks import Notification

if TYPE_CHECKING:
    from synthmon.load import LoadResult
    from synthmon.plots import Thresholds

REDACTED = "***"
BODY_LIMIT = 3000  # characters of a body kept in an exchange
LISTED = 30  # series / notifications listed in one attachment
SECRET_KEY = re.compile(
    r"authorization|token|passw(or)?d|secret|api[_-]?key|cookie|credential|private[_-]?key"
    r"|routing[_-]?key|service[_-]?key",
    re.IGNORECASE,
)
_KEY_VALUE = re.compile(
    r"""(?P<key>["']?[\w.-]*(?:authorization|token|passw(?:or)?d|secret|api[_-]?key|"""
    r"""routing[_-]?key|service[_-]?key)[\w.-]*["']?\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|(?:(?:Bearer|Basic|Token)\s+)?[^\s&,;}\]]+)""",
    re.IGNORECASE,
)
_SCHEME_TOKEN = re.compile(r"\b(Bearer|Basic|Token)\s+[\w.~+/=-]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")
_KINDS = {
    "text": allure.attachment_type.TEXT,
    "json": allure.attachment_type.JSON,
    "html": allure.attachment_type.HTML,
    "png": allure.attachment_type.PNG,
    "csv": allure.attachment_type.CSV,
}


def active() -> bool:
    """Whether allure-pytest is recording (``--alluredir`` given) in this process."""
    return bool(allure_commons.plugin_manager.hook.attach_data.get_hookimpls())


def redact_text(text: str) -> str:
    """``text`` with secret-looking values replaced by ``***``."""

    def hide(match: re.Match[str]) -> str:
        quote = match.group("value")[0] if match.group("value")[0] in "\"'" else ""
        return f"{match.group('key')}{quote}{REDACTED}{quote}"

    text = _KEY_VALUE.sub(hide, text)
    text = _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}@", text)


def redact(data: Any) -> Any:
    """A JSON-like value with secret keys' values and secret-looking strings redacted."""
    if isinstance(data, dict):
        return {
            k: REDACTED if SECRET_KEY.search(str(k)) and data[k] is not None else redact(data[k])
            for k in data
        }
    if isinstance(data, list | tuple):
        return [redact(item) for item in data]
    if isinstance(data, str):
        return redact_text(data)
    return data


@contextmanager
def step(title: str, after: Callable[[], None] | None = None) -> Iterator[None]:
    """An Allure step (a no-op without --alluredir): the report reads like the runbook.

    ``after`` attaches the step's evidence when it ends, passed or failed; evidence that
    cannot be gathered is itself attached as a note and never changes the verdict.
    """
    with allure.step(redact_text(title)):
        try:
            yield
        finally:
            if after is not None and active():
                try:
                    after()
                except Exception as exc:
                    attach_text("evidence missing", f"{type(exc).__name__}: {exc}")


def attach_text(name: str, text: str) -> None:
    if active():
        allure.attach(redact_text(text), name=name, attachment_type=allure.attachment_type.TEXT)


def attach_json(name: str, data: Any) -> None:
    if active():
        body = json.dumps(redact(data), indent=2, sort_keys=True, default=str)
        allure.attach(body, name=name, attachment_type=allure.attachment_type.JSON)


def attach_file(path: Path, name: str, kind: str) -> None:
    """A file as it is (``kind``: text, json, html, png, csv); a missing file says so."""
    if not active():
        return
    if not path.is_file():
        attach_text(name, f"(no file at {path})")
        return
    allure.attach(path.read_bytes(), name=name, attachment_type=_KINDS[kind])


def attach_png(name: str, png: bytes) -> None:
    if active():
        allure.attach(png, name=name, attachment_type=allure.attachment_type.PNG)


def _truncate(text: str) -> str:
    if len(text) <= BODY_LIMIT:
        return text
    return f"{text[:BODY_LIMIT]}\n... ({len(text) - BODY_LIMIT} more characters)"


def _body(content: bytes) -> str:
    """A body for people: JSON pretty-printed and redacted, anything else redacted text."""
    if not content:
        return "(empty body)"
    try:
        return _truncate(json.dumps(redact(json.loads(content)), indent=2))
    except ValueError:
        return _truncate(redact_text(content.decode("utf-8", "replace")))


def exchange_text(response: httpx.Response) -> str:
    """Request line, status, elapsed, request and response bodies; never any header."""
    request = response.request
    lines = [f"{request.method} {redact_text(str(request.url))}"]
    if request.content:
        lines += ["", "request body:", _body(request.content)]
    elapsed = (
        f" in {response.elapsed.total_seconds() * 1000:.0f} ms" if _has_elapsed(response) else ""
    )
    lines += ["", f"HTTP {response.status_code} {response.reason_phrase}{elapsed}", ""]
    lines.append(_body(response.content))
    return "\n".join(lines)


def _has_elapsed(response: httpx.Response) -> bool:
    try:
        response.elapsed  # noqa: B018 (only set once the response was read)
    except RuntimeError:
        return False
    return True


def attach_exchange(response: httpx.Response, name: str | None = None) -> None:
    """The HTTP exchange a check judged."""
    if active():
        request = response.request
        title = name or f"HTTP {request.method} {request.url.path} -> {response.status_code}"
        attach_text(title, exchange_text(response))


def attach_failed_request(method: str, url: str, error: BaseException) -> None:
    """A request that got no answer (the answer a check may have expected)."""
    attach_text(f"HTTP {method} -> {type(error).__name__}", f"{method} {url}\n\n{error!r}")


def _labels(labels: Any) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(dict(labels).items())) + "}"


def promql_text(
    promql: str, result: Sequence[Sample] | Sequence[Series] | BaseException, at: float | None
) -> str:
    """The PromQL, when it was evaluated and what it returned (or the error)."""
    when = "server time now" if at is None else datetime.fromtimestamp(at, UTC).isoformat()
    lines = [f"PromQL: {' '.join(promql.split())}", f"evaluated at: {when}"]
    if isinstance(result, BaseException):
        return "\n".join([*lines, f"error: {result}"])
    lines.append(f"result: {len(result)} series" + (" (no data)" if not result else ""))
    items: list[Sample | Series] = list(result)
    for item in items[:LISTED]:
        if isinstance(item, Sample):
            lines.append(f"  {_labels(item.labels)} = {item.value:g}")
        else:
            values = [v for _, v in item.points]
            span = (
                f"min {min(values):g}, max {max(values):g}, last {values[-1]:g}" if values else ""
            )
            lines.append(f"  {_labels(item.labels)}: {len(values)} points {span}")
    if len(result) > LISTED:
        lines.append(f"  ... {len(result) - LISTED} more")
    return "\n".join(lines)


def attach_promql(
    name: str,
    promql: str,
    result: Sequence[Sample] | Sequence[Series] | BaseException,
    at: float | None = None,
) -> None:
    attach_text(name, promql_text(promql, result, at))


def attach_alerts(name: str, alerts: Iterable[Alert]) -> None:
    """Alerts as Prometheus reports them (state, labels, annotations, value)."""
    attach_json(name, [dataclasses.asdict(a) for a in alerts])


def _shown(note: Notification) -> Notification:
    """Without the raw payload; a PagerDuty routing key (a credential) keeps 4 characters."""
    channel = note.channel
    if note.kind == "pagerduty" and channel:
        channel = REDACTED + channel[-4:] if len(channel) > 8 else REDACTED
    return dataclasses.replace(note, channel=channel, raw=None)


def notifications_text(notes: Sequence[Notification]) -> str:
    shown = [_shown(n) for n in notes]
    lines = [f"{len(shown)} notification(s)" + (": none" if not shown else "")]
    lines += [f"  {n.describe()}" for n in shown[-LISTED:]]
    body = [{k: v for k, v in n.to_json().items() if k != "raw"} for n in shown[-LISTED:]]
    return "\n".join(lines) + "\n\n" + json.dumps(redact(body), indent=2, sort_keys=True)


def attach_notifications(name: str, notes: Sequence[Notification]) -> None:
    """What the sinks received: one line each, then the JSON (no raw payload)."""
    if active():
        attach_text(name, notifications_text(notes))


def attach_load_report(load: LoadResult) -> None:
    """Locust's own HTML report and the measured window's figures."""
    if active():
        attach_file(load.files.get("html", Path("locust.html")), "Locust report", "html")
        attach_json("load window: figures", load.window_doc())


def attach_load_plots(load: LoadResult, thresholds: Thresholds) -> None:
    """Latency percentiles and error rate per second over the load window, thresholds drawn."""
    if not active():
        return
    from synthmon import plots

    try:
        seconds, source = plots.load_seconds(load)
        requests, failures = plots.summary(seconds)
        rate = f"{100 * failures / requests:.2f}%" if requests else "n/a"
        span = f"{load.profile}, {load.duration_s:.0f} s, {requests} requests"
        latency = plots.latency_png(seconds, thresholds, f"Latency per second ({span})")
        errors = plots.error_rate_png(seconds, thresholds, f"Error rate {rate} ({span})")
    except (ValueError, OSError) as exc:
        attach_text("load window: no plot", f"no plot of load run {load.profile}: {exc}")
        return
    attach_png(f"latency percentiles per second ({source})", latency)
    attach_png(f"error rate per second ({source})", errors)


def attach_stack_notes(kind: str, notes: Sequence[str]) -> None:
    """What the test copies of the project's configs leave out (production scrape jobs the
    test stack does not scrape, and why), in the report and not only on the terminal: one
    step per note and one attachment with them all, in the setup of every check on the stack."""
    if not notes or not active():
        return
    with step(f"Test stack ({kind}): what its copies of the configs leave out"):
        for note in notes:
            with step(note):
                pass
        attach_text("test stack notes", "\n".join(notes) + "\n")
