"""The sinks' inbox: ``GET /inbox`` (JSON) and ``GET /inbox.html`` list what each destination
(receiver, integration, index) got, from the same store ``/notifications`` reads."""

from __future__ import annotations

import asyncio
import io

import httpx
from starlette.applications import Starlette

from synthmon.sinks._parse import ParsedAlert
from synthmon.sinks._server import build_app
from synthmon.sinks._store import Store

EVIL = '<script>alert("x")</script>'


class _Client:
    """Requests to the sinks' ASGI app, in-process."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def _send(self, method: str, path: str) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sinks") as c:
                return await c.request(method, path)

        return asyncio.run(send())

    def get(self, path: str) -> httpx.Response:
        return self._send("GET", path)

    def delete(self, path: str) -> httpx.Response:
        return self._send("DELETE", path)


def _client() -> tuple[Store, _Client]:
    store = Store(io.StringIO())
    return store, _Client(build_app(store, 2525))


def test_empty_inbox() -> None:
    _, client = _client()
    assert client.get("/inbox").json() == {"total": 0, "inbox": []}
    page = client.get("/inbox.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Nothing received yet" in page.text


def test_inbox_groups_by_destination_newest_first() -> None:
    store, client = _client()
    firing = ParsedAlert("firing", {"alertname": "A", "priority": "P1"}, {"summary": "s"})
    store.add("pagerduty", "", [firing], {"raw": 1}, receiver="pd", index=0)
    store.add("slack", "alerts", [ParsedAlert("firing", {"alertname": "A"})], {}, receiver="pd")
    store.add("pagerduty", "", [ParsedAlert("", {"alertname": "A"})], {}, receiver="pd", index=1)
    store.add("pagerduty", "", [ParsedAlert("resolved", {"alertname": "A"})], {}, receiver="pd")
    doc = client.get("/inbox").json()
    assert doc["total"] == 4
    assert [(g["receiver"], g["kind"], g["index"], g["count"]) for g in doc["inbox"]] == [
        ("pd", "pagerduty", 0, 2),
        ("pd", "slack", 0, 1),
        ("pd", "pagerduty", 1, 1),
    ]
    pd = doc["inbox"][0]
    assert (pd["firing"], pd["resolved"]) == (1, 1)
    assert doc["inbox"][1]["channels"] == ["alerts"]
    assert [n["status"] for n in pd["notifications"]] == ["resolved", "firing"]
    assert "raw" not in pd["notifications"][0]
    assert pd["notifications"][1]["labels"] == {"alertname": "A", "priority": "P1"}
    assert '<td class="?">?</td>' in client.get("/inbox.html").text  # unknown status shown
    # the same store as /notifications, so clearing empties the inbox too
    client.delete("/notifications")
    assert client.get("/inbox").json()["total"] == 0


def test_inbox_html_escapes_everything() -> None:
    store, client = _client()
    alert = ParsedAlert("firing", {"alertname": EVIL, EVIL: EVIL}, {"description": EVIL})
    store.add("slack", EVIL, [alert], {}, receiver=EVIL)
    page = client.get("/inbox.html").text
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 5  # receiver, channel, alert, label key/value, note
