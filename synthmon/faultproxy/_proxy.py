"""The TCP proxies: a listener per proxy, two pumps per connection, every chunk through the
toxics of its direction, and the collection the API edits (Toxiproxy's proxy.go and link.go).

Each direction of a connection is a :class:`_Pump`: a reader that stamps chunks as they arrive
and a writer that passes them through the chain, so a latency counts from arrival (chunks that
arrive together leave together) and order is kept. The chain is read afresh for every chunk,
so toxics added or removed apply to open connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import struct
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from synthmon.faultproxy._toxics import (
    ApiError,
    PaceState,
    Toxic,
    bad_body,
    on_apply,
    through,
)

log = logging.getLogger("synthmon.faultproxy")
CHUNK = 32 * 1024
QUEUED = 64  # chunks a pump holds before it stops reading (back-pressure)
_serials = itertools.count(1)


def split_address(text: object, key: str) -> tuple[str, int]:
    """``host:port`` (``[::]:port`` too) as (host, port); ApiError 400 naming ``key`` else."""
    if not isinstance(text, str) or ":" not in text:
        raise bad_body(f"{key}: expected host:port, got {text!r}")
    host, _, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise bad_body(f"{key}: expected host:port with a port 0-65535, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class _Pump:
    """One direction of a connection (the Link a toxic sees)."""

    def __init__(self, conn: Connection, stream: str, src: asyncio.StreamReader) -> None:
        self.conn, self.stream, self.src = conn, stream, src
        self.changed = asyncio.Event()
        self.applied: dict[int, bool] = {}  # toxic serial -> did the toxicity roll take it
        self.queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue(QUEUED)
        self._pace = PaceState()

    def holds(self, toxic: Toxic) -> bool:
        return self.applied.get(toxic.serial, False)

    def close(self) -> None:
        self.conn.close()

    def reset(self) -> None:
        self.conn.close(reset=True)

    def pace(self) -> PaceState:
        return self._pace

    def refresh(self, toxics: list[Toxic]) -> None:
        """Roll for new toxics (toxicity is per link), forget removed ones, wake the waits."""
        mine = {t.serial: t for t in toxics if t.stream == self.stream}
        gone = [s for s in self.applied if s not in mine]
        for serial in gone:
            del self.applied[serial]
        for serial, toxic in mine.items():
            if serial not in self.applied:
                self.applied[serial] = random.random() < toxic.toxicity
                if self.applied[serial]:
                    self.conn.spawn(on_apply(self, toxic))
        self.changed.set()
        self.changed = asyncio.Event()

    async def read(self) -> None:
        while data := await self.src.read(CHUNK):
            await self.queue.put((data, time.monotonic()))
        await self.queue.put(None)

    async def write(self, dst: asyncio.StreamWriter) -> None:
        async def out(data: bytes) -> None:
            dst.write(data)
            await dst.drain()

        while (item := await self.queue.get()) is not None:
            chain = [t for t in self.conn.proxy.toxics if t.stream == self.stream]
            if chain:
                await through(self, chain, item[0], item[1], out)
            else:
                await out(item[0])
        if dst.can_write_eof():
            dst.write_eof()


class Connection:
    """A client's connection and the proxy's to the upstream, with a pump each way."""

    def __init__(self, proxy: Proxy, client: _Pair, server: _Pair) -> None:
        self.proxy, self.client, self.server = proxy, client, server
        self.tasks: set[asyncio.Task[None]] = set()
        self.up = _Pump(self, "upstream", client[0])
        self.down = _Pump(self, "downstream", server[0])
        self.closed = False

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.close()  # a peer went away: the other one goes too
        elif not self.closed and not self.tasks:
            self.close()

    async def run(self) -> None:
        self.refresh(self.proxy.toxics)
        for work in (
            self.up.read(),
            self.up.write(self.server[1]),
            self.down.read(),
            self.down.write(self.client[1]),
        ):
            self.spawn(work)

    def refresh(self, toxics: list[Toxic], removed: Sequence[Toxic] = ()) -> None:
        """The chain changed; a removed timeout that held this connection closes it, as in
        Toxiproxy (the data it dropped is lost, so the stream cannot go on)."""
        if any(t.type == "timeout" and (self.up.holds(t) or self.down.holds(t)) for t in removed):
            self.close()
            return
        self.up.refresh(toxics)
        self.down.refresh(toxics)

    def close(self, reset: bool = False) -> None:
        """Close both sockets; ``reset``: with SO_LINGER 0, so that the peers get a TCP RST."""
        if self.closed:
            return
        self.closed = True
        self.proxy.connections.discard(self)
        for _, writer in (self.client, self.server):
            sock = writer.get_extra_info("socket")
            if reset and sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            else:
                writer.close()
        for task in list(self.tasks):
            if task is not asyncio.current_task():
                task.cancel()


_Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Proxy:
    """One proxy: listen address, upstream, enabled, its toxics and open connections."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        split_address(listen, "listen")
        split_address(upstream, "upstream")
        self.name, self.listen, self.upstream = name, listen, upstream
        self.toxics: list[Toxic] = []
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None

    @property
    def enabled(self) -> bool:
        return self._server is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.as_json() for t in self.toxics],
        }

    async def start(self) -> None:
        if self._server is not None:
            return
        host, port = split_address(self.listen, "listen")
        try:
            self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        except OSError as exc:
            raise ApiError(f"listen tcp {self.listen}: {exc.strerror or exc}", 500) from None
        bound = self._server.sockets[0].getsockname()
        self.listen = f"{host}:{bound[1]}" if ":" not in host else f"[{host}]:{bound[1]}"
        log.info("proxy %s listening on %s, upstream %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        """Down: the listener closed (new connections refused) and open ones closed."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.close()
        if server is not None:
            await server.wait_closed()
            log.info("proxy %s down", self.name)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = split_address(self.upstream, "upstream")
        try:
            upstream = await asyncio.open_connection(host, port)
        except OSError as exc:
            log.warning("proxy %s: upstream %s: %s", self.name, self.upstream, exc)
            writer.close()
            return
        for _, w in ((reader, writer), upstream):
            sock = w.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(self, (reader, writer), upstream)
        self.connections.add(conn)
        await conn.run()

    def _changed(self, removed: Sequence[Toxic] = ()) -> None:
        for conn in list(self.connections):
            conn.refresh(self.toxics, removed)

    def toxic(self, name: str) -> Toxic:
        for toxic in self.toxics:
            if toxic.name == name:
                return toxic
        raise ApiError("toxic not found", 404)

    def add_toxic(self, toxic: Toxic) -> None:
        if any(t.name == toxic.name for t in self.toxics):
            raise ApiError("toxic already exists", 409)
        toxic.serial = next(_serials)
        self.toxics.append(toxic)
        self._changed()
        log.info("proxy %s: toxic %s added %s", self.name, toxic.name, toxic.as_json())

    def renew_toxic(self, toxic: Toxic) -> None:
        """After an update: connections roll its toxicity again (as Toxiproxy restarts it)."""
        toxic.serial = next(_serials)
        self._changed()
        log.info("proxy %s: toxic %s updated %s", self.name, toxic.name, toxic.as_json())

    def remove_toxic(self, name: str) -> None:
        toxic = self.toxic(name)
        self.toxics.remove(toxic)
        self._changed([toxic])
        log.info("proxy %s: toxic %s removed", self.name, name)

    def remove_all_toxics(self) -> None:
        removed, self.toxics = self.toxics, []
        self._changed(removed)


class Collection:
    """The proxies by name, as the API sees them."""

    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError("proxy not found", 404) from None

    async def add(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        if name in self.proxies:
            raise ApiError("proxy already exists", 409)
        proxy = Proxy(name, listen, upstream)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def add_or_replace(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        """Populate: an existing proxy with the same addresses is kept (toxics and all)."""
        old = self.proxies.get(name)
        if old is not None:
            if old.upstream == upstream and _same_listen(old.listen, listen):
                return old
            await self.remove(name)
        return await self.add(name, listen, upstream, enabled)

    async def remove(self, name: str) -> None:
        proxy = self.get(name)
        del self.proxies[name]
        await proxy.stop()

    async def update(self, proxy: Proxy, body: dict[str, Any]) -> None:
        """Toxiproxy's update: new addresses restart the proxy; ``enabled`` takes it down/up."""
        listen = body.get("listen", proxy.listen)
        upstream = body.get("upstream", proxy.upstream)
        enabled = body.get("enabled", proxy.enabled)
        if not isinstance(enabled, bool):
            raise bad_body(f"enabled: expected true or false, got {enabled!r}")
        split_address(listen, "listen")
        split_address(upstream, "upstream")
        if upstream != proxy.upstream or not _same_listen(proxy.listen, listen):
            await proxy.stop()
            proxy.listen, proxy.upstream = listen, upstream
        if enabled:
            await proxy.start()
        else:
            await proxy.stop()

    async def reset(self) -> None:
        for proxy in self.proxies.values():
            await proxy.start()
            proxy.remove_all_toxics()

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()


def _same_listen(current: str, wanted: str) -> bool:
    """Port 0 asks for any port: the one bound then is the same listen address."""
    host, port = split_address(current, "listen")
    want_host, want_port = split_address(wanted, "listen")
    return host == want_host and want_port in (0, port)
