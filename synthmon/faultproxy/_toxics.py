"""The toxics: a table of their attributes, the validation of an API body, and what each does to
a chunk, with Toxiproxy's semantics (toxics/*.go there) so that one client drives both servers.

A toxic sees one chunk at a time and hands what it lets through to ``emit`` (the next toxic of
the chain, finally the socket). Waits end early when the chain changes (a removed toxic must
stop delaying at once), which is what :class:`Link.changed` announces.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

STREAMS = ("upstream", "downstream")  # upstream: client -> server; downstream: server -> client

# type -> attribute -> default; every attribute is a whole number >= 0 (ms, or KB/s for rate)
ATTRIBUTES: dict[str, dict[str, int]] = {
    "latency": {"latency": 0, "jitter": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "bandwidth": {"rate": 0},
}


class ApiError(Exception):
    """An answer of the API in Toxiproxy's shape: ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def bad_body(problem: str) -> ApiError:
    return ApiError(f"bad request body: {problem}", 400)


@dataclass
class Toxic:
    """One toxic as the API shows it; ``serial`` tells a re-added toxic from the removed one."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]
    serial: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def _attributes(kind: str, given: object, base: Mapping[str, int]) -> dict[str, int]:
    """``base`` updated by ``given``; unknown attributes are ignored, as Toxiproxy does."""
    if given is None:
        return dict(base)
    if not isinstance(given, dict):
        raise bad_body(f"attributes: expected an object, got {given!r}")
    merged = dict(base)
    for key, value in given.items():
        if key not in ATTRIBUTES[kind]:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise bad_body(f"attribute {key!r} of {kind}: expected a number >= 0, got {value!r}")
        merged[key] = int(value)
    return merged


def _toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise bad_body(f"toxicity: expected a number from 0 to 1, got {value!r}")
    return float(value)


def new_toxic(body: object) -> Toxic:
    """The toxic an API body describes (``POST /proxies/{name}/toxics``); ApiError 400 else."""
    if not isinstance(body, dict):
        raise bad_body(f"expected a JSON object, got {body!r}")
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise ApiError("stream was invalid, can be either upstream or downstream", 400)
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in ATTRIBUTES:
        raise ApiError("invalid toxic type", 400)
    name = body.get("name") or f"{kind}_{stream}"
    if not isinstance(name, str):
        raise bad_body(f"name: expected a string, got {name!r}")
    return Toxic(
        name=name,
        type=kind,
        stream=stream,
        toxicity=_toxicity(body.get("toxicity", 1.0)),
        attributes=_attributes(kind, body.get("attributes"), ATTRIBUTES[kind]),
    )


def update_toxic(toxic: Toxic, body: object) -> None:
    """``POST /proxies/{name}/toxics/{toxic}``: new attributes and toxicity (type stays)."""
    if not isinstance(body, dict):
        raise bad_body(f"expected a JSON object, got {body!r}")
    attributes = _attributes(toxic.type, body.get("attributes"), toxic.attributes)
    toxic.toxicity = _toxicity(body.get("toxicity", toxic.toxicity))
    toxic.attributes = attributes


Emit = Callable[[bytes], Awaitable[None]]


class Link(Protocol):
    """What a toxic may do to the connection a chunk travels on."""

    changed: asyncio.Event  # set (and replaced) whenever the chain of toxics changes

    def holds(self, toxic: Toxic) -> bool: ...  # still applied to this link?

    def close(self) -> None: ...

    def reset(self) -> None: ...

    def pace(self) -> PaceState: ...


@dataclass
class PaceState:
    """A bandwidth toxic's debt on one link: when the bytes released so far are paid for."""

    free_at: float = field(default_factory=time.monotonic)


async def wait_while_held(link: Link, toxic: Toxic, until: float) -> None:
    """Sleep until the monotonic time ``until``, or less if ``toxic`` leaves the link."""
    while link.holds(toxic):
        left = until - time.monotonic()
        if left <= 0:
            return
        changed = link.changed
        try:
            await asyncio.wait_for(changed.wait(), left)
        except TimeoutError:
            return


async def _latency(link: Link, toxic: Toxic, data: bytes, arrived: float, emit: Emit) -> None:
    delay: float = toxic.attributes["latency"]
    jitter = toxic.attributes["jitter"]
    if jitter > 0:
        delay += random.uniform(-jitter, jitter)
    await wait_while_held(link, toxic, arrived + max(delay, 0) / 1000)
    await emit(data)


async def _drop(link: Link, toxic: Toxic, data: bytes, arrived: float, emit: Emit) -> None:
    """timeout: the data is lost (the link's timer closes it, see :func:`on_apply`)."""


async def _reset(link: Link, toxic: Toxic, data: bytes, arrived: float, emit: Emit) -> None:
    """reset_peer: the first chunk through it starts the timer, then the peers get a RST."""
    await wait_while_held(link, toxic, arrived + toxic.attributes["timeout"] / 1000)
    if link.holds(toxic):
        link.reset()
    else:
        await emit(data)


async def _bandwidth(link: Link, toxic: Toxic, data: bytes, arrived: float, emit: Emit) -> None:
    """The bytes go out in slices of 100 ms' worth, each when the rate has paid for it."""
    rate = toxic.attributes["rate"] * 1000  # bytes per second (Toxiproxy's KB is 1000 bytes)
    if rate <= 0:
        await emit(data)
        return
    state, step = link.pace(), max(1, rate // 10)
    for start in range(0, len(data), step):
        piece = data[start : start + step]
        state.free_at = max(state.free_at, time.monotonic()) + len(piece) / rate
        await wait_while_held(link, toxic, state.free_at)
        await emit(piece)


BEHAVIOUR: dict[str, Callable[[Link, Toxic, bytes, float, Emit], Awaitable[None]]] = {
    "latency": _latency,
    "timeout": _drop,
    "reset_peer": _reset,
    "bandwidth": _bandwidth,
}


async def on_apply(link: Link, toxic: Toxic) -> None:
    """What a toxic does from the moment it holds a link, data or not: timeout's timer."""
    if toxic.type == "timeout" and toxic.attributes["timeout"] > 0:
        await wait_while_held(link, toxic, time.monotonic() + toxic.attributes["timeout"] / 1000)
        if link.holds(toxic):
            link.close()


async def through(link: Link, chain: list[Toxic], data: bytes, arrived: float, out: Emit) -> None:
    """``data`` through ``chain`` in order, then ``out``; a toxic no longer held is skipped."""
    if not chain:
        await out(data)
        return
    head, rest = chain[0], chain[1:]

    async def emit(piece: bytes) -> None:
        await through(link, rest, piece, arrived, out)

    if link.holds(head):
        await BEHAVIOUR[head.type](link, head, data, arrived, emit)
    else:
        await emit(data)
