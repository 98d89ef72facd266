"""The external stack's settings and clients: secrets only from env or files and never shown,
one line naming the option for every bad input, and real TLS (our own CA, a server that
demands a client certificate and a bearer token) through each client synthmon builds."""

from __future__ import annotations

import dataclasses
import json
import re
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from synthmon import external
from synthmon.errors import ConfigError, QueryError
from synthmon.load import LoadProfile
from synthmon.settings import OPTIONS, Settings
from tests._programs import require

TOKEN = "tok-3f9a1c7e5b2d"
PASSWORD = "pw-8d2e6b1a9c4f"
EXTERNAL = {"stack": "external", "target_url": "https://127.0.0.1:1", "prometheus_url": "http://p"}


def build(options: dict[str, str] | None = None, env: dict[str, str] | None = None) -> Settings:
    given = options or {}
    return Settings.from_values(lambda opt: given.get(opt.name), env or {})


def secret_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "secret"
    path.write_text(text)
    return str(path)


# -- settings -----------------------------------------------------------------------------------


def test_synthetic_defaults() -> None:
    settings = build()
    assert (settings.allow_destructive, settings.allow_load) == (False, False)
    assert settings.slo_lookback == 86400.0
    assert settings.pushgateway_url is None and settings.bearer_token is None
    assert settings.dashboards == Path("monitoring/grafana/dashboards")  # no project given


def test_switches_lookback_and_urls() -> None:
    settings = build(
        {"allow_destructive": "1", "slo_lookback": "90m", "pushgateway_url": "http://pg:9091/"},
        {"SYNTHMON_ALLOW_LOAD": "yes"},
    )
    assert (settings.allow_destructive, settings.allow_load) == (True, True)
    assert settings.slo_lookback == 5400.0
    assert settings.pushgateway_url == "http://pg:9091"


def test_secrets_only_from_env_or_file_and_never_in_repr(tmp_path: Path) -> None:
    assert {o.name for o in OPTIONS if not o.cli} == {"bearer_token", "basic_auth_password"}
    from_env = build(EXTERNAL, {"SYNTHMON_BEARER_TOKEN": TOKEN})
    assert from_env.bearer_token is not None and from_env.bearer_token.value == TOKEN
    path = secret_file(tmp_path, f"{PASSWORD}\n")
    from_file = build({**EXTERNAL, "basic_auth_user": "synth", "basic_auth_password_file": path})
    assert from_file.basic_auth_password is not None
    assert from_file.basic_auth_password.value == PASSWORD, "the trailing newline is not kept"
    dumped = repr(dataclasses.asdict(from_env))  # what a report or log might serialise
    shown_all = (repr(from_env), str(from_env), repr(from_file), repr(from_env.bearer_token))
    for shown in (*shown_all, dumped):
        assert TOKEN not in shown and PASSWORD not in shown
    assert "SYNTHMON_BEARER_TOKEN" in repr(from_env.bearer_token)
    config = external.client_config(from_file)
    assert PASSWORD not in repr(config) and "Basic" in repr(config)


def test_credentials_go_to_external_stacks_only() -> None:
    local = build({"stack": "processes"}, {"SYNTHMON_BEARER_TOKEN": TOKEN})
    assert external.client_config(local).headers == {}
    remote = build(EXTERNAL, {"SYNTHMON_BEARER_TOKEN": TOKEN})
    assert external.client_config(remote).headers == {"Authorization": f"Bearer {TOKEN}"}
    assert external.client_config(remote).without_auth().headers == {}


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        ({"slo_lookback": "a day"}, {}, "--slo-lookback: 'a day' is not a Prometheus duration"),
        ({"slo_lookback": "0s"}, {}, "--slo-lookback: expected a duration > 0, got '0s'"),
        ({}, {"SYNTHMON_ALLOW_LOAD": "maybe"}, "SYNTHMON_ALLOW_LOAD: expected 1/0, true/false"),
        ({"pushgateway_url": "pg:9091"}, {}, "--pushgateway-url: expected an http(s) URL"),
        ({"bearer_token_file": "/nonexistent/t"}, {}, "--bearer-token-file: cannot read "
         "/nonexistent/t: No such file or directory"),
        ({"ca_file": "/nonexistent/ca.pem"}, {}, "--ca-file: cannot read /nonexistent/ca.pem"),
        ({"bearer_token_file": "SECRET"}, {"SYNTHMON_BEARER_TOKEN": TOKEN},
         "give SYNTHMON_BEARER_TOKEN or --bearer-token-file, not both"),
        ({"basic_auth_user": "synth"}, {}, "--basic-auth-user needs --basic-auth-password too"),
        ({"basic_auth_user": "u"}, {"SYNTHMON_BEARER_TOKEN": TOKEN, "SYNTHMON_BASIC_AUTH_PASSWORD":
         PASSWORD}, "give bearer auth (SYNTHMON_BEARER_TOKEN) or basic auth"),
        ({"client_key": "SECRET"}, {}, "--client-key needs --client-cert too"),
        ({"bearer_token_file": "EMPTY"}, {}, "is empty (expected the secret on its first line)"),
    ],
)  # fmt: skip
def test_bad_synthetic_settings_fail_in_one_line(
    options: dict[str, str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    files = {"SECRET": secret_file(tmp_path, TOKEN), "EMPTY": str(tmp_path / "empty")}
    (tmp_path / "empty").write_text("\n")
    options = {k: files.get(v, v) for k, v in options.items()}
    with pytest.raises(ConfigError) as caught:
        build(options, env)
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert TOKEN not in text and PASSWORD not in text


# -- load cap -----------------------------------------------------------------------------------

SMOKE = LoadProfile("smoke", 5, 5, 2, 10, 10, constant_throughput=True)


@pytest.mark.parametrize(
    ("profile", "capped"),
    [
        (LoadProfile("tiny", 2, 2, 1, 5, 4, constant_throughput=True), False),
        (LoadProfile("baseline", 20, 10, 5, 60, 40, constant_throughput=True), True),
        (LoadProfile("long", 5, 5, 2, 600, 5, constant_throughput=True), True),
        (LoadProfile("closed", 3, 3, 1, 10, None, 0.0, 0.0), True),  # no wait: unbounded rate
        (LoadProfile("paced", 3, 3, 1, 10, None, 1.0, 2.0), False),  # at most 3 req/s
    ],
)
def test_load_is_capped_to_the_smoke_profile(profile: LoadProfile, capped: bool) -> None:
    assert external.cap_load(profile, SMOKE) == (SMOKE if capped else profile)


# -- real TLS and auth --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    require("openssl")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "1", "-subj", "/CN=synthmon test CA", cwd=d)  # fmt: skip
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                 f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(extra + "\n" if extra else "basicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile",
                 f"{name}.ext", cwd=d)  # fmt: skip
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")


class _Guarded(BaseHTTPRequestHandler):
    """Answers like Prometheus/Alertmanager/the app, only with the right bearer token."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            body, status = b'{"status":"error","error":"unauthorized"}', 401
        elif self.path.startswith("/api/v1/query"):
            body, status = b'{"status":"success","data":{"resultType":"vector","result":[]}}', 200
        else:
            body, status = json.dumps({"path": self.path, "status": "ok"}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_url(pki: Pki) -> Iterator[str]:
    """A 127.0.0.1 HTTPS server that requires a client certificate signed by our CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Guarded)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def tls_settings(url: str, pki: Pki, token: str = TOKEN, **options: str) -> Settings:
    given = {
        "stack": "external", "target_url": url, "prometheus_url": url, "alertmanager_url": url,
        "ca_file": str(pki.ca), "client_cert": str(pki.client_cert),
        "client_key": str(pki.client_key), **options,
    }  # fmt: skip
    return build({k: v for k, v in given.items() if v}, {"SYNTHMON_BEARER_TOKEN": token})


def test_every_client_speaks_tls_with_client_cert_and_token(https_url: str, pki: Pki) -> None:
    settings = tls_settings(https_url, pki)
    config = external.client_config(settings)
    with config.httpx_client(5) as client:
        assert client.get(f"{https_url}/health").json() == {"path": "/health", "status": "ok"}
    with external.prometheus(settings, https_url) as prom:
        assert prom.query("up") == []
    with external.alertmanager(settings, https_url) as am:
        assert am.status() == {"path": "/api/v2/status", "status": "ok"}


def test_tls_without_our_ca_or_client_cert_fails(https_url: str, pki: Pki) -> None:
    no_ca = external.client_config(tls_settings(https_url, pki, ca_file=""))
    with no_ca.httpx_client(5) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        client.get(f"{https_url}/health")
    no_cert = tls_settings(https_url, pki, client_cert="", client_key="")
    with (
        external.client_config(no_cert).httpx_client(5) as client,
        pytest.raises(httpx.HTTPError),
    ):
        client.get(f"{https_url}/health").raise_for_status()


def test_wrong_token_is_refused_and_no_message_shows_a_secret(https_url: str, pki: Pki) -> None:
    settings = tls_settings(https_url, pki, token="tok-wrong-0123456")
    with (
        external.prometheus(settings, https_url) as prom,
        pytest.raises(QueryError, match="HTTP 401") as caught,
    ):
        prom.query("up")
    assert "tok-wrong-0123456" not in str(caught.value)


def test_bad_pem_is_a_one_line_config_error(pki: Pki, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    settings = tls_settings("https://127.0.0.1:1", pki, client_cert=str(bogus), client_key="")
    with pytest.raises(ConfigError, match=r"--client-cert: .*bogus\.pem .* is not a PEM") as e:
        external.client_config(settings).ssl_context()
    assert "\n" not in str(e.value)


# -- the pipeline examples use options that exist -----------------------------------------------

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "pipelines").rglob("*.yml"))


def _gate_flags() -> set[str]:
    import argparse

    from synthmon import cli

    [sub] = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices["gate"]._option_string_actions)


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):  # keys too: env: and variables: name settings
        return [s for pair in node.items() for part in pair for s in _strings(part)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pipeline_examples_use_real_options_and_env(example: Path) -> None:
    commands = [re.sub(r"\\\n\s*", " ", s) for s in _strings(yaml.safe_load(example.read_text()))]
    text = "\n".join(commands)
    unknown_env = set(re.findall(r"\bSYNTHMON_[A-Z_]+\b", text)) - {o.env for o in OPTIONS}
    assert not unknown_env, f"{example}: no such setting: {sorted(unknown_env)}"
    pytest_flags = {o.flag for o in OPTIONS if o.cli} | {"--junitxml", "--alluredir"}
    checked = 0
    for line in text.splitlines():
        used = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", line))
        if re.search(r"(^|[\s/])pytest\s", line) or "PYTEST_RUN_ARGS" in line:
            assert used <= pytest_flags, f"{example}: pytest has no {sorted(used - pytest_flags)}"
            checked += 1
        if "synthmon gate" in line:
            assert used <= _gate_flags(), f"{example}: gate has no {sorted(used - _gate_flags())}"
            checked += 1
    assert checked, f"{example}: runs neither pytest nor synthmon gate"


# -- --environment NAME: a project file's deployed environment ---------------------------------

ROOT = Path(__file__).resolve().parents[1]


def environment_project(
    tmp_path: Path,
    target: str = "https://linkcheck.${env:STAGING_DOMAIN}",
    prometheus: str = "https://prom.example.net",
) -> Path:
    """A copy of the second example whose project file has two environments."""
    import shutil

    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/linkcheck", root, ignore=shutil.ignore_patterns("__pycache__"))
    project = root / "synthmon.yaml"
    project.write_text(project.read_text() + f"""
environments:
  staging:
    target_url: {target}
    prometheus_url: {prometheus}
    alertmanager_url: {prometheus}/am
    pushgateway_url: https://pg.example.net
    bearer_token_env: STAGING_TOKEN
  prod:
    target_url: https://prod.example.net
    prometheus_url: https://prom.prod.example.net
    basic_auth_user: nightly
    basic_auth_password_env: ${{env:PROD_PASSWORD}}
""")  # fmt: skip
    return project


STAGING_ENV = {"STAGING_DOMAIN": "staging.example.net", "STAGING_TOKEN": TOKEN}


def test_an_environment_sets_what_the_individual_options_would(tmp_path: Path) -> None:
    project = str(environment_project(tmp_path))
    chosen = build({"project": project, "environment": "staging"}, STAGING_ENV)
    by_hand = build(
        {"project": project, "stack": "external",
         "target_url": "https://linkcheck.staging.example.net",
         "prometheus_url": "https://prom.example.net",
         "alertmanager_url": "https://prom.example.net/am",
         "pushgateway_url": "https://pg.example.net"},
        {"SYNTHMON_BEARER_TOKEN": TOKEN},
    )  # fmt: skip
    assert chosen.environment == "staging" and chosen.stack == "external"
    assert dataclasses.replace(chosen, environment=None, bearer_token=None) == (
        dataclasses.replace(by_hand, bearer_token=None)
    )
    assert chosen.bearer_token is not None and chosen.bearer_token.value == TOKEN
    assert external.client_config(chosen).headers == external.client_config(by_hand).headers
    assert TOKEN not in repr(chosen) and "STAGING_TOKEN" in repr(chosen.bearer_token)
    # the same from env, and basic auth from a ${env:VAR} reference
    prod = build({}, {"SYNTHMON_PROJECT": project, "SYNTHMON_ENVIRONMENT": "prod",
                      "PROD_PASSWORD": PASSWORD})  # fmt: skip
    assert (prod.target_url, prod.basic_auth_user) == ("https://prod.example.net", "nightly")
    assert prod.basic_auth_password is not None and prod.basic_auth_password.value == PASSWORD
    assert prod.alertmanager_url is None and prod.bearer_token is None


def test_options_given_explicitly_beat_the_environments(tmp_path: Path) -> None:
    project = str(environment_project(tmp_path))
    settings = build(
        {"project": project, "environment": "staging", "target_url": "https://canary:8443"},
        {**STAGING_ENV, "SYNTHMON_PROMETHEUS_URL": "https://other-prom"},
    )
    assert (settings.target_url, settings.prometheus_url) == (
        "https://canary:8443", "https://other-prom",
    )  # fmt: skip
    assert settings.alertmanager_url == "https://prom.example.net/am"


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        ({"environment": "stagin"}, STAGING_ENV,
         r"--environment: \S+synthmon\.yaml has no environment 'stagin' \(known: prod, staging\)"),
        ({"environment": "staging"}, {"STAGING_DOMAIN": "x"},
         r"\S+synthmon\.yaml environments\.staging\.bearer_token_env: \$STAGING_TOKEN is not set"),
        ({"environment": "staging"}, {"STAGING_TOKEN": TOKEN},
         r"environments\.staging\.target_url: \$\{env:STAGING_DOMAIN\}: \$STAGING_DOMAIN is not"),
        ({"environment": "staging", "stack": "processes"}, STAGING_ENV,
         r"--environment staging is a deployed environment \(an external stack\); --stack "
         r"processes contradicts it"),
        ({"environment": "prod", "bearer_token_file": "TOKENFILE"}, {"PROD_PASSWORD": PASSWORD},
         r"give bearer auth \(--bearer-token-file \S+\) or basic auth \(\S+synthmon\.yaml "
         r"environments\.prod\.basic_auth_user\), not both"),
    ],
)  # fmt: skip
def test_a_bad_environment_fails_in_one_line_naming_the_file(
    tmp_path: Path, options: dict[str, str], env: dict[str, str], message: str
) -> None:
    project = str(environment_project(tmp_path))
    given = {k: secret_file(tmp_path, TOKEN) if v == "TOKENFILE" else v for k, v in options.items()}
    with pytest.raises(ConfigError) as caught:
        build({"project": project, **given}, env)
    assert re.search(message, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value) and TOKEN not in str(caught.value)


def test_an_environment_without_a_project_says_so() -> None:
    with pytest.raises(ConfigError, match=r"--environment staging: no project file"):
        build({"environment": "staging"})


def test_an_environments_credentials_reach_its_servers(
    https_url: str, pki: Pki, tmp_path: Path
) -> None:
    """Token from the environment's variable, TLS from options: every client gets through
    (and a wrong token in the variable is refused: the check can fail)."""
    project = str(environment_project(tmp_path, target=https_url, prometheus=https_url))
    tls = {"ca_file": str(pki.ca), "client_cert": str(pki.client_cert),
           "client_key": str(pki.client_key)}  # fmt: skip
    settings = build({"project": project, "environment": "staging", **tls}, STAGING_ENV)
    assert settings.alertmanager_url == f"{https_url}/am"
    with external.client_config(settings).httpx_client(5) as client:
        assert client.get(f"{settings.target_url}/health").json()["status"] == "ok"
    with external.prometheus(settings, str(settings.prometheus_url)) as prom:
        assert prom.query("up") == []
    wrong = build({"project": project, "environment": "staging", **tls},
                  {**STAGING_ENV, "STAGING_TOKEN": "tok-wrong-0123456"})  # fmt: skip
    with (
        external.prometheus(wrong, str(wrong.prometheus_url)) as prom,
        pytest.raises(QueryError, match="HTTP 401"),
    ):
        prom.query("up")
