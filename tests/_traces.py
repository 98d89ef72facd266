"""Realistic traces of the reference app, shaped as the stock OpenTelemetry instrumentations make
them (ASGI/Starlette server span with its "http send" children, psycopg, redis, httpx client
spans), for the attribution tests: times in µs, delays where a fault would put them."""

from __future__ import annotations

import itertools

from synthmon.traces.model import Span, Trace

SERVICE = "manager-app"
T0 = 1_764_000_000_000_000  # µs since the epoch
_ids = itertools.count(1)


def _id() -> str:
    return f"{next(_ids):016x}"


class Builder:
    """One request: a server span, its children laid out one after another."""

    def __init__(self, endpoint: str, start_us: int = T0) -> None:
        self.endpoint, self.start, self.cursor = endpoint, start_us, start_us + 150
        self.root_id = _id()
        self.spans: list[Span] = []

    def child(
        self, name: str, duration_us: int, kind: str = "client", **attributes: object
    ) -> Builder:
        attrs = {k.replace("_", "."): v for k, v in attributes.items()}
        self.spans.append(
            Span(_id(), self.root_id, name, SERVICE, self.cursor, duration_us, kind, attrs)
        )
        self.cursor += duration_us + 40
        return self

    def postgres(self, duration_us: int = 900, statement: str = "SELECT") -> Builder:
        return self.child(statement, duration_us, db_system="postgresql", db_name="claude_manager")

    def redis(self, command: str, duration_us: int = 200) -> Builder:
        return self.child(command, duration_us, db_system="redis", db_redis_database_index=0)

    def github(self, duration_us: int = 1500) -> Builder:
        return self.child(
            "GET", duration_us, server_address="127.0.0.1", server_port=8081, http_method="GET"
        )

    def work(self, duration_us: int) -> Builder:
        """Time in the handler itself (CPU, a sleep): no span of its own."""
        self.cursor += duration_us
        return self

    def trace(self) -> Trace:
        for _ in range(2):  # ASGI's "http send" (response start, body)
            self.child(f"{self.endpoint} http send", 30, kind="internal")
        end = self.cursor + 100
        root = Span(
            self.root_id, None, self.endpoint, SERVICE, self.start, end - self.start, "server",
            {"http.route": self.endpoint.split(" ", 1)[1], "http.method": "GET"},
        )  # fmt: skip
        trace_id = f"{int(self.root_id, 16):032x}"
        return Trace(trace_id, (root, *self.spans))


TASK = "GET /api/tasks/{task_id}"
LIST = "GET /api/tasks"
REPO = "GET /api/repos/{owner}/{repo}"


def task(db_us: int = 900, work_us: int = 0, at: int = T0) -> Trace:
    """GET /api/tasks/1: one PostgreSQL round trip."""
    return Builder(TASK, at).work(work_us).postgres(db_us).trace()


def task_list(redis_us: int = 200, hit: bool = True, db_us: int = 1200, at: int = T0) -> Trace:
    """GET /api/tasks: Redis GET; on a miss the SELECT and a Redis SET."""
    built = Builder(LIST, at).redis("GET", redis_us)
    if not hit:
        built.postgres(db_us).redis("SET", redis_us)
    return built.trace()


def repo(github_us: int = 1500, at: int = T0) -> Trace:
    return Builder(REPO, at).github(github_us).trace()
