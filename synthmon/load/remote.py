"""Locust workers that start on other hosts: what the master waits for, and ``synthmon worker``.

The master binds ``bind_host:bind_port`` and waits up to ``wait_s`` for ``expect`` workers
besides its local ones (Locust's ``--expect-workers`` / ``--expect-workers-max-wait``); when
they do not all come, Locust only logs "Gave up waiting", so :func:`missing_workers` reads
its log for how many did, for a one-line error. ``synthmon worker`` starts one worker process
on this host with the same locustfiles as the master (synthmon's shape and record shipping
first), so its requests are counted per worker and recorded exactly (see
:mod:`synthmon.load.synthmon_workers`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmon.errors import ConfigError

if TYPE_CHECKING:
    from synthmon.settings import Settings

#: Locust's default master port (its --master-port default).
DEFAULT_PORT = 5557
SHAPE_LOCUSTFILE = Path(__file__).resolve().with_name("synthmon_shape.py")
WORKERS_LOCUSTFILE = Path(__file__).resolve().with_name("synthmon_workers.py")
_READY = re.compile(r"(\S+) \(index \d+\) reported as ready\. ")


@dataclass(frozen=True)
class RemoteWorkers:
    """``expect`` workers that start elsewhere and connect to ``bind_host:bind_port``."""

    expect: int
    bind_host: str = "0.0.0.0"
    bind_port: int = DEFAULT_PORT
    wait_s: float = 30.0

    def __post_init__(self) -> None:
        if self.expect < 1:
            raise ConfigError(f"remote workers: expected a count ≥ 1, got {self.expect}")
        if not 0 < self.bind_port < 65536:
            raise ConfigError(f"remote workers: expected a port 1..65535, got {self.bind_port}")
        if not self.wait_s > 0:
            raise ConfigError(f"remote workers: expected a wait > 0 s, got {self.wait_s:g}")

    @property
    def address(self) -> str:
        return f"{self.bind_host}:{self.bind_port}"


def remote_workers(settings: Settings) -> RemoteWorkers | None:
    """What ``--load-remote-workers``, ``--load-master-bind`` and ``--load-workers-wait``
    ask of :func:`synthmon.load.run_load` (``remote=``); None when no worker comes from
    elsewhere."""
    if not settings.load_remote_workers:
        return None
    host, port = settings.load_master_bind
    return RemoteWorkers(settings.load_remote_workers, host, port, settings.load_workers_wait)


def parse_address(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 host in brackets); ConfigError naming ``what`` otherwise."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what}: expected HOST:PORT like 10.0.0.5:{DEFAULT_PORT}, got {text!r}")
    return host, int(port)


def missing_workers(log_text: str, expected: int, address: str, wait_s: float) -> str | None:
    """The one-line error when the master gave up waiting for its workers, else None."""
    if "Gave up waiting for workers to connect" not in log_text:
        return None
    joined = len(set(_READY.findall(log_text)))
    return f"{joined} of {expected} Locust workers joined {address} within {wait_s:g} s"


ARGUMENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("locustfile", {"metavar": "LOCUSTFILE", "help": "the same locustfile as the master's"}),
    ("--master", {"required": True, "metavar": "HOST:PORT", "help": "the master's bind address"}),
    (
        "--profiles",
        {
            "metavar": "FILE",
            "default": os.environ.get("SYNTHMON_LOAD_PROFILES", "load/profiles.yaml"),
            "help": "load profiles file (env SYNTHMON_LOAD_PROFILES; default load/profiles.yaml)",
        },
    ),
    (
        "--profile",
        {
            "metavar": "NAME",
            "default": os.environ.get("SYNTHMON_LOAD_PROFILE", "baseline"),
            "help": "the master's profile: it paces the users (env SYNTHMON_LOAD_PROFILE)",
        },
    ),
)
HELP = (
    "start one Locust worker on this host for a master elsewhere (--load-remote-workers); "
    "it exits when the master's run ends"
)


def worker_argv(locustfile: Path, master: str) -> list[str]:
    """``python -m locust --worker`` with synthmon's locustfiles before the user's."""
    host, port = parse_address(master, "--master")
    user_file = Path(locustfile).resolve()
    if "," in str(user_file) or user_file.suffix != ".py" or not user_file.is_file():
        raise ConfigError(
            f"locustfile: expected an existing .py file without ',' in its path, got {locustfile}"
        )
    files = f"{SHAPE_LOCUSTFILE},{WORKERS_LOCUSTFILE},{user_file}"
    return [sys.executable, "-m", "locust", "-f", files, "--worker", "--master-host", host,
            "--master-port", str(port)]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """``synthmon worker``: exec Locust (signals reach it directly; no process of ours stays)."""
    from synthmon.load.profiles import load_profiles

    argv = worker_argv(Path(args.locustfile), args.master)
    profiles = load_profiles(args.profiles)
    if args.profile not in profiles:
        raise ConfigError(
            f"--profile: no profile {args.profile!r} in {args.profiles} "
            f"(have: {', '.join(sorted(profiles))})"
        )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["SYNTHMON_LOAD_PROFILE_JSON"] = profiles[args.profile].to_json()
    env.pop("SYNTHMON_LOAD_RECORD_DIR", None)  # records go to the master with the reports
    sys.stdout.flush()
    os.execve(argv[0], argv, env)
