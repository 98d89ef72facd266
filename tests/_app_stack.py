"""A throwaway real stack for tests/test_app.py: PostgreSQL, Redis, the fake GitHub and the app.

The fake GitHub is synthmon's fake upstream with the example's upstreams/github.yaml.

Self-contained on purpose (it tests the example's app/, not synthmon.stack): every process is
ours, started on free 127.0.0.1 ports in a private temp dir, and ended by PID, never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
APP_DIR = ROOT / "examples" / "manager-app"  # `python -m app` runs from here
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "claude_manager"
CHAOS_TOKEN = "test-chaos-token"
LOGIN_PASSWORD = "s3cret-login-pw"
GITHUB_TOKEN = "ghp_testtoken_never_logged"


def free_port() -> int:
    """A port nobody listens on right now (tiny race accepted for a test)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pg_tool(name: str) -> str:
    """Debian keeps server binaries off PATH."""
    return shutil.which(name) or str(PG_BIN / name)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` every 50 ms; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on the port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


@dataclass
class Stack:
    """Handles to the running processes and where their output goes."""

    root: Path
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    github_port: int = field(default_factory=free_port)
    app_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def app_url(self) -> str:
        return f"http://{HOST}:{self.app_port}"

    @property
    def github_url(self) -> str:
        return f"http://{HOST}:{self.github_port}"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, user: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a process in its own session, output to <root>/<name>.log (appending)."""
        with self.log(name).open("ab") as out, self.log(f"{name}.stderr").open("ab") as err:
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=err,
                start_new_session=True,
                cwd=APP_DIR,
                env=env,
                user=user,
            )
        self.procs[name] = proc
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        """End one of our processes by PID: signal, wait, then SIGKILL."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    # -- services ---------------------------------------------------------------------------
    def start_postgres(self, init: bool = True) -> None:
        data = self.root / "pgdata"
        if init:
            data.mkdir(mode=0o700)
            shutil.chown(data, "postgres", "postgres")
            subprocess.run(
                [pg_tool("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--no-sync"],
                user="postgres", check=True, capture_output=True, cwd="/",
            )  # fmt: skip
        self.spawn(
            "postgres",
            [pg_tool("postgres"), "-D", str(data), "-h", HOST, "-p", str(self.pg_port),
             "-k", str(data), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off"],
            user="postgres",
        )  # fmt: skip
        ready = [pg_tool("pg_isready"), "-q", "-h", HOST, "-p", str(self.pg_port)]
        wait_until(lambda: subprocess.run(ready, check=False).returncode == 0, 20, "postgres")
        if init:
            subprocess.run(
                [pg_tool("createdb"), "-h", HOST, "-p", str(self.pg_port), "-U", "postgres",
                 DATABASE],
                user="postgres", check=True, capture_output=True, cwd="/",
            )  # fmt: skip

    def start_redis(self) -> None:
        self.spawn(
            "redis",
            ["redis-server", "--bind", HOST, "--port", str(self.redis_port), "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
        )  # fmt: skip
        wait_until(lambda: port_open(self.redis_port), 10, "redis")

    def start_github(self) -> None:
        routes = APP_DIR / "upstreams" / "github.yaml"
        argv = [sys.executable, "-m", "synthmon.upstream", "--host", HOST, "--routes", str(routes)]
        self.spawn("github", [*argv, "--port", str(self.github_port)])
        wait_until(lambda: port_open(self.github_port), 10, "fake github")

    def app_env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
        env.update(
            APP_DATABASE_URL=f"postgresql://postgres@{HOST}:{self.pg_port}/{DATABASE}",
            APP_REDIS_URL=f"redis://{HOST}:{self.redis_port}/0",
            APP_GITHUB_API_URL=self.github_url,
            APP_GITHUB_TOKEN=GITHUB_TOKEN,
            APP_CHAOS_TOKEN=CHAOS_TOKEN,
            APP_LOGIN_PASSWORD=LOGIN_PASSWORD,
            APP_PROBE_INTERVAL="0.25",
            APP_PROBE_TIMEOUT="0.5",
        )
        env.update(overrides)
        return {k: v for k, v in env.items() if v}

    def start_app(self, name: str = "app", port: int | None = None, **env: str) -> str:
        """Start an app instance; returns its base URL once it answers."""
        port = port or self.app_port
        argv = [sys.executable, "-m", "app", "--host", HOST, "--port", str(port)]
        self.spawn(name, argv, env=self.app_env(**env))
        url = f"http://{HOST}:{port}"
        wait_until(lambda: httpx.get(f"{url}/api/metrics", timeout=1).status_code == 200, 15, name)
        return url

    def teardown(self) -> None:
        """Stop everything we started (newest first), then remove the temp dir."""
        for name in reversed(list(self.procs)):
            self.stop(name, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)


def make_root() -> Path:
    """A temp dir the postgres user can traverse (pytest's tmp dirs are root-only)."""
    root = Path(tempfile.mkdtemp(prefix="synthmon-app-test-"))
    root.chmod(0o755)
    return root
