"""The pytest plugin (entry point ``pytest11``): options, markers, fixtures, run summary.

Fixtures are few and named for what they give; override any of them in a conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from synthmon.errors import SynthmonError
from synthmon.settings import OPTIONS, Settings
from synthmon.stack import Stack, open_stack

if TYPE_CHECKING:
    from synthmon.alerting import AlertmanagerClient
    from synthmon.faults import Faults
    from synthmon.load import LoadResult
    from synthmon.prom import Prometheus
    from synthmon.scenario import AlertScenario
    from synthmon.sinks import SinkClient

MARKERS = {
    "health": "a runbook health check (read-only)",
    "alert": "an alert scenario: fault, rule fires, routed notification, recovery",
    "destructive": "injects faults into the stack; skipped on an external stack unless allowed",
    "load": "drives load with Locust",
    "slo": "evaluates SLO objectives in Prometheus",
}
# Read-only checks first, measurements before faults, faults last: a fault never disturbs
# what another check measures.
ORDER = ("health", "load", "slo", "alert", "destructive")
SERIAL_MARKERS = ("load", "slo", "alert", "destructive")

_settings_key = pytest.StashKey[Settings]()
_stack_key = pytest.StashKey[Stack]()
_load_key = pytest.StashKey["LoadResult"]()
slo_report_key = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("synthmon", "synthmon: synthetic monitoring and SLO checks")
    for option in OPTIONS:
        default = f" (env {option.env}; default {option.default})" if option.default else ""
        group.addoption(
            option.flag, dest=f"synthmon_{option.name}", default=None,
            help=f"{option.help}{default or f' (env {option.env})'}",
        )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    try:
        config.stash[_settings_key] = Settings.from_values(
            lambda option: config.getoption(f"synthmon_{option.name}")
        )
    except SynthmonError as exc:
        raise pytest.UsageError(str(exc)) from None


def _rank(item: pytest.Item) -> int:
    ranks = [i for i, name in enumerate(ORDER) if item.get_closest_marker(name)]
    return max(ranks, default=0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: file order is kept within a rank
    # Under pytest-xdist (--dist loadgroup, see pytest.ini) every worker has its own stack;
    # whatever changes a stack or measures it runs on one worker, in the order above, so a
    # fault never overlaps a measurement. Read-only checks spread over the other workers.
    for item in items:
        if any(item.get_closest_marker(m) for m in SERIAL_MARKERS):
            item.add_marker(pytest.mark.xdist_group("stack-mutating"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stack = terminalreporter.config.stash.get(_stack_key, None)
    if stack is None:
        return
    terminalreporter.write_sep("-", "synthmon")
    terminalreporter.write_line(f"stack: {stack.kind}; run directory: {stack.run_dir}")
    if stack.runner is not None:
        terminalreporter.write_line(f"service logs: {stack.run_dir / 'logs'}")
    load = terminalreporter.config.stash.get(_load_key, None)
    if load is not None:
        terminalreporter.write_line(
            f"load ({load.profile}): {load.requests} requests, {load.failures} failed, "
            f"{load.achieved_rps:.1f} req/s over {load.duration_s:.1f} s; "
            f"report {load.files.get('html')}"
        )
    table = terminalreporter.config.stash.get(slo_report_key, None)
    if table is not None:
        terminalreporter.write_line(table)


@pytest.fixture(scope="session")
def synthmon_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's settings (options, SYNTHMON_* env, defaults), validated."""
    return pytestconfig.stash[_settings_key]


@pytest.fixture(scope="session")
def stack(synthmon_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Stack]:
    """The stack under test (started once per session, always torn down)."""
    try:
        with open_stack(synthmon_settings) as running:
            pytestconfig.stash[_stack_key] = running
            yield running
    except SynthmonError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def http(synthmon_settings: Settings) -> Iterator[httpx.Client]:
    """An httpx client with the run's timeout."""
    with httpx.Client(timeout=synthmon_settings.http_timeout) as client:
        yield client


@pytest.fixture(scope="session")
def prom(stack: Stack, synthmon_settings: Settings) -> Prometheus:
    """The stack's Prometheus (prometheus-api-client underneath, always with a timeout)."""
    from synthmon.prom import Prometheus

    return Prometheus(stack.prometheus_url, timeout=synthmon_settings.http_timeout)


@pytest.fixture(scope="session")
def alertmanager(stack: Stack, synthmon_settings: Settings) -> AlertmanagerClient:
    """Alertmanager API v2 (alerts, silences) of the stack."""
    from synthmon.alerting import AlertmanagerClient

    if stack.alertmanager_url is None:
        pytest.skip("not configured: no Alertmanager URL for this stack")
    return AlertmanagerClient(stack.alertmanager_url, timeout=synthmon_settings.http_timeout)


@pytest.fixture(scope="session")
def sinks(stack: Stack, synthmon_settings: Settings) -> SinkClient:
    """What the notification sinks (PagerDuty, Slack, email stand-ins) received."""
    from synthmon.sinks import SinkClient

    if stack.sinks_url is None:
        pytest.skip("not available: an external stack has no local notification sinks")
    return SinkClient(stack.sinks_url, timeout=synthmon_settings.http_timeout)


@pytest.fixture
def faults(stack: Stack, synthmon_settings: Settings) -> Iterator[Faults]:
    """Fault injection (stop/kill/pause services, app chaos); every fault is undone after."""
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
    from synthmon.load import load_profiles, run_load

    profiles = load_profiles(synthmon_settings.load_profiles)
    name = synthmon_settings.load_profile
    if name not in profiles:
        raise pytest.UsageError(
            f"{synthmon_settings.where('load_profile')}: no profile {name!r} in "
            f"{synthmon_settings.load_profiles} (have: {', '.join(profiles)})"
        )
    result = run_load(
        stack.app_url,
        profiles[name],
        stack.run_dir / "load" / name,
        workers=synthmon_settings.load_workers,
    )
    pytestconfig.stash[_load_key] = result
    return result
