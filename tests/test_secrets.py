"""Secrets never reach an output: the Redactor, and a planted-secret run grepped end to end.

The end-to-end test runs a small failing suite twice in a subprocess, with the same planted
secrets (an env token, a ``SYNTHMON_*_FILE`` password, a basic-auth URL password): once
without ``synthmon.redact``, where every output channel must show the secrets (so the grep has
teeth and each channel is really exercised), once with it, where no file and no stream may.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synthmon.masking import MASK, RedactingFilter, Redactor, hide_password

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ROOT / ".venv" / "bin" / "pytest"


def test_env_names_files_and_urls_are_registered(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-123\n")
    pem = tmp_path / "client.key"
    pem.write_text(
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END PRIVATE KEY-----\n"
    )
    redactor = Redactor.from_environ(
        {
            "GITHUB_TOKEN": "ghp_abcdef",
            "DB_PASSWORD": "hunter22",
            "API_KEY": "k-12345",
            "MY_SECRET": "s-67890",
            "SYNTHMON_DB_PASSWORD_FILE": str(key_file),
            "SYNTHMON_CLIENT_KEY": str(pem),  # a sensitive SYNTHMON_* naming a file: its lines
            "SYNTHMON_TARGET_URL": "http://svc:url%2Fpw@127.0.0.1:1/",
            "HOME": "/root-home",
            "EDITOR_KEY": "true",  # boolean-like: not a secret worth masking every "true"
        }
    )
    text = "ghp_abcdef hunter22 k-12345 s-67890 from-a-file-123 url/pw url%2Fpw /root-home true"
    assert redactor.redact(text) == f"{' '.join([MASK] * 7)} /root-home true"
    basic = base64.b64encode(b"svc:url/pw").decode()
    assert redactor.redact(f"Authorization: Basic {basic}") == f"Authorization: Basic {MASK}"
    assert redactor.redact(pem.read_text()) == f"{MASK}\n"  # the whole file, and each line:
    assert redactor.redact("key line MIIEvQIBADANBgkqhkiG9w0B") == f"key line {MASK}"


def test_every_spelling_of_a_secret_is_masked() -> None:
    secret = 'a\\b"c&<d>'
    redactor = Redactor([secret])
    for spelled in (secret, json.dumps(secret), repr(secret), "a%5Cb%22c%26%3Cd%3E"):
        assert secret[2:] not in redactor.redact(spelled).replace("&quot;", '"'), spelled
    assert redactor.redact("a\\b&quot;c&amp;&lt;d&gt;") == MASK
    assert redactor.redact_bytes(f"x {secret} y".encode()) == f"x {MASK} y".encode()


def test_short_values_are_ignored_and_url_passwords_masked_unregistered() -> None:
    redactor = Redactor(["abc", "", None, "  "])
    assert redactor.redact("abc") == "abc"
    assert redactor.redact("see http://me:pw@h:1/x and https://h/y") == (
        f"see http://me:{MASK}@h:1/x and https://h/y"
    )
    assert hide_password("http://u:p@h") == f"http://u:{MASK}@h"


def test_credential_headers_are_always_masked() -> None:
    redactor = Redactor(["tok-1234"])
    redactor.add_header("X-Chaos-Token")  # a project's secret header (Project.secret_headers)
    headers = {"Authorization": "Bearer x", "X-Chaos-Token": "y", "cookie": "z", "Accept": "*/*"}
    assert redactor.redact_headers({**headers, "X-Echo": "tok-1234"}) == {
        "Authorization": MASK, "X-Chaos-Token": MASK, "cookie": MASK, "Accept": "*/*",
        "X-Echo": MASK,
    }  # fmt: skip


@dataclasses.dataclass
class _Entry:
    lines: list[str]
    crash: tuple[str, int]
    extra: dict[str, str]


def test_scrub_walks_dataclasses_in_place() -> None:
    entry = _Entry(["x = 'tok-1234'"], ("failed: tok-1234", 3), {"cookie": "c", "k": "tok-1234"})
    Redactor(["tok-1234"]).scrub(entry)
    assert entry == _Entry([f"x = '{MASK}'"], (f"failed: {MASK}", 3), {"cookie": MASK, "k": MASK})


def test_logging_filter_masks_message_args_and_traceback() -> None:
    redactor = Redactor(["tok-1234"])
    try:
        raise RuntimeError("login with tok-1234 failed")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "sent %s", ("tok-1234",), None)
        record.exc_info = sys.exc_info()
    assert RedactingFilter(redactor).filter(record)
    text = logging.Formatter().format(record)
    assert "tok-1234" not in text and f"sent {MASK}" in text and "RuntimeError" in text


# -- a planted-secret run, grepped ----------------------------------------------------------

LEAKY_SUITE = """
import logging, os, sys
from pathlib import Path
import allure, pytest

log = logging.getLogger("leaky")
TOKEN = os.environ["SYNTHMON_TEST_TOKEN"]
FILE_PW = Path(os.environ["SYNTHMON_DB_PASSWORD_FILE"]).read_text().strip()

@pytest.fixture
def logged_in():
    log.error("login refused for %s", FILE_PW)
    raise RuntimeError(f"login refused for password {FILE_PW}")

def test_http_exchange(stack, http, record_property):
    response = http.get(f"{stack.app_url}/echo", headers={"X-Chaos-Token": TOKEN})
    exchange = f"GET {response.request.url} -> {response.status_code} {response.text}"
    log.warning("exchange: %s", exchange)
    print(exchange)
    print(f"password {FILE_PW}", file=sys.stderr)
    record_property("exchange", exchange)
    allure.attach(exchange, name="exchange", attachment_type=allure.attachment_type.TEXT)
    with allure.step(f"sent token {TOKEN}"):
        pass
    assert response.json()["ok"], f"echo said: {response.text}"

def test_assertion_introspection():
    token = TOKEN
    assert token == "the expected token"

def test_fixture_error(logged_in):
    pass

def test_skip_reason():
    pytest.skip(f"no access with {FILE_PW}")
"""


class _Echo(BaseHTTPRequestHandler):
    """Answers every GET with the request's headers (so credentials come back in the body)."""

    def do_GET(self) -> None:
        body = json.dumps({"ok": False, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@dataclasses.dataclass
class Run:
    """One run of the leaky suite: its streams and every file it wrote, by name."""

    code: int
    outputs: dict[str, str]
    needles: dict[str, str]

    def leaks(self) -> dict[str, list[str]]:
        """Output name -> names of the secrets found in it."""
        found = {
            name: [what for what, needle in self.needles.items() if needle in text]
            for name, text in self.outputs.items()
        }
        return {name: whats for name, whats in found.items() if whats}


def run_leaky_suite(tmp: Path, port: int, *, redacted: bool) -> Run:
    hexes = {what: secrets.token_hex(8) for what in ("token", "file", "url")}
    token = f'tok\\"&<q>-{hexes["token"]}'  # a backslash, quote and XML specials on purpose
    url_password = f"urlpw-{hexes['url']}"
    suite, out = tmp / "suite", tmp / "out"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_leaky.py").write_text(LEAKY_SUITE)
    password_file = tmp / "db-password"
    password_file.write_text(f"filepw-{hexes['file']}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTHMON_", "PYTEST_"))}
    env.update(SYNTHMON_TEST_TOKEN=token, SYNTHMON_DB_PASSWORD_FILE=str(password_file))
    plugin = "synthmon.redact" if redacted else "no:synthmon.redact"  # -p: load or block it
    done = subprocess.run(
        [str(PYTEST), "test_leaky.py", "-p", plugin, "-p", "no:cacheprovider", "-ra", "-l", "-v",
         "-o", "log_cli=true", "-o", "junit_logging=all", "-o", "junit_family=xunit1",
         "--log-file", str(out / "pytest.log"), "--junitxml", str(out / "junit.xml"),
         "--alluredir", str(out / "allure"), "--stack", "external", "--run-dir", str(out / "runs"),
         "--target-url", f"http://synth:{url_password}@127.0.0.1:{port}",
         "--prometheus-url", f"http://127.0.0.1:{port}"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    outputs = {"stdout": done.stdout, "stderr": done.stderr}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        outputs[str(path.relative_to(out))] = path.read_text(errors="replace")
    basic = base64.b64encode(f"synth:{url_password}".encode()).decode()
    return Run(done.returncode, outputs, {**hexes, "basic-auth": basic})


@pytest.mark.parametrize("redacted", [False, True], ids=["without-redaction", "redacted"])
def test_planted_secrets_appear_in_no_output(
    tmp_path: Path, echo_port: int, redacted: bool
) -> None:
    run = run_leaky_suite(tmp_path, echo_port, redacted=redacted)
    assert run.code == 1, run.outputs["stdout"][-3000:] + run.outputs["stderr"][-3000:]
    assert "= 2 failed, 1 skipped, 1 error in" in run.outputs["stdout"], run.outputs["stdout"][
        -2000:
    ]
    assert any(name.startswith("allure/") for name in run.outputs), sorted(run.outputs)
    leaks = run.leaks()
    if redacted:
        assert leaks == {}, f"secrets leaked into: {leaks}"
        assert MASK in run.outputs["stdout"] and MASK in run.outputs["junit.xml"]
        return
    # The control run: every channel carries the secrets, so the grep above means something.
    for channel in ("stdout", "junit.xml", "pytest.log"):
        assert {"token", "file", "url"} <= set(leaks.get(channel, [])), (channel, leaks)
    allure_leaks = {what for name, whats in leaks.items() if name.startswith("allure/")
                    for what in whats}  # fmt: skip
    assert {"token", "file", "url", "basic-auth"} <= allure_leaks, leaks


# -- values the project reads from ${env:VAR} are secrets, whatever the variable's name ---------

ENV_SUITE = """
import logging, os
import allure

log = logging.getLogger("leaky")

def test_leaks(synthmon_settings, record_property):
    used, unused = os.environ["LINKCHECK_CRED"], os.environ["UNRELATED_VALUE"]
    nightly = os.environ["NIGHTLY_CRED"]
    for value in (used, unused, nightly):
        log.warning("value: %s", value)
        print(f"printed {value}")
        record_property("value", value)
        allure.attach(f"attached {value}", name="v", attachment_type=allure.attachment_type.TEXT)
    assert used == unused, f"{used} != {unused} ({nightly})"
"""


def test_values_of_the_projects_env_references_appear_in_no_output(tmp_path: Path) -> None:
    """The project reads $LINKCHECK_CRED (a service's env) and $NIGHTLY_CRED (an environment's
    token): neither name looks like a secret, both values are masked in the terminal, the log
    file, the JUnit XML and the Allure results; $UNRELATED_VALUE, which the project does not
    read, shows in each of them (the channels are real, the masking is not blanket)."""
    import shutil

    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/linkcheck", root, ignore=shutil.ignore_patterns("__pycache__"))
    project = root / "synthmon.yaml"
    anchor = '      LINKCHECK_UPSTREAM_URL: "${upstream.url}"\n'
    text = project.read_text().replace(
        anchor, anchor + '      LINKCHECK_CRED: "${env:LINKCHECK_CRED}"\n'
    )
    assert "env:LINKCHECK_CRED" in text
    project.write_text(
        text + "environments:\n  nightly:\n    target_url: http://127.0.0.1:9\n"
        "    prometheus_url: http://127.0.0.1:9\n    bearer_token_env: NIGHTLY_CRED\n"
    )
    suite, out = tmp_path / "suite", tmp_path / "out"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_env_leak.py").write_text(ENV_SUITE)
    values = {name: f"v{secrets.token_hex(8)}" for name in
              ("LINKCHECK_CRED", "NIGHTLY_CRED", "UNRELATED_VALUE")}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTHMON_", "PYTEST_"))}
    done = subprocess.run(
        [str(PYTEST), "test_env_leak.py", "-p", "no:cacheprovider", "-ra", "-l", "-v",
         "-o", "log_cli=true", "-o", "junit_logging=all", "--log-file", str(out / "pytest.log"),
         "--junitxml", str(out / "junit.xml"), "--alluredir", str(out / "allure"),
         "--project", str(project), "--environment", "nightly", "--run-dir", str(out / "runs")],
        cwd=suite, env={**env, **values}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    outputs = {"stdout": done.stdout, "stderr": done.stderr}
    outputs |= {str(p.relative_to(out)): p.read_text(errors="replace")
                for p in out.rglob("*") if p.is_file()}  # fmt: skip
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout[-3000:]
    channels = ("stdout", "pytest.log", "junit.xml", "allure")

    def found_in(value: str) -> set[str]:
        return {c for name, text in outputs.items() if value in text
                for c in channels if name == c or name.startswith(c + "/")}  # fmt: skip

    assert found_in(values["UNRELATED_VALUE"]) == set(channels), sorted(outputs)
    for name in ("LINKCHECK_CRED", "NIGHTLY_CRED"):
        assert found_in(values[name]) == set(), (
            f"${name}'s value leaked into {found_in(values[name])}"
        )
    assert MASK in outputs["junit.xml"] and MASK in outputs["stdout"]
