"""The sinks process: HTTP (PagerDuty, Slack, webhooks) and SMTP in one asyncio loop.

Alertmanager's real integrations post here, so a test proves the whole path: routing,
templates, secrets files, retries, the wire formats. Each arrival is kept in memory and
logged as one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import html
import itertools
import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any, TextIO
from urllib.parse import parse_qs

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from synthmon.sinks._model import Kind, Notification
from synthmon.sinks._parse import (
    ParsedAlert,
    email_alerts,
    pagerduty_alerts,
    pagerduty_errors,
    slack_alerts,
    webhook_alerts,
)


class Store:
    """Every arrival, in order; a lock because handlers and readers may run on other threads."""

    def __init__(self, log: TextIO) -> None:
        self._lock = threading.Lock()
        self._items: list[Notification] = []
        self._ids = itertools.count(1)
        self._arrivals = itertools.count(1)
        self._log = log

    def add(self, kind: Kind, channel: str, alerts: list[ParsedAlert], raw: Any) -> None:
        now = time.time()
        with self._lock:
            arrival = next(self._arrivals)
            for alert in alerts:
                self._items.append(
                    Notification(
                        id=next(self._ids), arrival_id=arrival, time=now, kind=kind,
                        channel=channel, receiver=alert.receiver, status=alert.status,
                        alertname=alert.labels.get("alertname", ""), labels=alert.labels,
                        annotations=alert.annotations, raw=raw,
                    )
                )  # fmt: skip
            self.log(
                event="notification", arrival_id=arrival, kind=kind, channel=channel,
                alerts=[[a.status, a.labels.get("alertname", "")] for a in alerts],
            )  # fmt: skip

    def snapshot(self, since: float | None = None) -> list[Notification]:
        with self._lock:
            return [n for n in self._items if since is None or n.time >= since]

    def clear(self) -> int:
        with self._lock:
            count, self._items = len(self._items), []
            return count

    def log(self, **fields: Any) -> None:
        """One JSON object per line; callers may hold the lock (it is not re-taken here)."""
        self._log.write(json.dumps({"ts": time.time(), **fields}) + "\n")
        self._log.flush()


def build_app(store: Store, smtp_port: int) -> Starlette:
    """The HTTP side: the three integrations plus the read/clear API."""

    async def pagerduty(request: Request) -> Response:
        body = await _json(request)
        errors = pagerduty_errors(body)
        if errors or not isinstance(body, dict):
            store.log(event="rejected", kind="pagerduty", errors=errors)
            return JSONResponse(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status_code=400,
            )
        dedup_key = str(body.get("dedup_key") or uuid.uuid4().hex)
        store.add("pagerduty", str(body["routing_key"]), pagerduty_alerts(body), body)
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
            status_code=202,
        )

    async def slack(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return PlainTextResponse("invalid_payload", status_code=400)
        if not (body.get("text") or body.get("attachments") or body.get("blocks")):
            return PlainTextResponse("no_text", status_code=400)
        store.add("slack", request.path_params["channel"], slack_alerts(body), body)
        return PlainTextResponse("ok")

    async def webhook(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return PlainTextResponse("body must be a JSON object", status_code=400)
        store.add("webhook", request.path_params["name"], webhook_alerts(body), body)
        return PlainTextResponse("ok")

    async def notifications(request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"cleared": store.clear()})
        since = request.query_params.get("since")
        try:
            items = store.snapshot(float(since) if since else None)
        except ValueError:
            return PlainTextResponse(f"since must be a Unix time, got {since!r}", 400)
        return JSONResponse([n.to_json() for n in items])

    async def inbox(request: Request) -> Response:
        return JSONResponse(inbox_json(store.snapshot()))

    async def inbox_page(request: Request) -> Response:
        return HTMLResponse(inbox_html(store.snapshot()))

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready", "smtp_port": smtp_port})

    return Starlette(
        routes=[
            Route("/pagerduty/v2/enqueue", pagerduty, methods=["POST"]),
            Route("/slack/{channel}", slack, methods=["POST"]),
            Route("/webhook/{name}", webhook, methods=["POST"]),
            Route("/notifications", notifications, methods=["GET", "DELETE"]),
            Route("/inbox", inbox, methods=["GET"]),
            Route("/inbox.html", inbox_page, methods=["GET"]),
            Route("/-/ready", ready, methods=["GET"]),
            Route("/-/healthy", ready, methods=["GET"]),
        ]
    )


def inbox_json(items: list[Notification]) -> dict[str, Any]:
    """What each receiver integration got, newest first: one entry per (receiver, kind,
    channel), in the order each was first reached; raw payloads left out (``/notifications``
    has them)."""
    groups: dict[tuple[str, str, str], list[Notification]] = {}
    for item in items:
        groups.setdefault((item.receiver, item.kind, item.channel), []).append(item)
    return {
        "total": len(items),
        "inbox": [
            {
                "receiver": receiver,
                "kind": kind,
                "channel": channel,
                "count": len(got),
                "firing": sum(n.status == "firing" for n in got),
                "resolved": sum(n.status == "resolved" for n in got),
                "notifications": [
                    {k: v for k, v in n.to_json().items() if k != "raw"} for n in reversed(got)
                ],
            }
            for (receiver, kind, channel), got in groups.items()
        ],
    }


def inbox_html(items: list[Notification]) -> str:
    """The inbox as a plain HTML page (no scripts); every value escaped."""
    doc = inbox_json(items)
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>synthmon sinks: inbox</title>',
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;"
        "vertical-align:top}.firing{color:#b00}.resolved{color:#070}</style></head><body>",
        f"<h1>synthmon sinks: inbox</h1><p>{doc['total']} notification(s); JSON: "
        '<a href="inbox">/inbox</a>, every payload: <a href="notifications">/notifications</a>'
        "</p>",
    ]
    if not doc["inbox"]:
        parts.append("<p>Nothing received yet.</p>")
    for group in doc["inbox"]:
        parts.append(
            f"<h2>{esc(group['receiver'] or '(receiver not in payload)')}: "
            f"{esc(group['kind'])} {esc(group['channel'])}</h2>"
            f"<p>{group['count']} ({group['firing']} firing, {group['resolved']} resolved)</p>"
            "<table><tr><th>time (UTC)</th><th>status</th><th>alert</th><th>labels</th>"
            "<th>annotations</th></tr>"
        )
        for n in group["notifications"]:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(n["time"]))
            labels = "<br>".join(f"{esc(k)}={esc(v)}" for k, v in sorted(n["labels"].items()))
            notes = "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in sorted(n["annotations"].items()))
            parts.append(
                f'<tr><td>{when}</td><td class="{esc(n["status"])}">{esc(n["status"])}</td>'
                f"<td>{esc(n['alertname'] or '?')}</td><td>{labels}</td><td>{notes}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


async def _json(request: Request) -> object:
    """The JSON body, also Slack's form-encoded ``payload=``; None when it is neither."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raw = "".join(parse_qs(raw.decode("utf-8", "replace")).get("payload", [])).encode()
    try:
        return json.loads(raw)
    except ValueError:
        return None


class _SmtpHandler:
    """aiosmtpd handler: every accepted message becomes email notifications."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""  # the bytes as received, before decoding
        message = email.message_from_bytes(content, policy=email.policy.default)
        ok = isinstance(message, EmailMessage)  # always, with policy.default; mypy can't tell
        alerts = email_alerts(message) if ok else [ParsedAlert("firing")]
        recipients = ",".join(str(r) for r in envelope.rcpt_tos)
        self.store.add("email", recipients, alerts, content.decode("utf-8", "replace"))
        return "250 Message accepted for delivery"


class _Server(uvicorn.Server):
    """uvicorn without its signal capture: we own SIGTERM so the SMTP side closes too."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(host: str, http_port: int, smtp_port: int, log: TextIO) -> None:
    """Run both servers until SIGTERM/SIGINT."""
    store = Store(log)
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SMTP(_SmtpHandler(store), hostname="synthmon-sinks", ident="synthmon sinks"),
        host,
        smtp_port,
    )
    config = uvicorn.Config(
        build_app(store, smtp_port), host=host, port=http_port, log_level="warning",
        access_log=False, lifespan="off",
    )  # fmt: skip
    server = _Server(config)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.handle_exit, sig, None)
    store.log(event="started", host=host, http_port=http_port, smtp_port=smtp_port)
    try:
        await server.serve()
    finally:
        smtp.close()
        await smtp.wait_closed()
        store.log(event="stopped")
