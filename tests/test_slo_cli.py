"""``synthmon gate`` argument handling: one-line errors, exit 2, window parsing (no network).

The end-to-end gate against a real Prometheus is in test_slo_prometheus.py.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from synthmon import cli
from synthmon.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SPEC = str(ROOT / "examples/manager-app/slo/baseline.yaml")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "SPEC", "REPORT", "TIMEOUT", "STATS"):
        for var in (f"SYNTHMON_PROMETHEUS_{name}", f"SYNTHMON_SLO_{name}",
                    f"SYNTHMON_LOCUST_{name}"):  # fmt: skip
            monkeypatch.delenv(var, raising=False)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gate", "--spec", SPEC, "--last", "1h"], "--prometheus-url (or SYNTHMON_PROMETHEUS_URL)"),
        (["gate", "--prometheus-url", "http://x", "--spec", SPEC],
         "window: give exactly one of --start T --end T, --last DURATION, --window-file FILE"),
        (["gate", "--prometheus-url", "http://x", "--spec", SPEC, "--last", "1h", "--start", "1"],
         "(got --start/--end, --last)"),
        (["gate", "--prometheus-url", "http://x", "--spec", SPEC, "--start", "1"],
         "window: --start and --end go together"),
        (["gate", "--prometheus-url", "http://x", "--spec", SPEC, "--last", "1 hour"],
         "'1 hour' is not a Prometheus duration"),
        (["gate", "--prometheus-url", "http://x", "--spec", SPEC, "--start", "yesterday",
          "--end", "2"], "--start: expected unix seconds or ISO 8601"),
        (["gate", "--prometheus-url", "http://x", "--spec", "nope.yaml", "--last", "1h"],
         "nope.yaml: cannot read SLO spec"),
        (["gate", "--prometheus-url", "http://x", "--spec", SPEC, "--last", "1h",
          "--timeout", "0"], "--timeout: expected seconds > 0, got '0'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("synthmon gate: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unreachable_prometheus_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = closed_url()
    code, _, err = run(["gate", "--prometheus-url", url, "--spec", SPEC, "--last", "1h"], capsys)
    assert code == 2
    assert err == (
        f"synthmon gate: error: Prometheus {url}: query 'time()': unreachable: Connection refused\n"
    )


def test_env_fallback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = closed_url()
    monkeypatch.setenv("SYNTHMON_PROMETHEUS_URL", url)
    monkeypatch.setenv("SYNTHMON_SLO_SPEC", SPEC)
    code, _, err = run(["gate", "--last", "5m"], capsys)
    assert code == 2 and f"Prometheus {url}" in err


def test_bad_window_and_stats_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    window = tmp_path / "load-window.json"
    window.write_text(json.dumps({"start": 1}))
    base = ["gate", "--prometheus-url", "http://x", "--spec", SPEC]
    code, _, err = run([*base, "--window-file", str(window)], capsys)
    assert code == 2 and "expected a JSON object with start and end" in err
    stats = tmp_path / "stats.json"
    stats.write_text("[1]")
    code, _, err = run([*base, "--last", "1h", "--locust-stats", str(stats)], capsys)
    assert code == 2 and "[0]: expected a Locust stats entry, got 1" in err


def test_parse_time() -> None:
    assert cli.parse_time("1700000000", "t") == 1700000000.0
    assert cli.parse_time(1700000000.5, "t") == 1700000000.5
    assert cli.parse_time("2023-11-14T22:13:20Z", "t") == 1700000000.0
    assert cli.parse_time("2023-11-14T22:13:20", "t") == 1700000000.0  # no offset: UTC
    assert cli.parse_time("2023-11-14T23:13:20+01:00", "t") == 1700000000.0
    for bad in ("soon", "-5", True, None, "nan"):
        with pytest.raises(ConfigError):
            cli.parse_time(bad, "t")


def test_window_file_accepts_iso(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"start": "2023-11-14T22:13:20Z", "end": 1700000600}))
    assert cli.read_window_file(str(path)) == (1700000000.0, 1700000600.0)


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gate", "--help"]) == 0
    assert "--window-file" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2
    assert cli.main([]) == 2
