"""The run summary at the end of a synthmon session (synthmon.plugin's pytest_terminal_summary)."""

from __future__ import annotations

import pytest

from synthmon import progress
from synthmon.settings import Settings
from synthmon.stack import Stack
from synthmon.stash import coverage_key, kept_key, load_key, slo_report_key, stack_key


def write_summary(
    terminalreporter: pytest.TerminalReporter, markers: tuple[str, ...], settings: Settings
) -> None:
    """The run at a glance: checks by outcome, the SLO verdict table, where everything is.

    Shown when this process opened a stack or any check (a test with a synthmon marker) ran;
    under xdist the counts and the SLO table come from the reports the workers sent.
    """
    config, write = terminalreporter.config, terminalreporter.write_line
    stack = config.stash.get(stack_key, None)
    checks = progress.count_checks(terminalreporter.stats, markers)
    if stack is None and not checks.count:
        return
    terminalreporter.write_sep("-", "synthmon")
    for line in progress.check_lines(checks, markers):
        write(line, red=bool(checks.failed), green=not checks.failed)
    table = config.stash.get(slo_report_key, None)
    table = table or progress.user_property(terminalreporter.stats, "synthmon_slo_table")
    if table is not None:
        write(table.rstrip())
    load = config.stash.get(load_key, None)
    if load is not None:
        write(
            f"load ({load.profile}): {load.requests} requests, {load.failures} failed, "
            f"{load.achieved_rps:.1f} req/s over {load.duration_s:.1f} s; "
            f"Locust report {load.files.get('html')}"
        )
    from synthmon import run_report

    project = settings.project
    monitoring = run_report.lines(terminalreporter.stats, project)
    for line in monitoring:
        write(line, yellow=line.startswith("warning:"))
    short = config.stash.get(coverage_key, None)
    if short:
        write(short, red=True, bold=True)
    if stack is not None and project is not None:
        lines = run_report.version_lines(stack, project, settings)
        if stack.kind != "external":
            lines += run_report.scaling_lines(project, stack.time_scale)
        for line in lines:
            write(line)
    allure_dir = getattr(config.option, "allure_report_dir", None)
    if allure_dir and monitoring:
        run_report.write_allure_environment(allure_dir, monitoring)
    for line in progress.where_lines(getattr(config.option, "xmlpath", None), allure_dir):
        write(line)
    if stack is not None:
        reason = f" ({stack.reason})" if stack.reason else ""
        write(f"stack: {stack.kind}{reason}; run directory: {stack.run_dir}")
        for note in stack.notes:
            write(note)
        if stack.runner is not None:
            write(f"service logs: {stack.run_dir / 'logs'}")
        kept = config.stash.get(kept_key, None)
        for line in _kept_lines(stack, kept) if kept else ():
            write(line, yellow=True, bold=line.startswith("stop it"))


def _kept_lines(stack: Stack, why: str) -> list[str]:
    from synthmon.up import stop_command, url_lines

    if why != "kept":
        return [why]
    return [
        "stack kept running (--keep-stack, a check failed):",
        *url_lines(stack),
        f"stop it: {stop_command(stack.run_dir)}",
    ]
