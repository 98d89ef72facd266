"""The inbox: what each destination ``(receiver, integration, index)`` got, as JSON and HTML."""

from __future__ import annotations

import html
import time
from typing import Any

from synthmon.sinks._model import Notification


def inbox_json(items: list[Notification]) -> dict[str, Any]:
    """One entry a destination, in the order each was first reached, newest notification
    first; raw payloads left out (``/notifications`` has them)."""
    groups: dict[tuple[str, str, int], list[Notification]] = {}
    for item in items:
        groups.setdefault(item.destination, []).append(item)
    return {
        "total": len(items),
        "inbox": [
            {
                "receiver": receiver,
                "kind": kind,
                "index": index,
                "channels": sorted({n.channel for n in got if n.channel}),
                "count": len(got),
                "firing": sum(n.status == "firing" for n in got),
                "resolved": sum(n.status == "resolved" for n in got),
                "notifications": [
                    {k: v for k, v in n.to_json().items() if k != "raw"} for n in reversed(got)
                ],
            }
            for (receiver, kind, index), got in groups.items()
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
        ', every request: <a href="requests">/requests</a></p>',
    ]
    if not doc["inbox"]:
        parts.append("<p>Nothing received yet.</p>")
    for group in doc["inbox"]:
        channels = ", ".join(group["channels"])
        parts.append(
            f"<h2>{esc(group['receiver'] or '(receiver unknown)')}: "
            f"{esc(group['kind'])} #{group['index']} {esc(channels)}</h2>"
            f"<p>{group['count']} ({group['firing']} firing, {group['resolved']} resolved)</p>"
            "<table><tr><th>time (UTC)</th><th>status</th><th>alert</th><th>labels</th>"
            "<th>annotations</th></tr>"
        )
        for n in group["notifications"]:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(n["time"]))
            labels = "<br>".join(f"{esc(k)}={esc(v)}" for k, v in sorted(n["labels"].items()))
            notes = "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in sorted(n["annotations"].items()))
            status = n["status"] or "?"
            parts.append(
                f'<tr><td>{when}</td><td class="{esc(status)}">{esc(status)}</td>'
                f"<td>{esc(n['alertname'] or '?')}</td><td>{labels}</td><td>{notes}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
