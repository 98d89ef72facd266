"""The runbook's "Log Analysis": the service's ERROR/CRITICAL/FATAL lines and out-of-memory
mentions, read from the log store it ships its logs to (VictoriaLogs here, or a user's Loki).

Window: on a stack synthmon starts, the run's own (its run directory's making to now); on an
external stack (nightly), the last ``--logs-lookback``. It must run after every other check, so
that the window holds the alert scenarios' faults (marker ``logs``, ranked last by the plugin);
the lines those make the app log on purpose are the project's ``telemetry.logs_allow``
({pattern, why}); any other problem line fails, quoted. Zero lines fail too: no data is not
success.

Fallback: a stack synthmon started without a log store reads the app's log file, and says so.
"""

from __future__ import annotations

import httpx
import pytest

from synthmon import evidence
from synthmon.errors import SynthmonError
from synthmon.health import log_problems
from synthmon.logstore.allow import LogAllow
from synthmon.logstore.analysis import analyse, lookback_window, run_window
from synthmon.logstore.stores import open_store
from synthmon.project import Project
from synthmon.settings import Settings
from synthmon.stack import Stack

# `logs` runs it after every other check (synthmon/plugin.py ORDER): its window holds the faults
pytestmark = [pytest.mark.health, pytest.mark.logs]

NO_STORE = "the stack has no log store (project file telemetry.logs, or --logs-url)"


def test_app_logs_have_no_unexpected_errors_or_memory_trouble(
    stack: Stack, project: Project, http: httpx.Client, synthmon_settings: Settings
) -> None:
    telemetry = project.telemetry
    allow: tuple[LogAllow, ...] = telemetry.logs_allow if telemetry is not None else ()
    if stack.logs_url is None:
        app_log_file(stack, project, allow)
        return
    if telemetry is None:
        pytest.fail(
            f"log store {stack.logs_url}: the project file has no telemetry: section "
            "(its service_name or logs_query selects the app's lines)",
            pytrace=False,
        )
    settings = synthmon_settings
    try:
        store = open_store(stack.logs_api, stack.logs_url, http, where=settings.where("logs_api"))
        window = (
            run_window(stack.run_dir)
            if stack.runner is not None
            else lookback_window(settings.logs_lookback, settings.where("logs_lookback"))
        )
        with evidence.step(f"Log analysis: error and memory lines in {store.name} ({window})"):
            report = analyse(
                store, telemetry.logs_query, window, allow, settle_s=stack.telemetry_delay_s
            )
            evidence.attach_text("log analysis", report.summary())
    except SynthmonError as exc:
        pytest.fail(str(exc), pytrace=False)
    problems = report.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def app_log_file(stack: Stack, project: Project, allow: tuple[LogAllow, ...]) -> None:
    """The fallback: the app's log file of a stack synthmon started (none on an external one)."""
    if stack.runner is None:
        pytest.skip(f"not configured: {NO_STORE}, and an external stack gives no log file")
    log = stack.runner.log_path(project.target)
    with evidence.step(f"Log analysis: error and memory lines in the app log ({NO_STORE})"):
        lines = log.read_text(errors="replace").splitlines()
        found = log_problems(lines, limit=len(lines) or 1)
        offending = [line for line in found if not any(r.matches(line) for r in allow)]
        evidence.attach_text(
            "app log: error and memory lines",
            f"{log}: {len(lines)} lines read; unexpected ERROR/CRITICAL/FATAL or out-of-memory "
            f"lines: {len(offending)}\n" + "\n".join(offending[-20:]),
        )
    assert lines, f"{log} is empty ({NO_STORE}): is the app logging?"
    assert not offending, (
        f"{log} ({NO_STORE}, read instead) holds {len(offending)} unexpected error or "
        "out-of-memory lines (the last 20 at most):\n" + "\n".join(offending[-20:])
    )
