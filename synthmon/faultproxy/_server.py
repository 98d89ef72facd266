"""Running the fault proxy: its API and proxies in one event loop, either as the program
(``python -m synthmon.faultproxy``) or in a thread of the caller (:func:`running`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from synthmon.errors import ConfigError, StackError
from synthmon.faultproxy._api import make_app, proxy_fields
from synthmon.faultproxy._proxy import Collection, split_address
from synthmon.faultproxy._toxics import ApiError


def bind(host: str, port: int) -> socket.socket:
    """The API's listening socket; ConfigError naming the address if it cannot be had."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"fault proxy API {host}:{port}: {exc.strerror or exc}") from None
    return sock


def read_config(path: Path) -> list[tuple[str, str, str, bool]]:
    """Toxiproxy's populate file (a list of name/listen/upstream/enabled); ConfigError else."""
    try:
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not a JSON document: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, list):
        raise ConfigError(f"{path}: expected a list of proxies (name, listen, upstream)")
    try:
        found = [proxy_fields(item, f" at proxy {i}") for i, item in enumerate(doc, 1)]
        for name, listen, upstream, _ in found:
            split_address(listen, f"listen of proxy {name!r}")
            split_address(upstream, f"upstream of proxy {name!r}")
        return found
    except ApiError as exc:
        raise ConfigError(f"{path}: {exc.message}") from None


async def serve(
    sock: socket.socket,
    config: Sequence[tuple[str, str, str, bool]] = (),
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the API on ``sock`` with the proxies of ``config`` until ``stop`` is set (or the
    process is interrupted); every proxy is closed on the way out."""
    proxies = Collection()
    try:
        for fields in config:
            await proxies.add_or_replace(*fields)
        server = uvicorn.Server(
            uvicorn.Config(make_app(proxies), log_config=None, access_log=False, lifespan="off")
        )
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        if stop is not None:
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            server.should_exit = True
            waiter.cancel()
        await task
    finally:
        await proxies.close()


@contextlib.contextmanager
def running(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """A fault proxy in a thread of this process, for as long as the block lasts: its API URL.

    Every proxy and connection it made is closed on exit, and the thread joined."""
    sock = bind(host, port)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failed: list[BaseException] = []

    def main() -> None:
        # the Runner cancels and awaits what is left (a connection's pumps) before closing
        with asyncio.Runner(loop_factory=lambda: loop) as runner:
            try:
                runner.run(serve(sock, stop=stop))
            except BaseException as exc:  # reported to the caller below
                failed.append(exc)

    thread = threading.Thread(target=main, name="faultproxy", daemon=True)
    thread.start()
    url = f"http://{host}:{sock.getsockname()[1]}"
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        sock.close()
        if thread.is_alive() or failed:
            raise StackError(
                f"fault proxy {url}: did not stop cleanly: {failed or 'still running'}"
            )
