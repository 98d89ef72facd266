"""Hosts of their own for tests: network namespaces on one bridge, in a private /24.

Each host is a namespace (its own 127.0.0.1, its own ports) with one veth to a bridge that
lives in a namespace too, so nothing is added to the machine's own network. Every namespace
and veth name starts with a per-run prefix holding the owner's PID (``sm<pid><n>-``): teardown
removes by that prefix, and :func:`sweep_stale` removes what an owner killed with SIGKILL
left behind (its processes first: a namespace outlives ``ip netns delete`` while one runs).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tests._programs import require

SUBNET = "10.200.0"  # exists only inside the namespaces: no clash with the machine's networks
_OWNED = re.compile(r"^sm(\d+)[a-z]-")
_runs = itertools.count()


def _ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(
        [require("ip"), *args], capture_output=True, text=True, timeout=30, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Net:
    """The namespaces of one run: role → address in :data:`SUBNET`."""

    prefix: str
    hosts: Mapping[str, str]

    def ns(self, role: str) -> str:
        return f"{self.prefix}{role}"

    def run(self, role: str, argv: list[str]) -> list[str]:
        """``argv`` as a process of host ``role`` (``ip netns exec`` execs it: same PID)."""
        return [require("ip"), "netns", "exec", self.ns(role), *argv]


def namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def leftovers(prefix: str) -> list[str]:
    """Namespaces, and links of the machine's own namespace, that carry ``prefix``."""
    links = [ln.split(":")[1].strip().split("@")[0] for ln in _ip("-o", "link").splitlines()]
    return [n for n in namespaces() + links if n.startswith(prefix)]


def create(hosts: Mapping[str, int], owner: int | None = None) -> Net:
    """One namespace per role (address ``SUBNET.N``), all on one bridge; removed again if a
    step fails. Names: ``sm<owner pid><run letter>-<role>``; veths ``<prefix><i>h|b``."""
    prefix = f"sm{owner or os.getpid()}{'abcdefghijklmnopqrstuvwxyz'[next(_runs) % 26]}-"
    net = Net(prefix, {role: f"{SUBNET}.{n}" for role, n in hosts.items()})
    switch = f"{prefix}sw"
    try:
        _ip("netns", "add", switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, (role, address) in enumerate(net.hosts.items()):
            ns, host_end, bridge_end = net.ns(role), f"{prefix}{i}h", f"{prefix}{i}b"
            _ip("netns", "add", ns)
            _ip("link", "add", host_end, "netns", ns, "type", "veth",
                "peer", "name", bridge_end, "netns", switch)  # fmt: skip
            _ip("-n", switch, "link", "set", bridge_end, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", host_end)
            _ip("-n", ns, "link", "set", host_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except BaseException:
        remove(prefix)
        raise
    return net


def remove(prefix: str) -> None:
    """Kill every process in the prefix's namespaces, then delete them (veths go with them)."""
    for ns in [n for n in namespaces() if n.startswith(prefix)]:
        for pid in _ip("netns", "pids", ns, check=False).split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "delete", ns, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Remove the namespaces of owners that are gone (killed runs); the prefixes removed."""
    owners = {m.group(0): int(m.group(1)) for n in namespaces() if (m := _OWNED.match(n))}
    dead = sorted(prefix for prefix, pid in owners.items() if not _alive(pid))
    for prefix in dead:
        remove(prefix)
    return dead


@contextlib.contextmanager
def network(hosts: Mapping[str, int]) -> Iterator[Net]:
    """:func:`create` after a sweep of stale runs; removed by prefix on every exit."""
    sweep_stale()
    net = create(hosts)
    try:
        yield net
    finally:
        remove(net.prefix)
