"""Payloads of Alertmanager's integrations -> the alerts they carry (pure functions, no I/O).

The project's Alertmanager templates embed the group's alerts as JSON: PagerDuty in
``details.alerts_json``, Slack and email between BEGIN/END marker lines. The webhook payload
is Alertmanager's own JSON. Anything else still yields one alert, guessed from the title, so
an arrival is never dropped silently.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

BEGIN = "-----BEGIN ALERTS JSON-----"
END = "-----END ALERTS JSON-----"
PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")
_GO_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_TITLE = re.compile(r"\[(FIRING|RESOLVED)[^\]]*\]\s*(\S+)?", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAlert:
    status: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    receiver: str = ""


def pagerduty_errors(body: object) -> list[str]:
    """Why PagerDuty's Events API v2 would answer 400 to ``body`` (empty: it would accept)."""
    if not isinstance(body, dict):
        return ["Event object is invalid: not a JSON object"]
    errors = []
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = body.get("event_action")
    if action not in PAGERDUTY_ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        for name in ("summary", "source"):
            if not str(payload.get(name) or "").strip():
                errors.append(f"'payload.{name}' is missing or blank")
        if payload.get("severity") not in PAGERDUTY_SEVERITIES:
            errors.append(
                "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
            )
    return errors


def pagerduty_alerts(body: Mapping[str, Any]) -> list[ParsedAlert]:
    payload = body.get("payload") or {}
    details = payload.get("custom_details") or {}
    status = "resolved" if body.get("event_action") == "resolve" else "firing"
    embedded = details.get("alerts_json")
    if isinstance(embedded, str):
        found = _from_json(embedded)
        if found:
            return found
    fallback = {"alertname": str(details["alertname"])} if details.get("alertname") else {}
    return [ParsedAlert(status, fallback)] if fallback else _guess(str(payload.get("summary")))


def slack_alerts(body: Mapping[str, Any]) -> list[ParsedAlert]:
    for text in _strings(body):
        found = _from_block(text)
        if found:
            return found
    titles = [str(a.get("title", "")) for a in body.get("attachments") or []]
    return _guess(" ".join([*titles, str(body.get("text", ""))]))


def webhook_alerts(body: Mapping[str, Any]) -> list[ParsedAlert]:
    receiver = str(body.get("receiver", ""))
    alerts = [
        ParsedAlert(
            str(a.get("status", body.get("status", "firing"))),
            _str_map(a.get("labels")),
            _str_map(a.get("annotations")),
            receiver,
        )
        for a in body.get("alerts") or []
        if isinstance(a, dict)
    ]
    return alerts or [ParsedAlert(str(body.get("status", "firing")), receiver=receiver)]


def email_alerts(message: EmailMessage) -> list[ParsedAlert]:
    part = message.get_body(preferencelist=("plain", "html"))
    text = part.get_content() if isinstance(part, EmailMessage) else ""
    return _from_block(str(text)) or _guess(str(message.get("Subject", "")))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _from_block(text: str) -> list[ParsedAlert]:
    start = text.find(BEGIN)
    end = text.find(END, start + len(BEGIN))
    return _from_json(text[start + len(BEGIN) : end]) if 0 <= start < end else []


def _from_json(text: str) -> list[ParsedAlert]:
    """The alerts in the templates' JSON; Go's %q output is JSON except for rare escapes."""
    try:
        data = json.loads(text)
    except ValueError:
        try:
            fixed = _GO_STRING.sub(lambda m: json.dumps(ast.literal_eval(m[0])), text)
            data = json.loads(fixed)
        except (ValueError, SyntaxError):
            return []
    if not isinstance(data, dict):
        return []
    receiver = str(data.get("receiver", ""))
    return [
        ParsedAlert(
            str(a.get("status", "")), _str_map(a.get("labels")), _str_map(a.get("annotations")),
            receiver,
        )
        for a in data.get("alerts") or []
        if isinstance(a, dict)
    ]  # fmt: skip


def _guess(title: str) -> list[ParsedAlert]:
    found = _TITLE.search(title)
    status = found[1].lower() if found else "firing"
    labels = {"alertname": found[2]} if found and found[2] else {}
    return [ParsedAlert(status, labels)]


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
