"""Every bad input ends in one clear line, a defined exit code, and nothing left running.

The corpus is tests/bad_input/ with its table cases.yaml: malformed files, settings, and URLs
that answer wrongly (closed, not Prometheus, 401, 500, a socket that never answers). Commands
run as subprocesses in their own session and carry a marker in their environment; after each,
no process with that marker may be alive. Property tests cover the SLO spec loader on
arbitrary YAML-ish text and the PromQL builders through a real PromQL parser.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import psutil
import pytest
import yaml

from synthmon.errors import ConfigError, QueryError
from synthmon.load.profiles import load_profiles
from synthmon.prom import Prometheus
from synthmon.stack.alertmanager_config import render_alertmanager_config, route_timings
from synthmon.stack.rules import read_alerts, scale_rules

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
CORPUS = Path(__file__).resolve().parent / "bad_input"
CASES: dict[str, Any] = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
MARKER = "SYNTHMON_BAD_INPUT_RUN"


def _cases(section: str) -> list[Any]:
    """pytest params of a table section; ``pending`` cases are strict xfails."""
    return [
        pytest.param(name, case, id=name, marks=[pytest.mark.xfail(reason=case["pending"],
                                                                   strict=True)]
                     if isinstance(case, dict) and "pending" in case else [])
        for name, case in CASES[section].items()
    ]  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float


def leftovers(marker: str) -> list[str]:
    """Live processes whose environment carries ``marker`` (our command's descendants)."""
    found = []
    for process in psutil.process_iter(["pid", "name"]):
        try:
            if process.environ().get(MARKER) == marker:
                found.append(f"{process.info['name']} (pid {process.info['pid']})")
        except psutil.Error:
            continue
    return found


def run_command(argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> Outcome:
    """Run ``argv`` in its own session; fail if it outlives ``timeout`` or leaves processes."""
    marker = uuid.uuid4().hex
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTHMON_", "PYTEST_"))}
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=ROOT, env={**clean, **(env or {}), MARKER: marker}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{' '.join(argv)} still running after {timeout:g} s")
    seconds = time.monotonic() - started
    assert not leftovers(marker), f"left running after {argv[0]}: {leftovers(marker)}"
    return Outcome(process.returncode, stdout, stderr, seconds)


def one_line(text: str, expect: list[str], absent: tuple[str, ...] | list[str] = ()) -> str:
    """The single non-blank line of ``text``, checked for each expected fragment."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{text}"
    assert "Traceback" not in text
    for fragment in expect:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    for secret in absent:
        assert secret not in text, f"{secret!r} printed: {lines[0]!r}"
    return lines[0]


# -- malformed files --------------------------------------------------------------------------


def _library_error(path: Path, tmp_path: Path) -> str:
    """What the library loader of ``path``'s kind raises, as text (ConfigError only)."""
    loaders: dict[str, Callable[[], object]] = {
        "profiles": lambda: load_profiles(path),
        "rules": lambda: (read_alerts(path), scale_rules(path.read_text(), 60, source=str(path))),
        "alertmanager": lambda: (
            render_alertmanager_config(
                path.read_text(), factor=60, sinks_http_url="http://127.0.0.1:9",
                smtp_host="127.0.0.1", smtp_port=9, template_dir=tmp_path,
                secrets_dir=tmp_path / "secrets",
            ),
            route_timings(path.read_text(), {"severity": "critical"}),
        ),
    }  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        loaders[path.parent.name]()
    return str(caught.value)


@pytest.mark.parametrize("name", sorted(CASES["files"]))
def test_malformed_file_is_one_line_naming_file_and_field(name: str, tmp_path: Path) -> None:
    path = CORPUS / name
    expect = CASES["files"][name]
    if path.parent.name == "slo":
        spec = str(path.relative_to(ROOT))
        done = run_command([str(BIN / "synthmon"), "gate", "--spec", spec,
                            "--prometheus-url", "http://127.0.0.1:9", "--last", "5m"])  # fmt: skip
        assert (done.code, done.stdout) == (2, ""), done
        one_line(done.stderr, [f"synthmon gate: error: {spec}", *expect])
        assert not (ROOT / "pwned").exists(), "a YAML tag ran a command"
        return
    message = _library_error(path, tmp_path)
    where = "alertmanager config: " if path.parent.name == "alertmanager" else str(path)
    one_line(message, [where, *expect])


def test_corpus_and_table_agree() -> None:
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.parent != CORPUS}
    assert files == set(CASES["files"]), files ^ set(CASES["files"])


# -- settings: pytest usage errors ------------------------------------------------------------


@pytest.mark.parametrize(("name", "case"), _cases("settings"))
def test_bad_setting_is_a_one_line_usage_error(name: str, case: dict[str, Any]) -> None:
    argv = [str(BIN / "pytest"), "checks/test_health.py", "-p", "no:cacheprovider"]
    done = run_command([*argv, *case.get("args", [])], env=case.get("env"))
    assert done.code == 4, done
    one_line(done.stdout + done.stderr, ["ERROR: ", *case["expect"]], case.get("absent", []))


# -- URLs that answer wrongly -----------------------------------------------------------------


class _Wrong(BaseHTTPRequestHandler):
    """Answers by the first path segment: /html, /unauthorized or /error."""

    ANSWERS: ClassVar[dict[str, tuple[int, str, str]]] = {
        "html": (200, "text/html", "<html><body>It works!</body></html>"),
        "unauthorized": (401, "text/plain", "Unauthorized: bad credentials"),
        "error": (500, "text/plain", "internal error: the TSDB is on fire"),
    }

    def do_GET(self) -> None:
        status, kind, body = self.ANSWERS[self.path.split("/")[1]]
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def wrong_servers() -> Iterator[dict[str, int]]:
    """Ports: one HTTP server for html/unauthorized/error, one socket that never answers."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Wrong)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    hang = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(hang.accept()[0]) for _ in range(8)],
                     daemon=True).start()  # fmt: skip
    with socket.socket() as probe:  # bound, then closed: nobody listens there
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    yield {"http": http.server_address[1], "hang": hang.getsockname()[1], "closed": closed}
    http.shutdown()
    http.server_close()
    for sock in [*held, hang]:
        sock.close()


@pytest.mark.parametrize(("name", "case"), _cases("urls"))
def test_wrong_url_is_one_line_and_exit_2(
    name: str, case: dict[str, Any], wrong_servers: dict[str, int]
) -> None:
    server = case["server"]
    user = f"{case['user']}@" if "user" in case else ""
    port = wrong_servers.get(server, wrong_servers["http"])
    path = "" if server in ("closed", "hang") else f"/{server}"
    url = f"http://{user}127.0.0.1:{port}{path}"
    gate = [str(BIN / "synthmon"), "gate", "--spec", "slo/baseline.yaml", "--last", "5m"]
    done = run_command([*gate, "--prometheus-url", url, "--timeout", "1"], timeout=30)
    assert (done.code, done.stdout) == (2, ""), done
    one_line(done.stderr, ["synthmon gate: error: ", *case["expect"]], case.get("absent", []))
    assert done.seconds < 15, f"took {done.seconds:.1f} s: a timeout did not hit"


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="no prometheus binary")
def test_promql_syntax_error_from_a_real_prometheus(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    log = (tmp_path / "prometheus.log").open("wb")
    server = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
            time.sleep(0.1)
        with Prometheus(url, timeout=5) as prom, pytest.raises(QueryError) as caught:
            prom.query("rate(http_requests_total[5m]")
        one_line(str(caught.value), [f"Prometheus {url}: query 'rate(http_requests_total[5m]'",
                                     "HTTP 400: bad_data:", "parse error"])  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
