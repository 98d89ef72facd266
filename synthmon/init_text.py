"""The starter synthmon.yaml as data, and its YAML text with a comment on every value.

Comments are the point of ``synthmon init``'s output (``# guessed: ...`` on each guess,
``# TODO`` where it could not infer), so the text is written here from small nodes rather than
by a YAML library; tests read it back with ``yaml.safe_load``.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

WIDTH = 100
PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@-]*")


@dataclass(frozen=True)
class Value:
    """A key's value and where it came from; ``guessed``: a heuristic, not a fact."""

    value: Any  # a scalar or a list of scalars
    why: str
    guessed: bool = False


@dataclass(frozen=True)
class Todo:
    """A key init could not infer (a ``# TODO`` line, and a warning)."""

    problem: str


@dataclass(frozen=True)
class Note:
    """A comment only: what is left out and why, or a commented-out stub."""

    text: str
    wrap: bool = True


@dataclass
class Block:
    """A mapping: its keys in order (a Note's key is not written)."""

    items: list[tuple[str, Node]] = field(default_factory=list)
    why: str = ""

    def add(self, key: str, node: Node) -> Block:
        self.items.append((key, node))
        return self


Node = Value | Todo | Note | Block


def scalar(value: Any) -> str:
    """``value`` as a YAML scalar: plain when it reads back as itself, else JSON-quoted."""
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    text = str(value)
    if PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)


def flow(value: Any) -> str:
    """A scalar, or a list in flow style (``[a, b]``)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    return scalar(value)


def _comment(text: str) -> str:
    return " ".join(text.split())


def _wrap(text: str, width: int) -> list[str]:
    """Comment lines; a path is never broken (at a hyphen or inside)."""
    return textwrap.wrap(_comment(text), width, break_on_hyphens=False, break_long_words=False)


def _value(pad: str, key: str, node: Value) -> Iterator[str]:
    """``key: value  # mark: why``; a why too long for the line goes on comment lines above."""
    mark = "guessed" if node.guessed else "from"
    line = f"{pad}{scalar(key)}: {flow(node.value)}"
    why = _comment(node.why)
    if len(line) + len(mark) + len(why) + 6 <= WIDTH:
        yield f"{line}  # {mark}: {why}"
        return
    width = max(WIDTH - len(pad) - 2, 40)
    yield from (f"{pad}# {t}" for t in _wrap(f"{mark}: {why}", width))
    yield f"{line}  # {mark}"


def lines(block: Block, indent: int = 0, prefix: str = "") -> Iterator[str]:
    """The YAML lines of ``block`` (top-level blocks are set apart by a blank line)."""
    pad = "  " * indent
    after_block = False
    for i, (key, node) in enumerate(block.items):
        path = prefix + key
        if indent == 0 and i and (after_block or isinstance(node, Block | Note)):
            yield ""
        after_block = isinstance(node, Block)
        if isinstance(node, Note):
            texts = node.text.splitlines()
            if node.wrap:
                texts = _wrap(node.text, WIDTH - len(pad) - 2)
            yield from (f"{pad}# {t}".rstrip() for t in texts)
        elif isinstance(node, Todo):
            yield f"{pad}# TODO {path}: could not infer: {_comment(node.problem)}"
        elif isinstance(node, Value):
            yield from _value(pad, key, node)
        else:
            yield f"{pad}{scalar(key)}:" + (f"  # {_comment(node.why)}" if node.why else "")
            yield from lines(node, indent + 1, path + ".")


def todos(block: Block, prefix: str = "") -> Iterator[str]:
    """``KEY: could not infer: WHY`` for every Todo of ``block``."""
    for key, node in block.items:
        if isinstance(node, Todo):
            yield f"{prefix}{key}: could not infer: {_comment(node.problem)}"
        elif isinstance(node, Block):
            yield from todos(node, f"{prefix}{key}.")
