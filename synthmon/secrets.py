"""Credentials of an external stack: :class:`Secret` values, read only from env or files.

Also what a project file's ``environments:`` entry and ``${env:VAR}`` references resolve to
(:func:`apply_environment`, :func:`env_values`). A leaf (it imports nothing of synthmon but
errors) so that settings, clients and the redaction plugin can all use it without importing
each other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

from synthmon.errors import ConfigError

if TYPE_CHECKING:
    from synthmon.project import Environment, Project

ENV_REFERENCE = re.compile(r"\$?\{env:(\w+)\}")  # ${env:VAR} in the file, {env:VAR} once read
#: Environment fields taken as the options of the same name (values may hold ``${env:VAR}``).
ENVIRONMENT_OPTIONS = (
    "target_url", "prometheus_url", "alertmanager_url", "pushgateway_url", "basic_auth_user",
    "otel_url", "jaeger_url", "logs_url", "logs_api",
)  # fmt: skip
#: the URL settings an environment may give: a password in one is masked in every output (an
#: option's value is found by synthmon.redact itself; an environment's has no option to scan)
REDACTED_URLS = (
    "target_url", "prometheus_url", "alertmanager_url", "pushgateway_url",
    "otel_url", "jaeger_url", "logs_url",
)  # fmt: skip
#: Environment fields naming the variable that holds a credential → the option it fills.
ENVIRONMENT_SECRETS = {"bearer_token_env": "bearer_token",
                       "basic_auth_password_env": "basic_auth_password"}  # fmt: skip


class Secret:
    """A credential; ``value`` is read only where it goes into a header. repr/str show where
    it came from instead, so settings can be printed, logged and shown by ``pytest -l``.
    Not a dataclass on purpose: ``dataclasses.asdict(settings)`` must not unpack it."""

    __slots__ = ("source", "value")

    def __init__(self, value: str, source: str) -> None:
        self.value, self.source = value, source

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.value, self.source) == (
            other.value,
            other.source,
        )

    def __hash__(self) -> int:
        return hash((self.value, self.source))


def read_secret(
    raw: Mapping[str, str | None], sources: Mapping[str, str], name: str
) -> Secret | None:
    """``name`` (env only) or the contents of ``name_file``, not both; messages name the
    variable or the file, never the value."""
    direct, path = raw[name], raw[f"{name}_file"]
    if direct and path:
        raise ConfigError(f"give {sources[name]} or {sources[name + '_file']}, not both")
    if direct:
        return Secret(direct, sources[name])
    if not path:
        return None
    where = sources[f"{name}_file"]
    try:
        text = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read {path}: {reason or exc}") from None
    if not text.strip():
        raise ConfigError(f"{where}: {path} is empty (expected the secret on its first line)")
    return Secret(text, f"{where} {path}")


def _variable(reference: str) -> str:
    """``VAR`` of ``VAR`` or ``${env:VAR}``."""
    found = ENV_REFERENCE.fullmatch(reference.strip())
    return found.group(1) if found else reference.strip()


def _expand(text: str, where: str, environ: Mapping[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in environ:
            raise ConfigError(f"{where}: {match.group(0)}: ${match.group(1)} is not set")
        return environ[match.group(1)]

    return ENV_REFERENCE.sub(fill, text)


def apply_environment(
    project: Project | None,
    raw: MutableMapping[str, str | None],
    sources: MutableMapping[str, str],
    given: set[str],
    environ: Mapping[str, str],
) -> None:
    """Fill ``raw`` (option name → value) from the environment ``raw["environment"]`` names,
    as if each value were given by its option; options given explicitly win. Each value's
    source becomes ``FILE environments.NAME.KEY`` for error messages."""
    name, where = raw.get("environment"), sources.get("environment", "--environment")
    if not name:
        return
    chosen = _environment(project, name, where)
    file = project.source if project is not None and project.source else "the project file"
    at = f"{file} environments.{name}"
    if "stack" in given and raw["stack"] != "external":
        raise ConfigError(
            f"{where} {name} is a deployed environment (an external stack); "
            f"{sources['stack']} {raw['stack']} contradicts it"
        )
    raw["stack"], sources["stack"] = "external", f"{where} {name}"
    for key in ENVIRONMENT_OPTIONS:
        value = getattr(chosen, key)
        if value is not None and key not in given:
            raw[key], sources[key] = _expand(value, f"{at}.{key}", environ), f"{at}.{key}"
    for key, option in ENVIRONMENT_SECRETS.items():
        reference = getattr(chosen, key)
        if not reference or option in given or f"{option}_file" in given:
            continue
        variable = _variable(reference)
        if not environ.get(variable):
            raise ConfigError(f"{at}.{key}: ${variable} is not set (expected the credential)")
        raw[option], sources[option] = environ[variable], f"{at}.{key} ${variable}"


def _environment(project: Project | None, name: str, where: str) -> Environment:
    if project is None:
        raise ConfigError(f"{where} {name}: no project file to read `environments:` from")
    known = project.environments
    if name not in known:
        file = project.source or project.root
        raise ConfigError(
            f"{where}: {file} has no environment {name!r} "
            f"(known: {', '.join(sorted(known)) or 'none: add `environments:`'})"
        )
    return known[name]


def env_values(project: Project, environ: Mapping[str, str]) -> list[str]:
    """The values of every variable ``project`` reads (``${env:VAR}`` in services and faults,
    environments' credential variables): outputs mask them whatever the variable's name."""
    text = repr((project.services, project.scenarios, project.environments))
    names = set(ENV_REFERENCE.findall(text))
    for env in project.environments.values():
        names |= {_variable(getattr(env, key)) for key in ENVIRONMENT_SECRETS if getattr(env, key)}
    return [environ[name] for name in sorted(names) if environ.get(name)]
