"""Payloads of Alertmanager's integrations -> the alerts they carry (pure functions, no I/O).

Who was notified comes from the path; this module only reads *what* was said, trying the
ways in turn, richest first: Alertmanager's webhook JSON; a BEGIN/END JSON block (the
reference example's templates write one); the default templates' text alert list
("Labels: - alertname = X", under "Alerts Firing:"/"Alerts Resolved:"); an alert name in a
known field (PagerDuty's and Opsgenie's details); a ``[FIRING:n] name`` / ``[RESOLVED] name``
title. What none of them finds stays "" (unknown), and an arrival always yields one alert.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs

BEGIN = "-----BEGIN ALERTS JSON-----"
END = "-----END ALERTS JSON-----"
_GO_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_TITLE = re.compile(r"\[(FIRING|RESOLVED)[^\]]*\][ \t]*([^\s(]+)?", re.IGNORECASE)
_SECTION = re.compile(r"^\s*Alerts (Firing|Resolved):\s*$", re.IGNORECASE)
_PAIR = re.compile(r"^\s*- (\S+) = (.*)$")
# Where the reference example's templates put the alerts as JSON (outside a BEGIN/END block).
EMBEDDED_JSON: dict[str, tuple[tuple[str, ...], ...]] = {
    "pagerduty": (("payload", "custom_details", "alerts_json"),),
}
# Where an integration's default payload names the alert (key paths into the JSON body).
ALERTNAME_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "pagerduty": (("payload", "custom_details", "alertname"),),
    "opsgenie": (("details", "alertname"),),
}
# Where the default payload keeps each status's text alert list.
STATUS_FIELDS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "pagerduty": (
        (("payload", "custom_details", "firing"), "firing"),
        (("payload", "custom_details", "resolved"), "resolved"),
    ),
}


@dataclass(frozen=True)
class ParsedAlert:
    status: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def decode(content_type: str, body: bytes) -> object:
    """The body as JSON, as a form (Slack's ``payload=`` JSON inside), else as text."""
    text = body.decode("utf-8", "replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        if "payload" in form:
            inner = _json(form["payload"])
            return inner if inner is not None else form
        return form
    found = _json(text)
    return found if found is not None else text


def alerts_of(kind: str, payload: object, status: str = "") -> list[ParsedAlert]:
    """The alerts ``payload`` carries; ``status`` (from the path or an event field) fills in
    where the payload's own words do not say."""
    found = (
        _webhook(payload)
        or _first(_from_json(str(dig(payload, p))) for p in EMBEDDED_JSON.get(kind, ()))
        or _first(_from_block(text) for text in _strings(payload))
        or _listed(kind, payload)
        or _titled(kind, payload)
    )
    return [replace(a, status=a.status or status) for a in found]


def email_text(message: EmailMessage) -> str:
    """Subject and body text, for :func:`alerts_of` (the HTML part when there is no plain one)."""
    part = message.get_body(preferencelist=("plain", "html"))
    text = part.get_content() if isinstance(part, EmailMessage) else ""
    return f"{message.get('Subject', '')}\n{text}"


def dig(data: object, path: tuple[str, ...]) -> object:
    """``data[path[0]][path[1]]...``, or None where a step is missing."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _webhook(payload: object) -> list[ParsedAlert]:
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return []
    group = str(payload.get("status", ""))
    return [
        ParsedAlert(str(a.get("status") or group), _str_map(a.get("labels")),
                    _str_map(a.get("annotations")))
        for a in payload["alerts"]
        if isinstance(a, dict)
    ]  # fmt: skip


def _listed(kind: str, payload: object) -> list[ParsedAlert]:
    """The default templates' text alert lists, each alert under its section's status."""
    fields = STATUS_FIELDS.get(kind, ())
    listed = [a for path, status in fields for a in _text_list(dig(payload, path), status)]
    return listed or _first(_text_list(text, "") for text in _strings(payload))


def _text_list(text: object, status: str) -> list[ParsedAlert]:
    """``Labels:\\n - k = v\\nAnnotations:\\n - k = v`` blocks (``__text_alert_list``)."""
    if not isinstance(text, str):
        return []
    alerts: list[ParsedAlert] = []
    into: dict[str, str] | None = None
    for line in text.splitlines():
        section, pair = _SECTION.match(line), _PAIR.match(line)
        if section:
            status, into = section[1].lower(), None
        elif line.strip() == "Labels:":
            alerts.append(ParsedAlert(status))
            into = alerts[-1].labels
        elif line.strip() == "Annotations:" and alerts:
            into = alerts[-1].annotations
        elif pair and into is not None:
            into[pair[1]] = pair[2]
        else:
            into = None
    return [a for a in alerts if a.labels]


def _titled(kind: str, payload: object) -> list[ParsedAlert]:
    """One alert: status and name from a ``[FIRING:n] name`` title, or a known field."""
    named = [dig(payload, path) for path in ALERTNAME_FIELDS.get(kind, ())]
    name = next((str(n) for n in named if isinstance(n, str) and n), "")
    title = next((m for text in _strings(payload) for m in [_TITLE.search(text)] if m), None)
    status = title[1].lower() if title else ""
    name = name or (title[2] if title and title[2] else "")
    return [ParsedAlert(status, {"alertname": name} if name else {})]


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _first(candidates: Iterator[list[ParsedAlert]]) -> list[ParsedAlert]:
    return next((found for found in candidates if found), [])


def _from_block(text: str) -> list[ParsedAlert]:
    start = text.find(BEGIN)
    end = text.find(END, start + len(BEGIN))
    return _from_json(text[start + len(BEGIN) : end]) if 0 <= start < end else []


def _from_json(text: str) -> list[ParsedAlert]:
    """The alerts in the templates' JSON; Go's %q output is JSON except for rare escapes."""
    data = _json(text)
    if data is None:
        try:
            data = _json(_GO_STRING.sub(lambda m: json.dumps(ast.literal_eval(m[0])), text))
        except (ValueError, SyntaxError):
            return []
    if not isinstance(data, dict):
        return []
    return [
        ParsedAlert(str(a.get("status", "")), _str_map(a.get("labels")),
                    _str_map(a.get("annotations")))
        for a in data.get("alerts") or []
        if isinstance(a, dict)
    ]  # fmt: skip


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}
