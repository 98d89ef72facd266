"""The plugin is inert in a session that does not use synthmon (issue 11, part 3).

synthmon's pytest11 entry point loads in every pytest run of the venv it is installed in, so
another project's run must not change: a bad ``SYNTHMON_*`` value fails nothing, the items
keep pytest's order and logging keeps the standard record factory. Each run is a real pytest
subprocess in this venv (the entry point is only active there); each check has a control run
where synthmon is used and the same check sees the change, so none passes by accident.
"""

from __future__ import annotations

import os
import socket

import pytest

from synthmon import plugin

pytest_plugins = ["pytester"]

# Another team's project: its own markers named like ours (the old sort ranked them: alert
# after health, across files) and its own fixture named like one of ours.
UNRELATED = {
    "conftest.py": """
import pytest

@pytest.fixture
def http():
    return "our own http client"
""",
    "test_one.py": """
import logging
import pytest

def test_plain_first():
    pass

@pytest.mark.alert
def test_alerting_module():
    pass

def test_log_record_factory_is_the_standard_one():
    assert logging.getLogRecordFactory() is logging.LogRecord
""",
    "test_two.py": """
import pytest

@pytest.mark.health
def test_health_module():
    pass

def test_own_http_fixture(http):
    assert http == "our own http client"
""",
}
UNRELATED_INI = """
[pytest]
addopts = --strict-markers
markers =
    alert: tests of our alerting module
    health: tests of our health endpoint
"""
PYTEST_ORDER = [
    "test_one.py::test_plain_first",
    "test_one.py::test_alerting_module",
    "test_one.py::test_log_record_factory_is_the_standard_one",
    "test_two.py::test_health_module",
    "test_two.py::test_own_http_fixture",
]
# The same files in a synthmon project (the markers are synthmon's), plus a check that
# requests a synthmon fixture.
SYNTHMON_CHECK = """
def test_settings(synthmon_settings):
    assert synthmon_settings.time_scale > 0
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The unrelated project, run with no SYNTHMON_* or PYTEST_* variable of this session."""
    for name in list(os.environ):
        if name.startswith(("SYNTHMON_", "PYTEST_")):
            monkeypatch.delenv(name)
    pytester.makeini(UNRELATED_INI)
    pytester.makepyfile(**UNRELATED)
    return pytester


@pytest.fixture
def synthmon_project(project: pytest.Pytester) -> pytest.Pytester:
    """The same files where the markers are synthmon's, plus a synthmon check."""
    project.makeini("[pytest]\naddopts = --strict-markers\n")
    project.makepyfile(test_with_settings=SYNTHMON_CHECK)
    return project


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest_subprocess("--collect-only", "-q", *args)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    return [line for line in result.outlines if "::" in line]


def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# -- an unrelated project ---------------------------------------------------------------------


def test_unrelated_project_passes_with_a_bad_synthmon_setting(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHMON_TIME_SCALE", "abc")
    result = project.runpytest_subprocess("-v")
    result.assert_outcomes(passed=5)  # the record factory test among them
    assert "SYNTHMON_TIME_SCALE" not in result.stdout.str() + result.stderr.str()


def test_unrelated_project_keeps_pytest_order(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHMON_TIME_SCALE", "abc")
    assert collected(project, "-p", "no:synthmon") == PYTEST_ORDER
    assert collected(project) == PYTEST_ORDER


def test_unrelated_project_pushes_nothing_and_prints_no_summary(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHMON_PUSHGATEWAY_URL", closed_url())
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=5)
    said = [line for line in result.outlines if "synthmon" in line]
    assert not [line for line in said if not line.startswith("plugins: ")], said


# -- controls: where synthmon is used, each check sees the change ------------------------------


def test_control_a_synthmon_check_fails_on_the_bad_setting_in_one_line(
    synthmon_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHMON_TIME_SCALE", "abc")
    result = synthmon_project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    errors = [line for line in result.errlines if line.strip()]
    assert errors == ["ERROR: SYNTHMON_TIME_SCALE: expected a number > 0, got 'abc'"]


def test_control_a_fixture_alone_activates_synthmon(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No synthmon marker anywhere (the project owns them): requesting the fixture is enough."""
    project.makepyfile(test_with_settings=SYNTHMON_CHECK)
    monkeypatch.setenv("SYNTHMON_TIME_SCALE", "abc")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert "SYNTHMON_TIME_SCALE: expected a number > 0" in result.stderr.str()


def test_control_a_synthmon_option_fails_before_collection(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--time-scale", "abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line.strip()] == [
        "ERROR: --time-scale: expected a number > 0, got 'abc'"
    ]
    assert "collected" not in result.stdout.str()


def test_control_b_a_synthmon_run_sorts_its_checks_and_only_them(
    synthmon_project: pytest.Pytester,
) -> None:
    # checks (a synthmon marker or fixture) hold places 2, 4 and 6; health and the fixture-
    # only check (rank 0, file order) go before alert; the plain tests keep their places
    assert collected(synthmon_project) == [
        "test_one.py::test_plain_first",
        "test_two.py::test_health_module",
        "test_one.py::test_log_record_factory_is_the_standard_one",
        "test_with_settings.py::test_settings",
        "test_two.py::test_own_http_fixture",
        "test_one.py::test_alerting_module",
    ]


def test_control_c_a_synthmon_run_redacts_log_records(
    synthmon_project: pytest.Pytester,
) -> None:
    result = synthmon_project.runpytest_subprocess()
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED test_one.py::test_log_record_factory_is_the_standard_one*"]
    )


def test_control_a_synthmon_run_pushes_and_summarises(
    synthmon_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = closed_url()
    monkeypatch.setenv("SYNTHMON_PUSHGATEWAY_URL", url)
    result = synthmon_project.runpytest_subprocess("-k", "not log_record_factory")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the push failed
    result.stdout.fnmatch_lines(
        [
            f"synthmon: results NOT pushed: Pushgateway {url}: *",
            "*- synthmon -*",
            "checks: 2 passed",
        ]
    )


def test_fixture_names_are_the_plugins(project: pytest.Pytester) -> None:
    """FIXTURES decides what a synthmon check is: it must list every fixture the plugin has."""
    result = project.runpytest_subprocess("--fixtures")
    lines = result.outlines
    start = next(
        i for i, line in enumerate(lines) if "fixtures defined from synthmon.plugin" in line
    )
    names = set()
    for line in lines[start + 1 :]:
        if line.startswith("-") or line.startswith("="):
            break
        if line and not line[0].isspace():
            names.add(line.split()[0])
    assert names == plugin.FIXTURES
