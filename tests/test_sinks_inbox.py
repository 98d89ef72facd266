"""The sinks' inbox: ``GET /inbox`` (JSON) and ``GET /inbox.html`` list what each receiver
integration got, from the same store ``/notifications`` reads."""

from __future__ import annotations

import asyncio
import io

import httpx
from starlette.applications import Starlette

from synthmon.sinks._parse import ParsedAlert
from synthmon.sinks._server import Store, build_app

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


def test_inbox_groups_by_receiver_integration_newest_first() -> None:
    store, client = _client()
    firing = ParsedAlert("firing", {"alertname": "A", "priority": "P1"}, {"summary": "s"}, "pd")
    store.add("pagerduty", "k" * 32, [firing], {"raw": 1})
    store.add("slack", "#alerts", [ParsedAlert("firing", {"alertname": "A"}, {}, "slack-p1")], {})
    resolved = ParsedAlert("resolved", {"alertname": "A"}, {}, "pd")
    store.add("pagerduty", "k" * 32, [resolved], {})
    doc = client.get("/inbox").json()
    assert doc["total"] == 3
    assert [(g["receiver"], g["kind"], g["count"]) for g in doc["inbox"]] == [
        ("pd", "pagerduty", 2),
        ("slack-p1", "slack", 1),
    ]
    pd = doc["inbox"][0]
    assert (pd["firing"], pd["resolved"]) == (1, 1)
    assert [n["status"] for n in pd["notifications"]] == ["resolved", "firing"]
    assert "raw" not in pd["notifications"][0]
    assert pd["notifications"][1]["labels"] == {"alertname": "A", "priority": "P1"}
    # the same store as /notifications, so clearing empties the inbox too
    client.delete("/notifications")
    assert client.get("/inbox").json()["total"] == 0


def test_inbox_html_escapes_everything() -> None:
    store, client = _client()
    alert = ParsedAlert(
        "firing", {"alertname": EVIL, EVIL: EVIL}, {"description": EVIL}, receiver=EVIL
    )
    store.add("webhook", EVIL, [alert], {})
    page = client.get("/inbox.html").text
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 5  # receiver, channel, alert, label key/value, note
