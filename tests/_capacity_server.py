"""A server whose capacity is known: N concurrent slots x a fixed service time.

``python tests/_capacity_server.py PORT SLOTS SERVICE_MS``: every request to ``/work`` waits
for a free slot, holds it SERVICE_MS, and is counted in the reference app's metric names and
latency buckets (measured from arrival, queueing included). Capacity = SLOTS / SERVICE_MS;
above it the queue grows without bound and latency climbs. ``/metrics`` for Prometheus.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import uvicorn
from prometheus_client import Counter, Histogram, generate_latest

BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
REQUESTS = Counter("http_requests_total", "requests", ("method", "endpoint", "status"))
DURATION = Histogram(
    "http_request_duration_seconds", "duration", ("method", "endpoint"), buckets=BUCKETS
)


def make_app(slots: int, service_s: float) -> Any:
    gate = asyncio.Semaphore(slots)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        began = time.perf_counter()
        if scope["path"] == "/metrics":
            body, status = generate_latest(), 200
        elif scope["path"] == "/work":
            async with gate:
                await asyncio.sleep(service_s)
            body, status = b"ok", 200
            REQUESTS.labels("GET", "/work", "200").inc()
            DURATION.labels("GET", "/work").observe(time.perf_counter() - began)
        else:
            body, status = b"not found", 404
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    port, slots, service_ms = (int(a) for a in sys.argv[1:4])
    uvicorn.run(
        make_app(slots, service_ms / 1000),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
