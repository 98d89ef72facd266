"""Reading the YAML files users edit (SLO specs, load profiles, rule files, Alertmanager
configs) with one kind of error: one line, ``<source>: line N: not valid YAML: <problem>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from synthmon.errors import ConfigError


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of ``path``; ConfigError naming the file when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_yaml(text: str, source: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """The document in ``text`` (a safe loader: no arbitrary objects); ConfigError otherwise."""
    try:
        return yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f": line {mark.line + 1}" if mark is not None else ""
        column = f" (column {mark.column + 1})" if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise ConfigError(f"{source}{at}: not valid YAML: {problem}{column}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, LookupError, AttributeError) as exc:  # PyYAML constructors
        raise ConfigError(f"{source}: not valid YAML: {exc} (a bad date or !!tag?)") from None
