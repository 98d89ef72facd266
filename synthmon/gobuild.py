"""Go programs built from their module at a pinned version, cached outside the checkout.

Why: Debian ships Alertmanager 0.25, which cannot load a config with ``msteams_configs`` (0.26)
or ``jira_configs`` (0.28). A project that pins ``versions.alertmanager`` in synthmon.yaml gets
that release built by the ordinary Go tooling (``go install module/pkg@version``) once per
machine: nothing is vendored and nothing is written in the checkout. The build goes to a
temporary directory renamed into place, so a killed build never looks finished, and a file lock
lets one of several workers build while the others wait for it.

Toxiproxy is built the same way (no Debian package has it): the real server is what synthmon's
own fault proxy is held to (tests/test_toxiproxy_compat.py) and what images/build.sh packages.

Jaeger v2 (an OpenTelemetry Collector distribution: OTLP in, traces in memory, the query API) and
VictoriaLogs (a log store taking OTLP logs) are built the same way for the telemetry checks.
Jaeger's go.mod has ``replace`` directives, which ``go install pkg@version`` refuses: it is built
in a throwaway module (``go get -tool``, then ``go build``), the ordinary tooling all the same.

Prometheus is not built here: its module needs its web UI's assets built by npm first.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from synthmon import progress
from synthmon.amconfig.versions import Version
from synthmon.errors import ConfigError, StackError
from synthmon.waiting import NotYet, wait_until

log = logging.getLogger(__name__)

CACHE_ENV = "SYNTHMON_CACHE_DIR"
DEFAULT_CACHE = Path("~/.cache/synthmon/go")
GO_FALLBACK = Path("/usr/local/go/bin/go")  # the Go tarball's place, often not on PATH
BUILD_TIMEOUT_S = 900.0  # a cold build downloads the module graph and compiles it
PIN_KEY = "versions.{tool} in synthmon.yaml"


@dataclass(frozen=True)
class GoProgram:
    """Where a program of synthmon's stack comes from when pinned, and Debian's names for it."""

    module: str
    packages: tuple[str, ...]  # module-relative packages; each builds a binary of its last name
    stamp: Mapping[str, str]  # -X variables its --version prints; {version}: 0.28.1
    debian: tuple[tuple[str, ...], ...]  # each binary's names on PATH from Debian
    tool_module: bool = False  # its go.mod has replace directives: built as a tool of a module


ALERTMANAGER = GoProgram(
    module="github.com/prometheus/alertmanager",
    packages=("cmd/alertmanager", "cmd/amtool"),
    debian=(("prometheus-alertmanager", "alertmanager"), ("amtool",)),
    stamp={  # what the release Makefile's promu sets; without it --version prints ""
        f"github.com/prometheus/common/version.{name}": value
        for name, value in (
            ("Version", "{version}"),
            ("Revision", "v{version}"),
            ("Branch", "HEAD"),
            ("BuildUser", "synthmon-gobuild"),
        )
    },
)


# the code host both modules live on, spelt once: tests/test_library_names.py lets a module
# path name it only under .com/prometheus/ (the host's name is also a word of an example)
_HOST = ALERTMANAGER.module.split("/")[0]
TOXIPROXY = GoProgram(
    module=f"{_HOST}/Shopify/toxiproxy/v2",
    packages=("cmd/server",),
    debian=(),  # none: Debian has no Toxiproxy
    stamp={f"{_HOST}/Shopify/toxiproxy/v2.Version": "{version}"},  # else /version says "git"
)
TOXIPROXY_VERSION = "2.5.0"  # the newest the Go module proxy serves that builds with Go 1.26
JAEGER = GoProgram(
    module=f"{_HOST}/jaegertracing/jaeger",
    packages=("cmd/jaeger",),
    debian=(),
    # the module's v1.x tags carry the v2 binary; /api/... and --version report this tag
    stamp={f"{_HOST}/jaegertracing/jaeger/internal/version.latestVersion": "v{version}"},
    tool_module=True,
)
JAEGER_VERSION = "1.76.0"  # the module tag of Jaeger v2's cmd/jaeger
VICTORIALOGS = GoProgram(
    module=f"{_HOST}/VictoriaMetrics/VictoriaLogs",
    packages=("app/victoria-logs",),
    debian=(),
    stamp={
        f"{_HOST}/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version": "victoria-logs-v{version}"
    },
)
VICTORIALOGS_VERSION = "1.52.1"


def go_version(text: str, where: str) -> str:
    """``0.28.1`` or ``v0.28.1`` as Go's module version ``v0.28.1``; ConfigError otherwise."""
    return f"v{Version.parse(text, where)}"


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$SYNTHMON_CACHE_DIR``, else ``~/.cache/synthmon/go``."""
    return Path(env[CACHE_ENV]).expanduser() if env.get(CACHE_ENV) else DEFAULT_CACHE.expanduser()


def go_binary() -> str:
    found = shutil.which("go") or (str(GO_FALLBACK) if GO_FALLBACK.is_file() else None)
    if found is None:
        raise StackError(f"go not found on PATH or at {GO_FALLBACK}")
    return found


@contextlib.contextmanager
def _locked(path: Path, what: str, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, waiting (with a deadline) while another worker
    builds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:

        def take() -> bool | NotYet:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return NotYet(f"{path} is held by another build")
            return True

        wait_until(take, timeout_s=timeout_s, interval_s=1.0, what=f"the lock to build {what}")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _name(module: str) -> str:
    """A module's program name for messages: ``toxiproxy`` of ``.../toxiproxy/v2``."""
    parts = module.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


def _built(bin_dir: Path, packages: Sequence[str]) -> bool:
    return all((bin_dir / Path(pkg).name).is_file() for pkg in packages)


def _go(argv: Sequence[str], cwd: Path, env: Mapping[str, str], what: str) -> None:
    """One go command of a build; StackError with its last lines when it fails."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise StackError(
            f"building {what}: `go {argv[1]}` ran over {BUILD_TIMEOUT_S:g} s"
        ) from None
    except OSError as exc:
        raise StackError(
            f"building {what} needs Go: cannot run {argv[0]}: {exc.strerror}"
        ) from None
    if done.returncode != 0:
        last = " | ".join(done.stderr.strip().splitlines()[-3:]) or f"exit {done.returncode}"
        raise StackError(f"building {what} with {argv[0]} failed: {last}")


def _go_install(program: GoProgram, version: str, gobin: Path) -> None:
    """``go install pkg@version`` (cwd outside any module, so no go.mod applies), or for a
    ``tool_module`` program ``go get -tool`` into a throwaway module, then ``go build``."""
    what = f"{_name(program.module)} {version}"
    try:
        go = go_binary()
    except StackError as exc:
        raise StackError(f"building {what} needs Go: {exc}") from None
    env = {**os.environ, "GOBIN": str(gobin), "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    flags = " ".join(f"-X {k}={v.format(version=version[1:])}" for k, v in program.stamp.items())
    pkgs = [f"{program.module}/{pkg}" for pkg in program.packages]
    if not program.tool_module:
        argv = [go, "install", "-trimpath", f"-ldflags={flags}", *(f"{p}@{version}" for p in pkgs)]
        _go(argv, gobin, env, what)
        return
    with tempfile.TemporaryDirectory(prefix="synthmon-gobuild.") as tmp:
        module = Path(tmp)
        (module / "go.mod").write_text("module synthmon-gobuild\n")
        _go([go, "get", "-tool", *(f"{p}@{version}" for p in pkgs)], module, env, what)
        _go(
            [go, "build", "-trimpath", f"-ldflags={flags}", "-o", f"{gobin}/", *pkgs],
            module,
            env,
            what,
        )


def ensure_built(program: GoProgram, version: str) -> Path:
    """The bin dir holding ``program``'s packages at ``version``, built on first use.

    ``<cache>/<module>@<version>/bin``; a second call finds it and builds nothing.
    """
    module, packages = program.module, program.packages
    version = go_version(version, f"{module} version")
    bin_dir = cache_dir() / f"{module}@{version}" / "bin"
    if _built(bin_dir, packages):
        return bin_dir
    what = f"{_name(module)} {version}"
    with _locked(bin_dir.parent / "build.lock", what, BUILD_TIMEOUT_S + 60):
        if _built(bin_dir, packages):  # another worker built it while we waited
            return bin_dir
        progress.waiting(f"{what} to build from its Go module", BUILD_TIMEOUT_S)
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(dir=bin_dir.parent, prefix="bin."))
        try:
            _go_install(program, version, tmp)
            tmp.chmod(0o755)  # mkdtemp's 0700 would hide it from a service run as another user
            shutil.rmtree(bin_dir, ignore_errors=True)
            tmp.rename(bin_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("built %s in %.1f s into %s", what, time.monotonic() - started, bin_dir)
    return bin_dir


def toxiproxy_server(version: str = TOXIPROXY_VERSION) -> Path:
    """The real Toxiproxy server (``-host H -port P [-config F]``), built on first use."""
    return ensure_built(TOXIPROXY, version) / Path(TOXIPROXY.packages[0]).name


def jaeger_binary(version: str = JAEGER_VERSION) -> Path:
    """Jaeger v2 (``jaeger --config FILE``), built on first use."""
    return ensure_built(JAEGER, version) / Path(JAEGER.packages[0]).name


def victorialogs_binary(version: str = VICTORIALOGS_VERSION) -> Path:
    """VictoriaLogs (``victoria-logs -httpListenAddr=H:P -storageDataPath=D``), built on first
    use."""
    return ensure_built(VICTORIALOGS, version) / Path(VICTORIALOGS.packages[0]).name


# -- which Alertmanager a run uses ---------------------------------------------------------------


@dataclass(frozen=True)
class Binaries:
    """The Alertmanager of one run: its two binaries, its version and why it is that one."""

    alertmanager: str
    amtool: str
    version: str  # 0.28.1
    why: str  # "v0.28.1, pinned in synthmon.yaml versions" or "Debian's; no pin"
    built: bool  # from its Go module (else Debian's)


@functools.lru_cache(maxsize=16)
def binary_version(path: str) -> str:
    """``X.Y.Z`` from ``path --version`` (Prometheus tools all print ``..., version X.Y.Z``)."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"{path} --version: {exc}") from None
    match = re.search(r"version (\d+\.\d+\.\d+)", done.stdout + done.stderr)
    if match is None:
        raise StackError(f"{path} --version printed no version: {done.stdout[:200]!r}")
    return match.group(1)


def _debian(*names: str) -> str:
    """The first of ``names`` on PATH (Debian names alertmanager prometheus-alertmanager)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise StackError(f"{names[0]} not found on PATH (run `make setup` to install it)")


def alertmanager_binaries(version: str | None) -> Binaries:
    """None: Debian's Alertmanager and amtool; else that release, built from its Go module."""
    if version is None:
        server, tool = (_debian(*names) for names in ALERTMANAGER.debian)
        return Binaries(server, tool, binary_version(server), "Debian's; no pin", built=False)
    pinned = go_version(version, PIN_KEY.format(tool="alertmanager"))
    bin_dir = ensure_built(ALERTMANAGER, pinned)
    server, tool = (str(bin_dir / Path(pkg).name) for pkg in ALERTMANAGER.packages)
    return Binaries(
        server, tool, pinned[1:], f"{pinned}, pinned in synthmon.yaml versions", built=True
    )


def alertmanager_line(version: str | None) -> str:
    """The run summary's line: which Alertmanager ran, and why that one."""
    found = alertmanager_binaries(version)
    if found.built:
        return f"Alertmanager {found.version} (built from its Go module: pinned in synthmon.yaml)"
    return f"Alertmanager {found.version} (Debian; no pin)"


def prometheus_line(version: str | None) -> str:
    """The run summary's line for Prometheus, always Debian's: a pin that differs is said, not
    built (its module needs UI assets built by npm)."""
    found = binary_version(_debian("prometheus"))
    if version is None:
        return f"Prometheus {found} (Debian; no pin)"
    pinned = go_version(version, PIN_KEY.format(tool="prometheus"))[1:]
    if pinned == found:
        return f"Prometheus {found} (Debian: as pinned in synthmon.yaml)"
    return (
        f"Prometheus {found} (Debian): synthmon.yaml pins {pinned}, which is not built from "
        "source (its Go module needs the web UI's npm-built assets)"
    )


EXTRA = {  # make go-tools' other names: what they build
    "toxiproxy": (f"Toxiproxy {TOXIPROXY_VERSION}", toxiproxy_server),
    "jaeger": (f"Jaeger {JAEGER_VERSION}", jaeger_binary),
    "victorialogs": (f"VictoriaLogs {VICTORIALOGS_VERSION}", victorialogs_binary),
}


def main(argv: Sequence[str]) -> int:
    """``python -m synthmon.gobuild 0.28.1 ... [toxiproxy] [jaeger] [victorialogs]``: build those
    Alertmanager releases (and the pinned others) now (make go-tools), so a run or the tests find
    them cached; one line each."""
    logging.basicConfig(level=logging.INFO, format="synthmon: %(message)s")
    try:
        for version in argv:
            if version in EXTRA:
                name, build = EXTRA[version]
                print(f"{name}: {build()}")
            else:
                print(alertmanager_line(version))
    except (ConfigError, StackError) as exc:
        print(f"synthmon: {exc}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
