"""PostgreSQL access: an async pool that never blocks startup and heals after outages."""

from __future__ import annotations

import asyncio
import logging
import select
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection, OperationalError, errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.bounded import bounded

log = logging.getLogger("app.db")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id serial PRIMARY KEY,
    title text NOT NULL,
    completed boolean NOT NULL DEFAULT false,
    created_at timestamptz DEFAULT now(),
    completed_at timestamptz
)
"""
_COLUMNS = "id, title, completed, created_at, completed_at"
# The self-join reads the row as it was before this UPDATE (RETURNING sees only the new one).
_COMPLETE = f"""
    UPDATE tasks t SET completed = true, completed_at = coalesce(t.completed_at, now())
    FROM (SELECT id, completed FROM tasks WHERE id = %s FOR UPDATE) old
    WHERE t.id = old.id
    RETURNING {", ".join(f"t.{c}" for c in _COLUMNS.split(", "))}, NOT old.completed AS changed
"""
LIST_LIMIT = 100
QUERY_TIMEOUT = 2.0
POOL_TIMEOUT = 1.0

Row = dict[str, Any]


def to_json(row: Row) -> Row:
    """Row -> JSON-ready dict (timestamps as ISO 8601 UTC with Z)."""
    out = dict(row)
    for key in ("created_at", "completed_at"):
        value = out.get(key)
        if isinstance(value, datetime):
            out[key] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return out


class Database:
    """Task storage. Every call is bounded, so a down or paused server means a fast error."""

    def __init__(self, conninfo: str) -> None:
        # reconnect_timeout is short on purpose: psycopg's backoff doubles without a cap, and a
        # given-up slot is re-grown on the next getconn, so the prober drives ~1 s reconnects.
        self.pool: AsyncConnectionPool[AsyncConnection[Row]] = AsyncConnectionPool(
            conninfo,
            min_size=2,
            max_size=10,
            open=False,
            timeout=POOL_TIMEOUT,
            reconnect_timeout=2.0,
            max_idle=60.0,
            check=self._check_idle,
            kwargs={
                "autocommit": True,
                "connect_timeout": 2,
                "row_factory": dict_row,
                "application_name": "claude-manager",
            },
            name="app",
        )
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()
        self._sweep: asyncio.Task[None] | None = None

    async def _check_idle(self, conn: AsyncConnection[Row]) -> None:
        """Reject a pooled connection the server has closed, without a round trip.

        An idle autocommit connection has nothing to read unless the server said goodbye
        (restart, crash, termination): then the socket is readable. A SELECT-per-checkout
        check would halve write throughput for the same protection.
        """
        if conn.closed or conn.broken:
            raise OperationalError("connection is closed")
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
        if readable:
            await conn.close()
            if self._sweep is None or self._sweep.done():
                # Its siblings are most likely stale too: check them all in the background.
                self._sweep = asyncio.create_task(self.pool.check())
            raise OperationalError("server closed the idle connection")

    async def open(self) -> None:
        """Start connecting in the background; a down database must not stop the app booting."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        """Close the pool, giving in-flight queries a moment."""
        await self.pool.close(timeout=2.0)

    async def ping(self, timeout: float) -> None:
        """SELECT 1 within `timeout`; also creates the schema once the server is reachable."""
        await bounded(self._ping(), timeout)

    async def _ping(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("SELECT 1")
        if not self._schema_ready:
            await self.ensure_schema()

    async def ensure_schema(self) -> None:
        """CREATE TABLE IF NOT EXISTS once per process (again if the table disappears)."""
        async with self._schema_lock:
            if self._schema_ready:
                return
            async with self.pool.connection() as conn:
                await conn.execute(SCHEMA)
            self._schema_ready = True
            log.info("schema ready")

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Row]:
        if not self._schema_ready:
            await self.ensure_schema()
        try:
            return await self._query(sql, params)
        except errors.UndefinedTable:
            # The database was recreated underneath us: rebuild the schema and retry once.
            self._schema_ready = False
            await self.ensure_schema()
            return await self._query(sql, params)

    async def _query(self, sql: str, params: tuple[Any, ...]) -> list[Row]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall() if cur.description else []

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """Run one statement (autocommit) within QUERY_TIMEOUT and return its rows."""
        return await bounded(self._fetch(sql, params), QUERY_TIMEOUT)

    async def list_tasks(self) -> list[Row]:
        """The most recent tasks, newest first (bounded so the list stays cheap under load)."""
        sql = f"SELECT {_COLUMNS} FROM tasks ORDER BY id DESC LIMIT %s"
        return [to_json(r) for r in await self.fetch(sql, (LIST_LIMIT,))]

    async def create_task(self, title: str) -> Row:
        """Insert a task and return it."""
        rows = await self.fetch(
            f"INSERT INTO tasks (title) VALUES (%s) RETURNING {_COLUMNS}", (title,)
        )
        return to_json(rows[0])

    async def get_task(self, task_id: int) -> Row | None:
        """One task, or None."""
        rows = await self.fetch(f"SELECT {_COLUMNS} FROM tasks WHERE id = %s", (task_id,))
        return to_json(rows[0]) if rows else None

    async def complete_task(self, task_id: int) -> tuple[Row | None, bool]:
        """Mark done; returns (task or None, whether this call changed it) in one round trip."""
        rows = await self.fetch(_COMPLETE, (task_id,))
        if not rows:
            return None, False
        row = dict(rows[0])
        changed = bool(row.pop("changed"))
        return to_json(row), changed
