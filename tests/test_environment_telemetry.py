"""A deployed environment's telemetry (the collector's health, Jaeger's query API, the log store)
given in the project file as its other URLs are; a password in one of them never shows in an
output; ``synthmon up`` lists where traces and logs are."""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from synthmon.errors import ConfigError
from synthmon.masking import MASK
from synthmon.settings import Settings
from synthmon.stack.running import Stack
from synthmon.up import stack_record, url_lines

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ROOT / ".venv" / "bin" / "pytest"


def build(options: dict[str, str], env: dict[str, str] | None = None) -> Settings:
    return Settings.from_values(lambda opt: options.get(opt.name), env or {})


def project_with(tmp_path: Path, environment: str) -> Path:
    """A copy of the second example with environment ``nightly`` (YAML lines under it)."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/linkcheck", root, ignore=shutil.ignore_patterns("__pycache__"))
    project = root / "synthmon.yaml"
    head = "environments:\n  nightly:\n    target_url: https://lc.example.net\n"
    head += "    prometheus_url: https://prom.example.net\n"
    project.write_text(project.read_text() + head + environment)
    return project


TELEMETRY = """\
    otel_url: https://otel.example.net:13133/
    jaeger_url: https://jaeger.${env:NIGHTLY_DOMAIN}
    logs_url: https://logs.example.net
    logs_api: loki
"""


def test_an_environment_gives_the_telemetry_urls(tmp_path: Path) -> None:
    project = str(project_with(tmp_path, TELEMETRY))
    env = {"NIGHTLY_DOMAIN": "example.org"}
    chosen = build({"project": project, "environment": "nightly"}, env)
    assert (chosen.otel_url, chosen.jaeger_url, chosen.logs_url, chosen.logs_api) == (
        "https://otel.example.net:13133",  # as --otel-url takes it
        "https://jaeger.example.org",
        "https://logs.example.net",
        "loki",
    )
    # an option given explicitly wins, as for the other URLs
    mine = build(
        {"project": project, "environment": "nightly", "jaeger_url": "http://127.0.0.1:16686"},
        {**env, "SYNTHMON_LOGS_API": "victorialogs"},
    )
    assert (mine.jaeger_url, mine.logs_api) == ("http://127.0.0.1:16686", "victorialogs")
    assert mine.logs_url == "https://logs.example.net"
    # none given: none set, the log API its default
    plain = build({"project": str(project_with(tmp_path / "b", "")), "environment": "nightly"})
    assert (plain.jaeger_url, plain.logs_url, plain.logs_api) == (None, None, "victorialogs")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("    logs_api: elastic\n",
         r"synthmon\.yaml: environments\.nightly\.logs_api: expected one of "
         r"victorialogs, loki, got 'elastic'"),
        ("    jaeger_url: https://${env:NO_SUCH_VAR}\n",
         r"environments\.nightly\.jaeger_url: \$\{env:NO_SUCH_VAR\}: \$NO_SUCH_VAR is not set"),
    ],
)  # fmt: skip
def test_a_bad_telemetry_entry_is_one_line_naming_it(
    tmp_path: Path, lines: str, message: str
) -> None:
    project = str(project_with(tmp_path, lines))
    with pytest.raises(ConfigError) as caught:
        build({"project": project, "environment": "nightly"})
    assert re.search(message, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value)


LEAK_SUITE = """
import base64
from urllib.parse import urlsplit

def test_leaks(synthmon_settings):
    s = synthmon_settings
    urls = (s.otel_url, s.jaeger_url, s.logs_url)
    alone = [urlsplit(u).password for u in urls]  # as a client's error or a header shows it
    basic = [base64.b64encode(f"nightly:{p}".encode()).decode() for p in alone]
    print("urls:", *urls, "passwords:", *alone, "basic:", *basic)
    assert False, f"{alone} {basic} {urls}"
"""


def basic(password: str) -> str:
    return base64.b64encode(f"nightly:{password}".encode()).decode()


def test_passwords_in_an_environments_telemetry_urls_appear_in_no_output(tmp_path: Path) -> None:
    """The environment's URLs carry passwords: masked in the terminal and the JUnit XML even
    where one shows alone or as a Basic-auth value (a URL's ``user:pw@`` is masked anyway);
    the control: the URLs' hosts still show, so the output is the real one."""
    words = {name: f"pw{secrets.token_hex(6)}" for name in ("otel", "jaeger", "logs")}
    lines = "".join(
        f"    {name}_url: https://nightly:{pw}@{name}.example.net/\n" for name, pw in words.items()
    )
    project = project_with(tmp_path, lines)
    suite, out = tmp_path / "suite", tmp_path / "out"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_leak.py").write_text(LEAK_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTHMON_", "PYTEST_"))}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's synthmon, wherever the venv points
    done = subprocess.run(
        [str(PYTEST), "test_leak.py", "-p", "no:cacheprovider", "-ra", "-l", "-v",
         "--junitxml", str(out / "junit.xml"), "--project", str(project),
         "--environment", "nightly", "--run-dir", str(out / "runs")],
        cwd=suite, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout[-3000:]
    outputs = {"stdout": done.stdout + done.stderr, "junit": (out / "junit.xml").read_text()}
    for channel, text in outputs.items():
        assert "jaeger.example.net" in text and MASK in text, (channel, text[-2000:])
        leaked = [name for name, pw in words.items() if pw in text or basic(pw) in text]
        assert leaked == [], f"{channel}: the {leaked} URL's password shows"


def stack(**telemetry: str) -> Stack:
    return Stack(
        kind="processes",
        run_dir=Path("/tmp/run-x"),
        app_url="http://127.0.0.1:8000",
        prometheus_url="http://127.0.0.1:9090",
        urls={"jaeger": "http://127.0.0.1:4318"},
        **telemetry,  # type: ignore[arg-type]
    )


def test_up_lists_jaeger_the_collectors_health_and_the_log_store() -> None:
    running = stack(
        jaeger_url="http://127.0.0.1:16686",
        otel_health_url="http://127.0.0.1:13133/",
        logs_url="http://127.0.0.1:9428",
    )
    rows = [" ".join(line.split()) for line in url_lines(running)]
    assert "jaeger (UI, query API) http://127.0.0.1:16686" in rows, rows
    assert "otel collector health http://127.0.0.1:13133/" in rows, rows
    assert "log store (victorialogs) http://127.0.0.1:9428" in rows, rows
    assert "jaeger http://127.0.0.1:4318" in rows, rows  # the service's own URL: OTLP/HTTP
    record = stack_record(running)
    assert record["jaeger_url"] == "http://127.0.0.1:16686"
    assert record["logs_api"] == "victorialogs"
    # a stack without telemetry lists none of them
    assert not any("jaeger (" in r or "log store" in r or "otel" in r for r in url_lines(stack()))
