"""Every bad input ends in one clear line, a defined exit code, and nothing left running.

The corpus is tests/bad_input/ with its table cases.yaml: malformed files, settings, and URLs
that answer wrongly (closed, not Prometheus, 401, 500, a socket that never answers). Commands
run as subprocesses in their own session and carry a marker in their environment; after each,
no process with that marker may be alive. Property tests cover the SLO spec loader on
arbitrary YAML-ish text and the PromQL builders through a real PromQL parser.
"""

from __future__ import annotations

import contextlib
import os
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
import promql_parser
import psutil
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmon.amconfig.routing import RouteTree
from synthmon.errors import ConfigError, QueryError
from synthmon.load.profiles import load_profiles
from synthmon.projectfile import load_project
from synthmon.prom import Prometheus
from synthmon.slo import promql
from synthmon.slo.spec import load_spec
from synthmon.stack.alertmanager_config import render_alertmanager_config
from synthmon.stack.rules import read_alerts, scale_rules

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
CORPUS = Path(__file__).resolve().parent / "bad_input"
CASES: dict[str, Any] = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
MARKER = "SYNTHMON_BAD_INPUT_RUN"


def _cases(section: str) -> list[Any]:
    """pytest params of a table section; ``pending`` cases are strict xfails."""
    pending = {name: [pytest.mark.xfail(reason=case["pending"], strict=True)]
               for name, case in CASES[section].items() if "pending" in case}  # fmt: skip
    return [pytest.param(n, c, id=n, marks=pending.get(n, [])) for n, c in CASES[section].items()]


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float


def leftovers(marker: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``marker`` (a command's descendants, however
    detached: setsid or reparented to init)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get(MARKER) == marker and process.status() != "zombie":
                found.append(process)
    return found


def run_command(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 60, marker: str = ""
) -> Outcome:
    """Run ``argv`` in its own session; fail if it outlives ``timeout`` or leaves processes."""
    marker = marker or uuid.uuid4().hex
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
    left = [f"{p.name()} (pid {p.pid})" for p in leftovers(marker)]
    assert not left, f"left running after {argv[0]}: {', '.join(left)}"
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


def test_the_checks_have_teeth() -> None:
    """one_line, the leftover check and the timeout each fail when their condition breaks."""
    for text, expect in (("a\nb", []), ("Traceback (most recent call last):", []), ("ok", ["x"])):
        with pytest.raises(AssertionError):
            one_line(text, expect)
    with pytest.raises(AssertionError, match="printed"):
        one_line("password=hunter22", [], ["hunter22"])
    marker = uuid.uuid4().hex
    try:
        with pytest.raises(AssertionError, match=r"left running after sh: (setsid|sleep)"):
            run_command(["sh", "-c", "setsid sleep 30 >/dev/null 2>&1 &"], marker=marker)
    finally:
        for process in leftovers(marker):
            process.kill()
    with pytest.raises(pytest.fail.Exception, match=r"still running after 0\.5 s"):
        run_command(["sleep", "5"], timeout=0.5)


# -- malformed files --------------------------------------------------------------------------


def _library_error(path: Path, tmp_path: Path) -> str:
    """What the library loader of ``path``'s kind raises, as text (ConfigError only)."""
    loaders: dict[str, Callable[[], object]] = {
        "profiles": lambda: load_profiles(path),
        "project": lambda: load_project(path),
        "rules": lambda: (read_alerts(path), scale_rules(path.read_text(), 60, source=str(path))),
        "alertmanager": lambda: (
            render_alertmanager_config(
                path.read_text(), factor=60, sinks_http_url="http://127.0.0.1:9",
                smtp_host="127.0.0.1", smtp_port=9, path_map={}, base_dir=tmp_path,
                secrets_dir=tmp_path / "secrets",
            ),
            RouteTree(yaml.safe_load(path.read_text())).match({"severity": "critical"}),
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
    paths = case.get("paths", ["checks/test_health.py"])
    argv = [str(BIN / "pytest"), *paths, "-p", "no:cacheprovider", *case.get("args", [])]
    done = run_command(argv, env=case.get("env"))
    assert done.code == 4, done
    one_line(done.stderr, ["ERROR: ", *case["expect"]], case.get("absent", []))
    # stdout holds at most the session header (a usage error found after collection)
    assert "Traceback" not in done.stdout and "Error" not in done.stdout, done.stdout
    assert not any(secret in done.stdout for secret in case.get("absent", []))


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


def free_port() -> int:
    with socket.socket() as probe:  # bound, then closed: nobody listens there
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accept_and_never_answer(server: socket.socket, held: list[socket.socket]) -> None:
    with contextlib.suppress(OSError):  # ends when the fixture shuts the socket
        while True:
            held.append(server.accept()[0])


@pytest.fixture(scope="module")
def wrong_servers() -> Iterator[dict[str, int]]:
    """Ports: one HTTP server for html/unauthorized/error, one socket that never answers."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Wrong)
    hang = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threads = [threading.Thread(target=http.serve_forever),
               threading.Thread(target=_accept_and_never_answer, args=(hang, held))]  # fmt: skip
    for thread in threads:
        thread.start()
    yield {"http": http.server_address[1], "hang": hang.getsockname()[1], "closed": free_port()}
    http.shutdown()
    http.server_close()
    hang.shutdown(socket.SHUT_RDWR)
    for sock in [*held, hang]:
        sock.close()
    for thread in threads:
        thread.join(timeout=5)


@pytest.mark.parametrize(("name", "case"), _cases("urls"))
def test_wrong_url_is_one_line_and_exit_2(
    name: str, case: dict[str, Any], wrong_servers: dict[str, int]
) -> None:
    server = case["server"]
    user = f"{case['user']}@" if "user" in case else ""
    port = wrong_servers.get(server, wrong_servers["http"])
    path = "" if server in ("closed", "hang") else f"/{server}"
    url = f"http://{user}127.0.0.1:{port}{path}"
    gate = [
        str(BIN / "synthmon"),
        "gate",
        "--spec",
        "examples/manager-app/slo/baseline.yaml",
        "--last",
        "5m",
    ]
    done = run_command([*gate, "--prometheus-url", url, "--timeout", "1"], timeout=30)
    assert (done.code, done.stdout) == (2, ""), done
    one_line(done.stderr, ["synthmon gate: error: ", *case["expect"]], case.get("absent", []))
    assert done.seconds < 15, f"took {done.seconds:.1f} s: a timeout did not hit"


def test_promql_syntax_error_from_a_real_prometheus(tmp_path: Path) -> None:
    port = free_port()
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


# -- properties -------------------------------------------------------------------------------

GOOD_SPEC = (ROOT / "examples/manager-app/slo/baseline.yaml").read_text(encoding="utf-8")
_TOKENS = [
    "apiVersion: synthmon/v1\n", "kind: SLOSpec\n", "service: app\n", "selector:", "objectives:",
    "\n", "  ", "- ", "{", "}", "[", "]", ": ", ",", "'", '"', "&a ", "*a", "<<: ", "? ", "--- ",
    "!!python/name:os.system ", "!!binary ", "!!set ", "!!float ", "|\n", "# ", "~", ".nan",
    ".inf", "-1", "1e309", "0x1F", "true", "2024-01-01", "%YAML 1.1\n", "\t", "\\", "name: x",
    "type: latency", "threshold: ", "percentile: ", "endpoint: ", "job: ", "\x85", "\ufeff",
]  # fmt: skip
_YAMLISH = st.lists(st.sampled_from(_TOKENS) | st.text(max_size=4), max_size=40).map("".join)
_MUTATED = st.builds(
    lambda at, cut, insert: (GOOD_SPEC[:at] + insert + GOOD_SPEC[at + cut :]).encode(),
    st.integers(0, len(GOOD_SPEC)), st.integers(0, 30), _YAMLISH,
)  # fmt: skip


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spec") / "spec.yaml"


@settings(max_examples=300, deadline=None)
@given(data=_MUTATED | _YAMLISH.map(str.encode) | st.binary(max_size=64))
def test_spec_loader_raises_nothing_but_a_one_line_config_error(
    spec_file: Path, data: bytes
) -> None:
    spec_file.write_bytes(data)
    try:
        load_spec(spec_file)
    except ConfigError as exc:
        assert str(exc).startswith(f"{spec_file}") and "\n" not in str(exc), str(exc)


def meaning(query: str) -> tuple[list[tuple[Any, ...]], list[tuple[str, ...]]]:
    """A query's parse tree with every label value taken out, and those values apart."""
    shape: list[tuple[Any, ...]] = []
    values: list[tuple[str, ...]] = []

    def visit(node: Any) -> None:
        kind = type(node).__name__
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            names = tuple((m.name, str(m.op)) for m in matchers)
            shape.append((kind, node.name, names, node.matchers.or_matchers, node.offset))
            values.append(tuple(m.value for m in matchers))
        elif isinstance(node, promql_parser.Call):
            shape.append((kind, node.func.name, len(node.args)))
        elif isinstance(node, promql_parser.MatrixSelector):
            shape.append((kind, node.range))
        elif isinstance(node, promql_parser.AggregateExpr | promql_parser.BinaryExpr):
            shape.append((kind, str(node.op), str(node.modifier)))
        elif isinstance(node, promql_parser.NumberLiteral):
            shape.append((kind, node.val))
        else:
            shape.append((kind,))

    promql_parser.walk(promql_parser.parse(query), visit)
    return shape, values


BUILDERS: dict[str, Callable[[dict[str, str]], str]] = {
    "selector": lambda m: promql.selector(promql.REQUESTS, m),
    "resets": lambda m: promql.resets(promql.selector(promql.REQUESTS, m), 300),
    "raw_range": lambda m: f"count_over_time({promql.raw_range(promql.selector('up', m), 60)})",
    "increase_quantile": lambda m: promql.increase_quantile(
        0.95, promql.selector(promql.DURATION_BUCKET, m), 600
    ),
    "memory_ratio": lambda m: promql.memory_ratio(m, 60),
    "present": lambda m: promql.present(promql.selector(promql.CPU, m), 60),
}
_LABEL = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    builder=st.sampled_from(sorted(BUILDERS)),
    matchers=st.dictionaries(_LABEL, st.text(), min_size=1, max_size=3),
)
def test_no_label_value_changes_a_query_meaning(builder: str, matchers: dict[str, str]) -> None:
    plain = {name: f"v{i}" for i, name in enumerate(sorted(matchers))}
    by_plain = {plain[name]: value for name, value in matchers.items()}
    want_shape, want_values = meaning(BUILDERS[builder](plain))
    shape, values = meaning(BUILDERS[builder](matchers))
    assert shape == want_shape
    assert values == [tuple(by_plain[v] for v in selected) for selected in want_values]


def test_the_meaning_oracle_catches_naive_quoting() -> None:
    """The property has teeth: an f-string selector lets a value rewrite the query."""
    value = '"} or vector(1) #'
    naive = 'http_requests_total{job="' + value + '"}'
    assert meaning(naive) != meaning(promql.selector(promql.REQUESTS, {"job": "x"}))
    shape, values = meaning(promql.selector(promql.REQUESTS, {"job": value}))
    assert (shape, values) == (
        meaning(promql.selector(promql.REQUESTS, {"job": "x"}))[0],
        [(value,)],
    )
