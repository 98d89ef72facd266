"""Deadlines that return on time even when the awaited I/O cannot be cancelled promptly.

`asyncio.wait_for` waits for the cancelled coroutine to finish cleaning up; psycopg's cleanup
sends a cancel request that can itself hang for seconds against a paused (SIGSTOP) server.
Here the caller gets its timeout on schedule and the straggler finishes in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")
_stragglers: set[asyncio.Future[Any]] = set()


async def bounded(coro: Awaitable[T], timeout: float) -> T:
    """Await `coro` for at most `timeout` seconds, then raise TimeoutError and abandon it."""
    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait((task,), timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        _park(task)
        raise
    if done:
        return task.result()
    task.cancel()
    _park(task)
    raise TimeoutError(f"gave up after {timeout:g}s")


def _park(task: asyncio.Future[Any]) -> None:
    """Keep a reference until the abandoned task ends, and swallow its outcome."""
    _stragglers.add(task)

    def _done(t: asyncio.Future[Any]) -> None:
        _stragglers.discard(t)
        if not t.cancelled():
            t.exception()

    task.add_done_callback(_done)
