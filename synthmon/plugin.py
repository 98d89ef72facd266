"""The pytest plugin (entry point ``pytest11``): options, markers, fixtures, run summary.

Fixtures are few and named for what they give; override any of them in a conftest.py. They are
declared here; synthmon.fixtures does the longer work, synthmon.summary writes the run summary.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from synthmon import external, fixtures, progress
from synthmon.errors import SynthmonError
from synthmon.fixtures import load_profile as _load_profile
from synthmon.fixtures import project_of as _project
from synthmon.project import Project
from synthmon.secrets import REDACTED_URLS, env_values
from synthmon.settings import OPTIONS, Settings
from synthmon.stack import Stack
from synthmon.stash import coverage_key as _coverage_key
from synthmon.stash import slo_report_key as slo_report_key
from synthmon.stash import stack_key as _stack_key

if TYPE_CHECKING:
    from synthmon.alerting import AlertmanagerClient
    from synthmon.faults import Faults
    from synthmon.load import LoadResult
    from synthmon.prom import Prometheus
    from synthmon.scenario import AlertScenario
    from synthmon.sinks import SinkClient
    from synthmon.slo import SLOReport

# masks the run's secrets in reports, JUnit XML, Allure results and log records
pytest_plugins = ["synthmon.redact"]

MARKERS = {
    "health": "a runbook health check (read-only)",
    "alert": "an alert scenario: fault, rule fires, routed notification, recovery",
    "destructive": "injects faults into the stack; skipped on an external stack unless allowed",
    "traces": "the collector's health and synthetic requests traced into Jaeger (read-only)",
    "load": "drives load with Locust",
    "slo": "evaluates SLO objectives in Prometheus",
    "dashboards": "runs every dashboard panel's PromQL against Prometheus (read-only)",
    "logs": "the runbook's log analysis over the run's window: runs after every other check",
}
# Read-only checks first, measurements before faults, faults last: a fault never disturbs
# what another check measures. The log analysis after all: its window holds every fault.
ORDER = ("health", "traces", "load", "slo", "dashboards", "alert", "destructive", "logs")
SERIAL_MARKERS = ("load", "slo", "alert", "destructive", "logs")

#: The fixtures of this plugin: an item requesting one (and getting ours, not a conftest's
#: same-named fixture) is a synthmon check.
FIXTURES = frozenset(
    {"synthmon_settings", "stack", "http", "prom", "alertmanager", "sinks", "faults",
     "alert_scenario", "load_run", "slo_report", "project"}
)  # fmt: skip
#: Set on each synthmon item's keywords, so its reports tell an xdist controller (which
#: collects nothing) that the workers run synthmon checks.
CHECK_KEYWORD = "synthmon_check"

_markers_key = pytest.StashKey[tuple[str, ...]]()
_settings_key = pytest.StashKey[Settings]()
_error_key = pytest.StashKey[str]()
_active_key = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("synthmon", "synthmon: synthetic monitoring and SLO checks")
    parser.addini("synthmon_project", "the project under test when --project is not given")
    for option in OPTIONS:
        if not option.cli:  # a secret: env only, never on a command line
            continue
        default = f" (env {option.env}; default {option.default})" if option.default else ""
        takes = {"action": "store_const", "const": "1"} if option.switch else {}
        group.addoption(
            option.flag, dest=f"synthmon_{option.name}", default=None,
            help=f"{option.help}{default or f' (env {option.env})'}", **takes,
        )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    """Markers only, unless a synthmon option was given: the plugin is installed in venvs
    whose other projects must see no change (order, logging, a bad ``SYNTHMON_*`` value)."""
    config.stash[_markers_key] = ours = _our_markers(config)
    for name in ours:
        config.addinivalue_line("markers", f"{name}: {MARKERS[name]}")
    if any(config.getoption(f"synthmon_{o.name}", None) is not None for o in OPTIONS if o.cli):
        activate(config)  # a bad option fails here (exit 4), before any collection
    elif not hasattr(config, "workerinput"):
        config.pluginmanager.register(_ControllerWatch(config), "synthmon-controller-watch")


def _our_markers(config: pytest.Config) -> tuple[str, ...]:
    """Our marker names, less those the project registers itself (its own ``load`` marker
    means something else: such a test is not a synthmon check)."""
    theirs = {re.split(r"[(:]", line, maxsplit=1)[0].strip() for line in config.getini("markers")}
    return tuple(name for name in MARKERS if name not in theirs)


def markers_of(config: pytest.Config) -> tuple[str, ...]:
    """The synthmon markers of this session (see :func:`_our_markers`)."""
    return config.stash.get(_markers_key, tuple(MARKERS))


def is_active(config: pytest.Config) -> bool:
    """Whether this session uses synthmon (an option given, a synthmon check collected)."""
    return config.stash.get(_active_key, False)


def _settings(config: pytest.Config) -> Settings:
    """The run's settings, built and validated once; a bad value is a one-line UsageError."""
    if _settings_key in config.stash:
        return config.stash[_settings_key]
    if _error_key not in config.stash:
        try:
            settings = Settings.from_values(
                lambda option: config.getoption(f"synthmon_{option.name}", None),
                ini=_ini(config),
            )
            if external.client_config(settings).has_tls:
                external.client_config(settings).ssl_context()  # bad PEM: fail before a start
        except SynthmonError as exc:
            config.stash[_error_key] = str(exc)
        else:
            config.stash[_settings_key] = settings
            return settings
    raise pytest.UsageError(config.stash[_error_key])


def activate(config: pytest.Config) -> Settings:
    """Synthmon is used in this session: validate the settings, then (once) turn on progress
    lines, redaction, the Pushgateway push and the summary. Raises ``pytest.UsageError``."""
    settings = _settings(config)
    if is_active(config):
        return settings
    config.stash[_active_key] = True
    progress.configure(config)
    redaction = config.pluginmanager.get_plugin("synthmon.redact")  # None if -p no:
    if redaction is not None:
        redaction.activate(config)
    if settings.pushgateway_url and not hasattr(config, "workerinput"):
        from synthmon.pushgateway import PushResults

        pusher = PushResults(config, settings, lambda: config.stash.get(_stack_key, None))
        config.pluginmanager.register(pusher, "synthmon-pushgateway")
    _register_secrets(config, settings)
    return settings


class _ControllerWatch:
    """An xdist controller collects nothing: it learns that synthmon is used from the first
    report of a synthmon check a worker sends (a worker fails each check on bad settings)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if CHECK_KEYWORD not in report.keywords or is_active(self.config):
            return
        try:
            activate(self.config)
        except pytest.UsageError:
            return
        pusher = self.config.pluginmanager.get_plugin("synthmon-pushgateway")
        if pusher is not None:  # registered during this hook call: it missed this report
            pusher.pytest_runtest_logreport(report)


def _ini(config: pytest.Config) -> dict[str, tuple[str, str]]:
    """``synthmon_project`` of the ini file, relative to it; else synthmon.yaml at the rootdir."""
    value = str(config.getini("synthmon_project") or "")
    if not value or config.inipath is None:
        found = config.rootpath / "synthmon.yaml"
        return {"project": (str(found), f"{found} (the rootdir's)")} if found.is_file() else {}
    return {
        "project": (str(config.inipath.parent / value), f"{config.inipath.name} synthmon_project")
    }


def _register_secrets(config: pytest.Config, settings: Settings) -> None:
    """Secrets read from --*-file options, an environment's credentials and every variable the
    project reads (``${env:VAR}``, whatever its name) are masked in every output too
    (synthmon.redact finds sensitive-named env and SYNTHMON_*_FILE secrets itself)."""
    from synthmon.redact import redactor_of

    redactor = redactor_of(config)
    for header in settings.project.secret_headers if settings.project else ():
        redactor.add_header(header)
    for secret in external.secrets_of(settings):
        redactor.add(secret)
    for value in env_values(settings.project, os.environ) if settings.project else ():
        redactor.add(value)
    for name in REDACTED_URLS:
        redactor.add_url(getattr(settings, name))  # from an environment: no option to scan


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings, for hooks that run before fixtures (pytest_generate_tests); using
    them makes the session a synthmon one. Bad settings fail the collecting module in one
    line; the session then ends with the usage error (pytest_collection_modifyitems)."""
    try:
        return activate(config)
    except pytest.UsageError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


def _rank(item: pytest.Item) -> int:
    ours = markers_of(item.config)
    ranks = [i for i, name in enumerate(ORDER) if name in ours and item.get_closest_marker(name)]
    return max(ranks, default=0)


def _gets_our_fixture(item: pytest.Item) -> bool:
    """Whether the item gets one of our fixtures: a conftest's same-named fixture replaces
    ours unless it requests the name itself (an override that builds on ours)."""
    info = getattr(item, "_fixtureinfo", None)
    defs_by_name = getattr(info, "name2fixturedefs", {})
    for name in FIXTURES.intersection(getattr(item, "fixturenames", ())):
        for fixturedef in reversed(defs_by_name.get(name, ())):
            if getattr(fixturedef.func, "__module__", None) == __name__:
                return True
            if name not in fixturedef.argnames:
                break
    return False


def is_check(item: pytest.Item) -> bool:
    """A synthmon check: it carries a synthmon marker or gets a synthmon fixture."""
    ours = markers_of(item.config)
    return any(item.get_closest_marker(m) for m in ours) or _gets_our_fixture(item)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    checks = [item for item in items if is_check(item)]
    if not checks and not is_active(config) and _error_key not in config.stash:
        return  # not a synthmon session: the items, logging and settings stay untouched
    # Only checks move, among the places checks hold; any other test keeps its place.
    chosen = set(checks)
    for place, item in zip(
        [i for i, item in enumerate(items) if item in chosen],
        sorted(checks, key=_rank),  # stable: file order is kept within a rank
        strict=True,
    ):
        items[place] = item
    # Under pytest-xdist (--dist loadgroup, see pytest.ini) every worker has its own stack;
    # whatever changes a stack or measures it runs on one worker, in the order above, so a
    # fault never overlaps a measurement. Read-only checks spread over the other workers.
    for item in checks:
        item.keywords[CHECK_KEYWORD] = True
        if any(item.get_closest_marker(m) for m in SERIAL_MARKERS if m in markers_of(config)):
            item.add_marker(pytest.mark.xdist_group("stack-mutating"))
    try:
        settings = activate(config)
    except pytest.UsageError:
        if hasattr(config, "workerinput"):
            return  # a worker: each check fails with the message (synthmon_settings)
        raise
    if settings.stack == "external" and not settings.allow_destructive:
        for item in checks:  # somebody else's environment: no faults unless allowed
            if item.get_closest_marker("destructive"):
                item.add_marker(pytest.mark.skip(reason=external.DESTRUCTIVE_SKIP))
    for item in checks:  # a starter project file has no load: or slo: (skipped, saying so)
        why = fixtures.not_configured(settings, set(getattr(item, "fixturenames", ())))
        if why:
            item.add_marker(pytest.mark.skip(reason=why))
    if not hasattr(config, "workerinput") and any(  # the controller checks it once, cleanly
        {"load_run", "slo_report"} & set(getattr(i, "fixturenames", ()))
        and not i.get_closest_marker("skip")
        for i in checks
    ):
        _load_profile(settings)  # a bad profiles file fails before any stack starts


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """--min-alert-coverage: the run fails when too few alert rules had a passing scenario."""
    config = session.config
    if not is_active(config) or hasattr(config, "workerinput"):
        return
    settings = settings_of(config)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if settings.project is None or not settings.min_alert_coverage or reporter is None:
        return
    from synthmon import run_report

    short = run_report.coverage_shortfall(
        reporter.stats, settings.project, settings.min_alert_coverage
    )
    if short:
        config.stash[_coverage_key] = short
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The run at a glance (synthmon.summary): checks by outcome, the SLO verdict table, where
    everything is."""
    config = terminalreporter.config
    if not is_active(config):
        return
    from synthmon.summary import write_summary

    write_summary(terminalreporter, markers_of(config), settings_of(config))


@pytest.fixture(scope="session")
def synthmon_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's settings (options, SYNTHMON_* env, defaults), validated."""
    try:
        return activate(pytestconfig)
    except pytest.UsageError as exc:  # on an xdist worker: a one-line failure per check
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


@pytest.fixture(scope="session")
def stack(
    synthmon_settings: Settings, pytestconfig: pytest.Config, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """The stack under test (started once per session, torn down unless ``--keep-stack`` and
    a check failed)."""
    yield from fixtures.session_stack(synthmon_settings, pytestconfig, request.session)


@pytest.fixture(scope="session")
def project(synthmon_settings: Settings) -> Project:
    """The project under test (``--project``): its services, monitoring files and routing."""
    return _project(synthmon_settings)


@pytest.fixture(scope="session")
def http(synthmon_settings: Settings) -> Iterator[httpx.Client]:
    """An httpx client with the run's timeout (and an external stack's credentials and TLS)."""
    config = external.client_config(synthmon_settings)
    with config.httpx_client(synthmon_settings.http_timeout) as client:
        yield client


@pytest.fixture(scope="session")
def prom(stack: Stack, synthmon_settings: Settings) -> Prometheus:
    """The stack's Prometheus (prometheus-api-client underneath, always with a timeout)."""
    return external.prometheus(synthmon_settings, stack.prometheus_url)


@pytest.fixture(scope="session")
def alertmanager(stack: Stack, synthmon_settings: Settings) -> AlertmanagerClient:
    """Alertmanager API v2 (alerts, silences) of the stack."""
    if stack.alertmanager_url is None:
        pytest.skip("not configured: no Alertmanager URL for this stack")
    return external.alertmanager(synthmon_settings, stack.alertmanager_url)


@pytest.fixture(scope="session")
def sinks(stack: Stack, synthmon_settings: Settings) -> SinkClient:
    """What the notification sinks (PagerDuty, Slack, email stand-ins) received."""
    from synthmon.sinks import SinkClient

    if stack.sinks_url is None:
        pytest.skip("not available: an external stack has no local notification sinks")
    return SinkClient(stack.sinks_url, timeout=synthmon_settings.http_timeout)


@pytest.fixture
def faults(stack: Stack, synthmon_settings: Settings) -> Iterator[Faults]:
    """Fault injection (stop/kill/pause services, the project's faults); all undone after."""
    from synthmon.faults import Faults

    if stack.runner is None:
        pytest.skip("destructive: an external stack takes no faults")
    with Faults(stack, timeout=synthmon_settings.http_timeout) as injector:
        yield injector


@pytest.fixture(scope="session")
def alert_scenario(stack: Stack, prom: Prometheus, sinks: SinkClient) -> AlertScenario:
    """Runs a runbook alert scenario (fault → fire → notify → resolve) on this stack."""
    from synthmon.scenario import AlertScenario

    return AlertScenario(stack, prom, sinks)


@pytest.fixture(scope="session")
def load_run(stack: Stack, synthmon_settings: Settings, pytestconfig: pytest.Config) -> LoadResult:
    """The session's Locust run (profile ``--load-profile``) against the stack, done once."""
    return fixtures.session_load(stack, synthmon_settings, pytestconfig)


@pytest.fixture(scope="session")
def slo_report(
    stack: Stack,
    prom: Prometheus,
    synthmon_settings: Settings,
    pytestconfig: pytest.Config,
    request: pytest.FixtureRequest,
) -> SLOReport:
    """The SLO gate's report, written to <run dir>/slo-report.json: on a stack synthmon runs,
    over the load run's steady window; on an external one, over the last ``--slo-lookback``
    (real traffic, no load run needed)."""
    return fixtures.session_slo_report(stack, prom, synthmon_settings, pytestconfig, request)
