"""Reading the JSON synthmon takes in (SLO reports, Locust stats, dashboards, API bodies) with
one kind of error: one line, ``<source>: not a JSON <what>: <problem>``, as yamlfile does for
YAML; the text of a file is read by the same :func:`~synthmon.yamlfile.read_text`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthmon.errors import ConfigError, SynthmonError
from synthmon.yamlfile import read_text


def json_problem(exc: ValueError | RecursionError) -> str:
    """What is wrong with a document ``json.loads`` refused, on one line."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return " ".join(str(exc).split())


def parse_json(
    text: str,
    source: str,
    what: str = "document",
    error: Callable[[str], SynthmonError] | None = None,
) -> Any:
    """The document in ``text``; otherwise ConfigError ``<source>: not a JSON <what>: ...``, or
    what ``error`` makes of ``not a JSON <what>: ...`` (an API body: the HTTP error format)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        problem = f"not a JSON {what}: {json_problem(exc)}"
        raise (error(problem) if error else ConfigError(f"{source}: {problem}")) from None


def read_json(path: str | Path, what: str) -> Any:
    """The document in the file ``path``; one-line ConfigError naming the file and ``what``."""
    return parse_json(read_text(path, what), str(path), what)
