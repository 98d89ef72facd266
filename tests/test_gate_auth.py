"""``synthmon gate`` authenticates to Prometheus with the plugin's settings (issue 11, part 5).

A local server on 127.0.0.1 answers like Prometheus only with the right bearer token, records
every Authorization header it gets, and on a wrong one answers 401 with the header echoed in
its body (as some proxies do), so a gate that printed what it got back would show the token.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from synthmon import cli

TOKEN = "tok-gate-5e8c2a91d7"
SPEC = """
apiVersion: synthmon/v1
kind: SLOSpec
service: svc
selector:
  job: app
objectives:
  - name: error-rate
    type: error_rate
    threshold: 0.01
"""
# Prometheus answered every query (with no requests in the window): the gate's own verdict
ANSWERED = "no data: no requests counted in the window"


class _Prometheus(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        self.seen.append(auth)
        if auth != f"Bearer {TOKEN}":
            status, doc = 401, {"status": "error", "error": f"unauthorized: got {auth}"}
        elif self.path.startswith("/api/v1/query?query=time%28%29"):
            data = {"resultType": "scalar", "result": [time.time(), str(time.time())]}
            status, doc = 200, {"status": "success", "data": data}
        else:
            series = {"metric": {"status": "200"}, "value": [time.time(), "0"]}  # a real one has it
            data = {"resultType": "vector", "result": [series]}
            status, doc = 200, {"status": "success", "data": data}
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def prometheus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in list(os.environ):
        if name.startswith("SYNTHMON_"):
            monkeypatch.delenv(name)
    _Prometheus.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def gate(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    code = cli.main(["gate", "--prometheus-url", url, "--spec", str(spec), "--last", "1h", *extra])
    out, err = capsys.readouterr()
    return code, out + err


def test_gate_sends_the_bearer_token_from_env_and_never_prints_it(
    prometheus: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNTHMON_BEARER_TOKEN", TOKEN)
    code, output = gate(prometheus, tmp_path, capsys)
    assert _Prometheus.seen and set(_Prometheus.seen) == {f"Bearer {TOKEN}"}
    assert (code, ANSWERED in output) == (2, True), output
    assert TOKEN not in output


def test_gate_reads_the_token_from_a_file_option(
    prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    code, output = gate(prometheus, tmp_path, capsys, "--bearer-token-file", str(token_file))
    assert set(_Prometheus.seen) == {f"Bearer {TOKEN}"}
    assert code == 2 and ANSWERED in output and TOKEN not in output, output


def test_control_without_a_token_prometheus_refuses(
    prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = gate(prometheus, tmp_path, capsys)
    assert _Prometheus.seen == [None]
    assert code == 2 and "HTTP 401" in output and ANSWERED not in output, output


def test_an_echoed_wrong_token_is_masked_in_the_one_line_error(
    prometheus: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "tok-wrong-0b7d3f6a"
    monkeypatch.setenv("SYNTHMON_BEARER_TOKEN", wrong)
    code, output = gate(prometheus, tmp_path, capsys)
    assert _Prometheus.seen == [f"Bearer {wrong}"]
    assert code == 2 and output.count("\n") == 1, output
    assert "unauthorized: got Bearer ***" in output and wrong not in output, output


def test_bad_credential_settings_are_one_line_and_exit_2(
    prometheus: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNTHMON_BEARER_TOKEN", TOKEN)
    code, output = gate(prometheus, tmp_path, capsys, "--bearer-token-file", str(tmp_path / "x"))
    assert code == 2 and _Prometheus.seen == []
    assert output == (
        "synthmon gate: error: give SYNTHMON_BEARER_TOKEN or --bearer-token-file, not both\n"
    )
