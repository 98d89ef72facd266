"""Self-tests of the runbook's log analysis over a log store (synthmon.logstore).

A real VictoriaLogs (built from its Go module) is fed OTLP log records by the OpenTelemetry SDK's
OTLP/HTTP log exporter, the way the app's logs reach it: a healthy window passes, an unexpected
ERROR fails quoting the line, an allow-listed one passes, zero lines fails. The Loki client is
tested on recorded-format answers (tests/data/loki/: Loki is AGPL and is not run here), replayed
over an httpx transport that checks each request; the same analysis passes and fails on them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from synthmon.errors import ConfigError, HttpError
from synthmon.gobuild import victorialogs_binary
from synthmon.health import line_problem
from synthmon.logstore.allow import parse_allow
from synthmon.logstore.analysis import analyse, lookback_window, run_window
from synthmon.logstore.loki import Loki
from synthmon.logstore.model import LogLine, LogStore, Window
from synthmon.logstore.stores import open_store
from synthmon.logstore.victorialogs import VictoriaLogs
from synthmon.ports import HOST, free_ports
from synthmon.projectfile import load_project
from synthmon.waiting import NotYet, wait_until

DATA = Path(__file__).resolve().parent / "data" / "loki"
SERVICE = "shop-api"
QUERY = f'service.name:"{SERVICE}"'
# the SDK's own handler, as the app uses it (its move to an instrumentation package is news)
pytestmark = pytest.mark.filterwarnings("ignore:`LoggingHandler`:DeprecationWarning")


@contextlib.contextmanager
def real_victorialogs(data: Path) -> Iterator[str]:
    """VictoriaLogs on 127.0.0.1 for the block (terminated and reaped after)."""
    port = free_ports(1)[0]
    argv = [
        str(victorialogs_binary()),
        f"-httpListenAddr={HOST}:{port}",
        f"-storageDataPath={data}",
    ]
    log = data.parent / "victorialogs.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"victoria-logs exited {proc.returncode}: {log.read_text()[-500:]}")
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout_s=30, interval_s=0.1, what=f"VictoriaLogs {url}/health")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def victorialogs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with real_victorialogs(tmp_path_factory.mktemp("vl") / "data") as url:
        yield url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture
def service(request: pytest.FixtureRequest) -> str:
    """A service.name of this test's own, so tests sharing the store see only their lines."""
    return f"{SERVICE}-{request.node.name.replace('[', '-').rstrip(']')}"


@contextlib.contextmanager
def otlp_logger(url: str, service: str) -> Iterator[logging.Logger]:
    """A logger whose records go to ``url`` as OTLP logs (sent as each is logged)."""
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPLogExporter(endpoint=f"{url}/insert/opentelemetry/v1/logs")
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger(f"selftest.{service}")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        provider.shutdown()


def shipped(store: LogStore, query: str, start: datetime, count: int) -> None:
    """Wait until the store shows ``count`` lines (its ingestion is not instant)."""

    def probe() -> bool | NotYet:
        end = datetime.now(UTC) + timedelta(seconds=1)
        found = len(store.lines(query, start, end))
        return found >= count or NotYet(f"{found} lines")

    wait_until(probe, timeout_s=15, interval_s=0.2, what=f"{count} lines for {query}")


def window_of(logged: Callable[[logging.Logger], None], url: str, service: str, count: int,
              http: httpx.Client) -> tuple[VictoriaLogs, Window]:  # fmt: skip
    store = VictoriaLogs(url, http)
    start = datetime.now(UTC) - timedelta(milliseconds=10)
    with otlp_logger(url, service) as logger:
        logged(logger)
    shipped(store, f'service.name:"{service}"', start, count)
    return store, Window(start, datetime.now(UTC) + timedelta(seconds=1), "this test's")


def healthy(logger: logging.Logger) -> None:
    logger.info("request", extra={"path": "/api/tasks", "status": 200})
    logger.warning("database unavailable", extra={"error": "ConnectError"})
    logger.info("request", extra={"path": "/health", "status": 200})


def test_a_healthy_window_passes(victorialogs: str, service: str, http: httpx.Client) -> None:
    store, window = window_of(healthy, victorialogs, service, 3, http)
    report = analyse(store, f'service.name:"{service}"', window)
    assert report.problems() == []
    assert report.has_lines and not report.offending


def unexpected(logger: logging.Logger) -> None:
    healthy(logger)
    try:
        {}["user"]
    except KeyError:
        logger.exception("unhandled error", extra={"path": "/api/tasks/{id}"})


def test_an_unexpected_error_fails_quoting_the_line(
    victorialogs: str, service: str, http: httpx.Client
) -> None:
    store, window = window_of(unexpected, victorialogs, service, 4, http)
    problems = analyse(store, f'service.name:"{service}"', window).problems()
    assert len(problems) == 1, problems
    assert (
        f'1 unexpected ERROR/CRITICAL/FATAL or out-of-memory line for service.name:"{service}"'
        in problems[0]
    )
    assert "ERROR unhandled error (exception.message=user exception.type=KeyError" in problems[0]
    assert "path=/api/tasks/{id}" in problems[0] and "database unavailable" not in problems[0]


def test_an_allow_listed_error_passes_and_is_listed(
    victorialogs: str, service: str, http: httpx.Client
) -> None:
    store, window = window_of(unexpected, victorialogs, service, 4, http)
    allow = parse_allow([{"pattern": r"unhandled error .*KeyError", "why": "the fault of test X"}])
    report = analyse(store, f'service.name:"{service}"', window, allow)
    assert report.problems() == []
    assert "allowed (the fault of test X): " in report.summary()


def test_out_of_memory_at_warning_level_fails(
    victorialogs: str, service: str, http: httpx.Client
) -> None:
    def oom(logger: logging.Logger) -> None:
        logger.warning("worker killed: Out of memory (oom-kill)")

    store, window = window_of(oom, victorialogs, service, 1, http)
    problems = analyse(store, f'service.name:"{service}"', window).problems()
    assert len(problems) == 1 and "WARN worker killed: Out of memory (oom-kill)" in problems[0]


def test_an_error_before_the_window_is_not_read(
    victorialogs: str, service: str, http: httpx.Client
) -> None:
    store, window = window_of(unexpected, victorialogs, service, 4, http)
    later = Window(window.end, window.end + timedelta(seconds=1), "later")
    with otlp_logger(victorialogs, service) as logger:
        time.sleep(max(0.0, (later.start - datetime.now(UTC)).total_seconds()) + 0.05)
        logger.info("request", extra={"status": 200})
    shipped(store, f'service.name:"{service}"', later.start, 1)
    assert analyse(store, f'service.name:"{service}"', later).problems() == []


def test_zero_lines_fail(victorialogs: str, http: httpx.Client) -> None:
    store = VictoriaLogs(victorialogs, http)
    window = lookback_window(3600, "--logs-lookback")
    problems = analyse(store, 'service.name:"nobody"', window).problems()
    assert problems == [
        f'VictoriaLogs {victorialogs}: the log store holds no lines for service.name:"nobody" in '
        f"{window}: is the app shipping logs?"
    ]
    assert "(the last 1h, --logs-lookback)" in problems[0]


def test_a_bad_query_gets_the_stores_own_error_in_one_line(
    victorialogs: str, http: httpx.Client
) -> None:
    window = lookback_window(60, "test")
    with pytest.raises(HttpError) as caught:
        VictoriaLogs(victorialogs, http).lines("service.name:(", window.start, window.end)
    message = str(caught.value)
    assert message.startswith(f"VictoriaLogs {victorialogs}: GET /select/logsql/query?")
    assert "HTTP 400: cannot parse `query` arg" in message and "\n" not in message


def test_an_unreachable_store_says_so(http: httpx.Client) -> None:
    url = f"http://{HOST}:{free_ports(1)[0]}"
    window = lookback_window(60, "test")
    with pytest.raises(HttpError, match=rf"^VictoriaLogs {url}: .*unreachable: Connection refused"):
        analyse(VictoriaLogs(url, http), QUERY, window)


# -- Loki, on recorded-format answers -----------------------------------------------------------

LOKI = "http://loki.invalid:3100"
LOKI_QUERY = '{service_name="manager-app"}'
LOKI_WINDOW = Window(
    datetime(2025, 12, 1, 18, 29, tzinfo=UTC), datetime(2025, 12, 1, 18, 30, tzinfo=UTC), "test"
)


def loki(answers: dict[str, str], seen: list[httpx.Request]) -> Loki:
    """A Loki client whose transport replays ``answers`` (query → file), checking each request
    the way Loki would: path, the parameters it needs, nanosecond times, direction."""

    def replay(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/loki/api/v1/query_range"
        params = request.url.params
        assert {"query", "start", "end", "limit", "direction"} <= set(params)
        assert int(params["start"]) == int(LOKI_WINDOW.start.timestamp()) * 10**9
        assert params["direction"] == "backward"
        name = answers.get(params["query"], "empty.json")
        body = (DATA / name).read_bytes()
        if name.endswith(".txt"):
            return httpx.Response(400, content=body, headers={"content-type": "text/plain"})
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return Loki(LOKI, httpx.Client(transport=httpx.MockTransport(replay)))


def test_loki_answers_parse_into_lines() -> None:
    lines = loki({LOKI_QUERY: "healthy.json"}, []).lines(
        LOKI_QUERY, LOKI_WINDOW.start, LOKI_WINDOW.end
    )
    assert [(line.level, line.text) for line in lines] == [
        ("INFO", "request"), ("WARN", "database unavailable"), ("INFO", "request"),
    ]  # fmt: skip
    assert lines[0].time == datetime(2025, 12, 1, 18, 29, 39, 445737, tzinfo=UTC)
    assert lines[1].fields["error"] == "ConnectError"


@pytest.mark.parametrize("answer", ["unexpected_error.json", "categorized.json"])
def test_the_same_analysis_fails_on_a_loki_error_line(answer: str) -> None:
    seen: list[httpx.Request] = []
    store = loki({LOKI_QUERY: "healthy.json"}, seen)
    narrowed = store.problem_queries(LOKI_QUERY)
    store = loki({LOKI_QUERY: "healthy.json", narrowed[0]: answer}, seen)
    problems = analyse(store, LOKI_QUERY, LOKI_WINDOW).problems()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"Loki {LOKI}: 1 unexpected ERROR/CRITICAL/FATAL")
    assert "2025-12-01T18:29:41.450Z ERROR unhandled error (" in problems[0]
    assert "exception_type=ZeroDivisionError" in problems[0]
    assert [r.url.params["query"] for r in seen] == [LOKI_QUERY, *narrowed]


def test_the_same_analysis_passes_on_healthy_loki_answers() -> None:
    store = loki({LOKI_QUERY: "healthy.json"}, [])
    assert analyse(store, LOKI_QUERY, LOKI_WINDOW).problems() == []


def test_no_loki_lines_fail() -> None:
    problems = analyse(loki({}, []), LOKI_QUERY, LOKI_WINDOW).problems()
    assert problems == [
        f"Loki {LOKI}: the log store holds no lines for {LOKI_QUERY} in {LOKI_WINDOW}: "
        "is the app shipping logs?"
    ]


def test_a_bad_loki_query_gets_lokis_error_in_one_line() -> None:
    with pytest.raises(HttpError) as caught:
        analyse(loki({LOKI_QUERY: "bad_query.txt"}, []), LOKI_QUERY, LOKI_WINDOW)
    assert str(caught.value).startswith(f"Loki {LOKI}: GET /loki/api/v1/query_range?")
    assert str(caught.value).endswith(
        "HTTP 400: parse error at line 1, col 16: syntax error: unexpected IDENTIFIER, "
        "expecting STRING"
    )


def test_a_loki_answer_of_another_shape_is_an_error() -> None:
    def matrix(request: httpx.Request) -> httpx.Response:
        body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
        return httpx.Response(200, content=json.dumps(body))

    store = Loki(LOKI, httpx.Client(transport=httpx.MockTransport(matrix)))
    with pytest.raises(HttpError, match=r"expected data\.resultType streams, got 'matrix'"):
        store.lines('sum(rate({a="b"}[1m]))', LOKI_WINDOW.start, LOKI_WINDOW.end)


# -- the factory, the allow-list, the windows ----------------------------------------------------


def test_the_factory_knows_both_apis_and_names_the_setting(http: httpx.Client) -> None:
    assert isinstance(open_store("victorialogs", "http://h:9428/", http), VictoriaLogs)
    assert isinstance(open_store("loki", "http://h:3100", http), Loki)
    with pytest.raises(ConfigError, match=r"^--logs-api: expected one of victorialogs, loki, got"):
        open_store("elastic", "http://h:9200", http, where="--logs-api")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ERROR", r"telemetry.logs_allow: expected a list of \{pattern, why\}"),
        ([{"pattern": "x"}], r"telemetry.logs_allow\[0\]: expected \{pattern: REGEX, why: TEXT\}"),
        ([{"pattern": "x", "why": " "}], r"logs_allow\[0\].why: expected why this line"),
        ([{"pattern": "(", "why": "w"}], r"logs_allow\[0\].pattern: '\(' is no regular expr"),
    ],
)
def test_a_bad_allow_list_names_the_entry(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_allow(raw)


def test_the_runs_window_starts_at_its_run_directory(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    made = time.strftime("run-%Y%m%d-%H%M%S-4242", time.localtime(now.timestamp() - 90))
    window = run_window(tmp_path / made, now)
    assert 89 <= (now - window.start).total_seconds() <= 91
    assert str(window).endswith("(the run's own window)")
    with pytest.raises(ConfigError, match="not a run directory of synthmon's"):
        run_window(tmp_path / "elsewhere")


AT = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("level", "text", "fields", "problem"),
    [
        ("ERROR", "boom", {}, True),
        ("FATAL2", "boom", {}, True),
        ("critical", "boom", {}, True),
        ("", "boom", {"severity_number": "21"}, True),  # OTLP FATAL without a text
        ("WARN", "database unavailable", {"error": "ConnectionError"}, False),
        ("INFO", "request", {"severity_number": "9"}, False),
        ("", '{"level": "ERROR", "event": "x"}', {}, True),  # a JSON line shipped as text
        ("INFO", "allocating", {"exception.type": "MemoryError"}, True),
        ("INFO", "killed by the oom-kill", {}, True),
    ],
)
def test_which_store_lines_the_runbook_looks_for(
    level: str, text: str, fields: dict[str, str], problem: bool
) -> None:
    assert line_problem(LogLine(AT, level, text, fields)) is problem


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "manager-app"


def example_with(tmp_path: Path, allow: str) -> Path:
    """The reference example's project file with ``allow`` under its telemetry.logs_allow."""
    shutil.copytree(EXAMPLE, tmp_path / "example", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "example" / "synthmon.yaml"
    text = path.read_text()
    assert "\ntelemetry:\n" in text
    path.write_text(text.replace("\ntelemetry:\n", f"\ntelemetry:\n  logs_allow:\n{allow}", 1))
    return path


def test_the_project_file_holds_the_allow_list(tmp_path: Path) -> None:
    path = example_with(tmp_path, "    - {pattern: 'unhandled error', why: 'the fault X'}\n")
    telemetry = load_project(str(path)).telemetry
    assert telemetry is not None
    assert [(a.pattern.pattern, a.why) for a in telemetry.logs_allow] == [
        ("unhandled error", "the fault X")
    ]


def test_a_bad_pattern_in_the_project_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = example_with(tmp_path, "    - {pattern: 'unhandled (error', why: 'x'}\n")
    with pytest.raises(ConfigError) as caught:
        load_project(str(path))
    assert str(caught.value) == (
        f"{path}: telemetry.logs_allow[0].pattern: 'unhandled (error' is no regular expression: "
        "missing ), unterminated subpattern at position 10"
    )
