"""Alertmanager's label matchers, parsed as Alertmanager parses them.

The classic parser is ``pkg/labels/parse.go`` (v0.25): ``{a="b",c=~"d"}`` or ``a=b``, with its
quoting and escapes. Alertmanager 0.27+ (``matcher/compat``, default "fallback" mode) keeps the
classic answer when the classic parser accepts a line and only otherwise takes the UTF-8
parser's (``matcher/parse``: quoted label names such as ``"service name"="x"``), so
:func:`parse_matchers` does the same. A regex is fully anchored (``^(?:re)$``); a label the
alert lacks has the value "" (so ``x!="a"`` matches an alert without ``x``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from synthmon.errors import ConfigError

Op = Literal["=", "!=", "=~", "!~"]
_WS = "[\t\n\f\r ]"  # Go's \s
_CLASSIC = re.compile(
    rf"^{_WS}*([a-zA-Z_:][a-zA-Z0-9_:]*){_WS}*(=~|=|!=|!~){_WS}*((?s:.*?)){_WS}*\Z"
)
_RESERVED = set("{}!=~,\\\"'`")
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_GO_ESCAPES |= {"\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class Matcher:
    """One ``name op "value"``; ``matches`` reads a missing label as ""."""

    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def new(cls, name: str, op: Op, value: str) -> Matcher:
        """A matcher with its regex compiled (``labels.NewMatcher``); ValueError if bad."""
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(f"(?:{_go_regex(value)})")
            except re.error as exc:
                raise ValueError(f"{name}{op}{value!r}: not a regular expression: {exc}") from None
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self._regex is None:
            return (actual == self.value) == (self.op == "=")
        return (self._regex.fullmatch(actual) is not None) == (self.op == "=~")

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Every matcher matches ``labels`` (no matchers: true, as for the root route)."""
    return all(m.matches(labels) for m in matchers)


_LEADING_FLAGS = re.compile(r"^\(\?([imsU]+)\)")


def _go_regex(value: str) -> str:
    """RE2 syntax Python spells differently: leading flags (``(?i)x``) scope to the rest, as
    in Go (Python wants global flags first), and ``\\z`` is Python's ``\\Z``."""
    value = value.replace(r"\z", r"\Z")
    flags = _LEADING_FLAGS.match(value)
    if flags is not None and "U" not in flags.group(1):
        value = f"(?{flags.group(1)}:{value[flags.end() :]})"
    return value


# -- the classic parser (pkg/labels/parse.go) -------------------------------------------------


def _classic_tokens(text: str) -> list[str]:
    text = text.removeprefix("{").removesuffix("}")
    inside, escaped, token, tokens = False, False, "", []
    for char in text:
        if char == "," and not inside:
            tokens.append(token)
            token = ""
            continue
        if char == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif char == "\\":
            escaped = not escaped
        elif char != ",":
            escaped = False
        token += char
    if token.strip():
        tokens.append(token.strip())
    return tokens


def parse_classic_matcher(text: str) -> Matcher:
    """``labels.ParseMatcher``: one ``name op value``; ValueError naming the problem."""
    found = _CLASSIC.match(text)
    if found is None:
        raise ValueError(f"bad matcher format: {text}")
    name, op, raw = found.group(1), found.group(2), found.group(3)
    quoted = raw.startswith('"')
    raw = raw.removeprefix('"')
    value, escaped = "", False
    for i, char in enumerate(raw):
        if escaped:
            escaped = False
            value += {"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char)
        elif char == "\\":
            if i < len(raw) - 1:
                escaped = True
            else:
                value += "\\"
        elif char == '"':
            if not quoted or i < len(raw) - 1:
                raise ValueError(f"matcher value contains unescaped double quote: {found.group(3)}")
            quoted = False
        else:
            value += char
    if quoted:
        raise ValueError(f"matcher value contains unescaped double quote: {found.group(3)}")
    return Matcher.new(name, op, value)  # type: ignore[arg-type]  # the regex's alternatives


def parse_classic(text: str) -> list[Matcher]:
    """``labels.ParseMatchers``: the matchers of one line."""
    return [parse_classic_matcher(token) for token in _classic_tokens(text)]


# -- the UTF-8 parser (matcher/parse, 0.27+) ----------------------------------------------------


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, text): ``{ } , op quoted unquoted``."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{},":
            tokens.append((char, char))
            i += 1
        elif char in "=!":
            op = next((o for o in ("=~", "!=", "!~", "=") if text.startswith(o, i)), None)
            if op is None:
                raise ValueError(f"{i}: expected one of '=~' after '!'")
            tokens.append(("op", op))
            i += len(op)
        elif char == '"':
            end, escaped = i + 1, False
            while end < len(text) and (escaped or text[end] != '"'):
                escaped = not escaped and text[end] == "\\"
                end += 1
            if end >= len(text):
                raise ValueError(f'{i}: unterminated quoted string: missing end "')
            tokens.append(("quoted", text[i : end + 1]))
            i = end + 1
        elif char.isspace():
            i += 1
        elif char not in _RESERVED:
            end = i
            while end < len(text) and not (text[end] in _RESERVED or text[end].isspace()):
                end += 1
            tokens.append(("unquoted", text[i:end]))
            i = end
        else:
            raise ValueError(f"{i}: {char}: invalid input")
    return tokens


def _unquote(kind: str, text: str) -> str:
    """Go's ``strconv.Unquote`` for a quoted token (the common escapes); unquoted as is."""
    if kind == "unquoted":
        return text
    body, out, i = text[1:-1], "", 0
    while i < len(body):
        if body[i] != "\\":
            out += body[i]
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _GO_ESCAPES:
            out, i = out + _GO_ESCAPES[nxt], i + 2
        elif nxt in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[nxt]
            out, i = out + chr(int(body[i + 2 : i + 2 + size], 16)), i + 2 + size
        else:
            raise ValueError(f"{text}: invalid input")
    return out


def parse_utf8(text: str) -> list[Matcher]:
    """``matcher/parse.Matchers``: optional braces, names and values quoted or not."""
    tokens = _lex(text)
    if tokens and tokens[0][0] == "{":
        if tokens[-1][0] != "}":
            raise ValueError(f"{text}: missing closing '}}'")
        tokens = tokens[1:-1]
    elif tokens and tokens[-1][0] == "}":
        raise ValueError(f"{text}: missing opening '{{'")
    found: list[Matcher] = []
    i = 0
    while i < len(tokens):
        part = tokens[i : i + 3]
        kinds = [k for k, _ in part]
        if len(part) < 3 or kinds[0] not in ("quoted", "unquoted") or kinds[1] != "op":
            raise ValueError(f"{text}: expected name, operator and value")
        if kinds[2] not in ("quoted", "unquoted"):
            raise ValueError(f"{text}: expected a label value after {part[1][1]}")
        name = _unquote(*part[0])
        found.append(Matcher.new(name, part[1][1], _unquote(*part[2])))  # type: ignore[arg-type]
        i += 3
        if i < len(tokens):
            if tokens[i][0] != ",":
                raise ValueError(f"{text}: expected a comma or a closing '}}'")
            i += 1
    return found


ParserMode = Literal["fallback", "classic", "utf8"]


def parse_matchers(text: str, mode: ParserMode = "fallback") -> list[Matcher]:
    """The matchers of one ``matchers:`` line; ValueError with the parser's reason.

    ``fallback`` (the default of 0.27+): the classic answer when the classic parser takes the
    line, else the UTF-8 parser's; ``classic``: 0.25 and older (and ``classic-mode``).
    """
    if mode == "utf8":
        return parse_utf8(text)
    try:
        return parse_classic(text)
    except ValueError:
        if mode == "classic":
            raise
        try:
            return parse_utf8(text)
        except ValueError:
            pass
        raise


def config_matchers(
    node: Mapping[str, Any], where: str, prefix: str = "", mode: ParserMode = "fallback"
) -> tuple[Matcher, ...]:
    """The matchers of a route (``match``, ``match_re``, ``matchers``) or, with ``prefix``
    ``source_``/``target_``, of one side of an inhibit rule; ConfigError naming the key."""
    found: list[Matcher] = []
    for key, op in ((f"{prefix}match", "="), (f"{prefix}match_re", "=~")):
        table = node.get(key) or {}
        if not isinstance(table, dict):
            raise ConfigError(f"{where}.{key}: expected a mapping of label: value")
        for name, value in table.items():
            try:
                found.append(Matcher.new(str(name), op, str(value)))  # type: ignore[arg-type]
            except ValueError as exc:
                raise ConfigError(f"{where}.{key}: {exc}") from None
    key = f"{prefix}matchers"
    lines = node.get(key) or []
    if not isinstance(lines, list):
        raise ConfigError(f"{where}.{key}: expected a list of matchers (e.g. ['a=\"b\"'])")
    for n, line in enumerate(lines):
        try:
            found += parse_matchers(str(line), mode)
        except ValueError as exc:
            raise ConfigError(f"{where}.{key}[{n}]: {line!r}: {exc}") from None
    return tuple(found)
