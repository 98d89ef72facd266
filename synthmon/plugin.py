"""The pytest plugin (entry point ``pytest11``): options, markers, fixtures, run summary.

Fixtures are few and named for what they give; override any of them in a conftest.py.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from synthmon import external, progress
from synthmon.errors import SynthmonError
from synthmon.project import Project
from synthmon.settings import OPTIONS, Settings
from synthmon.stack import Stack, open_stack

if TYPE_CHECKING:
    from synthmon.alerting import AlertmanagerClient
    from synthmon.faults import Faults
    from synthmon.load import LoadProfile, LoadResult
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
    "load": "drives load with Locust",
    "slo": "evaluates SLO objectives in Prometheus",
    "dashboards": "runs every dashboard panel's PromQL against Prometheus (read-only)",
}
# Read-only checks first, measurements before faults, faults last: a fault never disturbs
# what another check measures.
ORDER = ("health", "load", "slo", "dashboards", "alert", "destructive")
SERIAL_MARKERS = ("load", "slo", "alert", "destructive")

_settings_key = pytest.StashKey[Settings]()
_stack_key = pytest.StashKey[Stack]()
_load_key = pytest.StashKey["LoadResult"]()
slo_report_key = pytest.StashKey[str]()


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
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    try:
        settings = Settings.from_values(
            lambda option: config.getoption(f"synthmon_{option.name}", None), ini=_ini(config)
        )
        if external.client_config(settings).has_tls:
            external.client_config(settings).ssl_context()  # bad PEM: fail before any start
    except SynthmonError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_settings_key] = settings
    progress.configure(config)
    if settings.pushgateway_url and not hasattr(config, "workerinput"):
        from synthmon.pushgateway import PushResults

        pusher = PushResults(config, settings, lambda: config.stash.get(_stack_key, None))
        config.pluginmanager.register(pusher, "synthmon-pushgateway")
    _register_secrets(config, settings)


def _ini(config: pytest.Config) -> dict[str, tuple[str, str]]:
    """``synthmon_project`` of the ini file, relative to it."""
    value = str(config.getini("synthmon_project") or "")
    if not value or config.inipath is None:
        return {}
    return {
        "project": (str(config.inipath.parent / value), f"{config.inipath.name} synthmon_project")
    }


def _register_secrets(config: pytest.Config, settings: Settings) -> None:
    """Secrets read from --*-file options are masked in every output too (synthmon.redact
    finds env and SYNTHMON_*_FILE secrets itself, not files named on the command line)."""
    from synthmon.redact import redactor_of

    headers = external.client_config(settings).headers
    for header in settings.project.secret_headers if settings.project else ():
        redactor_of(config).add_header(header)
    for secret in (settings.bearer_token, settings.basic_auth_password):
        if secret is not None:
            redactor_of(config).add(secret.value)
    for value in headers.values():
        redactor_of(config).add(value.partition(" ")[2])  # the base64 of user:password


def _load_profile(settings: Settings) -> dict[str, LoadProfile]:
    """The profiles file, with the chosen profile in it; else a one-line usage error."""
    from synthmon.load import load_profiles

    try:
        profiles = load_profiles(settings.load_profiles)
    except SynthmonError as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.load_profile not in profiles:
        raise pytest.UsageError(
            f"{settings.where('load_profile')}: no profile {settings.load_profile!r} in "
            f"{settings.load_profiles} (have: {', '.join(profiles)})"
        )
    return profiles


def _project(settings: Settings) -> Project:
    if settings.project is None:
        pytest.fail(f"no project: give {settings.where('project')}", pytrace=False)
    return settings.project


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings, for hooks that run before fixtures (pytest_generate_tests)."""
    return config.stash[_settings_key]


def _rank(item: pytest.Item) -> int:
    ranks = [i for i, name in enumerate(ORDER) if item.get_closest_marker(name)]
    return max(ranks, default=0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: file order is kept within a rank
    settings = config.stash.get(_settings_key, None)
    if settings is not None and settings.stack == "external" and not settings.allow_destructive:
        for item in items:  # somebody else's environment: no faults unless allowed
            if item.get_closest_marker("destructive"):
                item.add_marker(pytest.mark.skip(reason=external.DESTRUCTIVE_SKIP))
    if (
        settings is not None
        and not hasattr(config, "workerinput")  # the controller checks it once, cleanly
        and any({"load_run", "slo_report"} & set(getattr(i, "fixturenames", ())) for i in items)
    ):
        _load_profile(settings)  # a bad profiles file fails before any stack starts
    # Under pytest-xdist (--dist loadgroup, see pytest.ini) every worker has its own stack;
    # whatever changes a stack or measures it runs on one worker, in the order above, so a
    # fault never overlaps a measurement. Read-only checks spread over the other workers.
    for item in items:
        if any(item.get_closest_marker(m) for m in SERIAL_MARKERS):
            item.add_marker(pytest.mark.xdist_group("stack-mutating"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The run at a glance: checks by outcome, the SLO verdict table, where everything is.

    Shown when this process opened a stack or any check (a test with a synthmon marker) ran;
    under xdist the counts and the SLO table come from the reports the workers sent.
    """
    from synthmon import progress

    config, write = terminalreporter.config, terminalreporter.write_line
    stack = config.stash.get(_stack_key, None)
    checks = progress.count_checks(terminalreporter.stats, MARKERS)
    if stack is None and not checks.count:
        return
    terminalreporter.write_sep("-", "synthmon")
    for line in progress.check_lines(checks, MARKERS):
        write(line, red=bool(checks.failed), green=not checks.failed)
    table = config.stash.get(slo_report_key, None)
    table = table or progress.user_property(terminalreporter.stats, "synthmon_slo_table")
    if table is not None:
        write(table.rstrip())
    load = config.stash.get(_load_key, None)
    if load is not None:
        write(
            f"load ({load.profile}): {load.requests} requests, {load.failures} failed, "
            f"{load.achieved_rps:.1f} req/s over {load.duration_s:.1f} s; "
            f"Locust report {load.files.get('html')}"
        )
    allure_dir = getattr(config.option, "allure_report_dir", None)
    for line in progress.where_lines(getattr(config.option, "xmlpath", None), allure_dir):
        write(line)
    if stack is not None:
        reason = f" ({stack.reason})" if stack.reason else ""
        write(f"stack: {stack.kind}{reason}; run directory: {stack.run_dir}")
        if stack.runner is not None:
            write(f"service logs: {stack.run_dir / 'logs'}")


@pytest.fixture(scope="session")
def synthmon_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's settings (options, SYNTHMON_* env, defaults), validated."""
    return pytestconfig.stash[_settings_key]


@pytest.fixture(scope="session")
def stack(synthmon_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Stack]:
    """The stack under test (started once per session, always torn down)."""
    try:
        with open_stack(synthmon_settings) as running:
            from synthmon.redact import redactor_of  # loaded as a plugin: import late

            for secret in running.secrets.values():
                redactor_of(pytestconfig).add(secret)
            pytestconfig.stash[_stack_key] = running
            yield running
    except SynthmonError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


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
    from synthmon.load import run_load

    try:
        profiles, name = _load_profile(synthmon_settings), synthmon_settings.load_profile
    except pytest.UsageError as exc:  # on an xdist worker: a one-line failure, no INTERNALERROR
        raise pytest.fail.Exception(str(exc), pytrace=False) from None
    profile = profiles[name]
    cap = profiles.get(external.LOAD_CAP_PROFILE)
    if stack.kind == "external" and not synthmon_settings.allow_load:
        if cap is None:
            pytest.skip(
                f"load on an external stack needs --allow-load, or a profile "
                f"{external.LOAD_CAP_PROFILE!r} in {synthmon_settings.load_profiles} as the cap"
            )
        profile = external.cap_load(profile, cap)
        if profile is not profiles[name]:
            warnings.warn(
                f"external stack: load profile {external.describe_load(profiles[name])} is "
                f"above the cap; running {external.describe_load(cap)} (--allow-load lifts it)",
                stacklevel=1,
            )
    progress.waiting(f"load run {profile.name}", profile.ramp_s + profile.steady_s)
    result = run_load(
        stack.app_url,
        profile,
        stack.run_dir / "load" / profile.name,
        workers=synthmon_settings.load_workers,
        locustfile=_project(synthmon_settings).locustfile,
    )
    pytestconfig.stash[_load_key] = result
    return result


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
    from synthmon.slo import evaluate, load_spec
    from synthmon.slo.gate import gate_after_load

    spec = load_spec(synthmon_settings.slo_spec)
    if stack.kind == "external":
        now = time.time()
        report = evaluate(spec, prom, (now - synthmon_settings.slo_lookback, now))
    else:
        load: LoadResult = request.getfixturevalue("load_run")
        # the window's last samples are in Prometheus after one more scrape and evaluation
        settle = stack.scrape_interval_s + stack.evaluation_interval_s
        report = gate_after_load(spec, prom, load, settle)
    report.to_json(stack.run_dir / "slo-report.json")
    pytestconfig.stash[slo_report_key] = report.render_table(show_promql=True)
    return report
