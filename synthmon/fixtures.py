"""The work behind the plugin's fixtures. synthmon.plugin declares each fixture (its name, scope
and docstring stay there, so ``pytest --fixtures`` and a conftest's override find it where they
always did) and calls in here for the longer bodies."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from synthmon import external, progress
from synthmon.errors import SynthmonError
from synthmon.project import Project
from synthmon.settings import Settings
from synthmon.stack import Stack, open_stack
from synthmon.stash import kept_key, load_key, slo_report_key, stack_key

if TYPE_CHECKING:
    from synthmon.load import LoadProfile, LoadResult
    from synthmon.prom import Prometheus
    from synthmon.slo import SLOReport
    from synthmon.slo.spec import SLOSpec


def load_profile(settings: Settings) -> dict[str, LoadProfile]:
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


def not_configured(settings: Settings, fixturenames: set[str]) -> str | None:
    """Why a check needing the load run (``load_run``) or the SLO gate (``slo_report``) cannot
    run: its project file has no ``load:`` / ``slo:`` (a starter file); None: it can."""
    project = settings.project
    if project is None:
        return None
    if (
        "slo_report" in fixturenames
        and project.slo_spec is None
        and not settings.slo_spec.is_file()
    ):
        return f"not configured: {project.source} has no `slo:` (spec)"
    gate_loads = "slo_report" in fixturenames and settings.stack != "external"
    if ("load_run" in fixturenames or gate_loads) and project.locustfile is None:
        return f"not configured: {project.source} has no `load:` (locustfile, profiles)"
    return None


def project_of(settings: Settings) -> Project:
    if settings.project is None:
        pytest.fail(f"no project: give {settings.where('project')}", pytrace=False)
    return settings.project


def session_stack(
    settings: Settings, config: pytest.Config, session: pytest.Session
) -> Iterator[Stack]:
    """The ``stack`` fixture: started once per session, torn down unless ``--keep-stack`` and
    a check failed."""
    try:
        with open_stack(settings) as running:
            from synthmon.redact import redactor_of  # loaded as a plugin: import late

            for secret in running.secrets.values():
                redactor_of(config).add(secret)
            config.stash[stack_key] = running
            from synthmon.evidence import attach_stack_notes

            attach_stack_notes(running.kind, running.notes)  # in the Allure report too
            yield running
            kept = _keep_stack(settings, running, session)
            if kept is not None:
                config.stash[kept_key] = kept
    except SynthmonError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


def _keep_stack(settings: Settings, running: Stack, session: pytest.Session) -> str | None:
    """Why the stack stays up after this session (None: torn down as always). Ctrl-C/SIGTERM
    (an interrupted session) keeps nothing."""
    interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
    if not settings.keep_stack or not session.testsfailed or interrupted:
        return None
    if running.runner is None or running.runner.kind != "processes":
        return f"--keep-stack: the {running.kind} stack is torn down (keeping needs processes)"
    running.runner.keep()
    from synthmon.up import write_stack_record

    write_stack_record(running)
    return "kept"


def session_load(stack: Stack, settings: Settings, config: pytest.Config) -> LoadResult:
    """The ``load_run`` fixture: the session's Locust run against the stack."""
    from synthmon.load import remote_workers, run_load

    locustfile = project_of(settings).locustfile
    if locustfile is None:
        pytest.skip(not_configured(settings, {"load_run"}) or "not configured: no `load:`")
    try:
        profiles, name = load_profile(settings), settings.load_profile
    except pytest.UsageError as exc:  # on an xdist worker: a one-line failure, no INTERNALERROR
        raise pytest.fail.Exception(str(exc), pytrace=False) from None
    profile = profiles[name]
    cap = profiles.get(external.LOAD_CAP_PROFILE)
    if stack.kind == "external" and not settings.allow_load:
        if cap is None:
            pytest.skip(
                f"load on an external stack needs --allow-load, or a profile "
                f"{external.LOAD_CAP_PROFILE!r} in {settings.load_profiles} as the cap"
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
        workers=settings.load_workers,
        remote=remote_workers(settings),  # workers started on other hosts (--load-remote-workers)
        locustfile=locustfile,
    )
    config.stash[load_key] = result
    return result


def _with_exemplars(
    report: SLOReport, spec: SLOSpec, prom: Prometheus, jaeger_url: str | None
) -> SLOReport:
    """The exemplars above each latency threshold, each with its trace (when there is a store)."""
    import httpx

    from synthmon.slo.exemplars import with_exemplars
    from synthmon.traces.jaeger import JaegerClient

    with httpx.Client(timeout=5) as http:
        return with_exemplars(
            report, spec, prom, JaegerClient(jaeger_url, http) if jaeger_url else None
        )


def session_slo_report(
    stack: Stack,
    prom: Prometheus,
    settings: Settings,
    config: pytest.Config,
    request: pytest.FixtureRequest,
) -> SLOReport:
    """The ``slo_report`` fixture: evaluated, written to <run dir>/slo-report.json."""
    from synthmon.slo import evaluate, load_spec
    from synthmon.slo.gate import gate_after_load

    why = not_configured(settings, {"slo_report"})
    if why:
        pytest.skip(why)
    spec = load_spec(settings.slo_spec)
    if stack.kind == "external":
        now = time.time()
        report = evaluate(spec, prom, (now - settings.slo_lookback, now))
    else:
        load: LoadResult = request.getfixturevalue("load_run")
        # the window's last samples are in Prometheus after one more scrape and evaluation
        settle = stack.scrape_interval_s + stack.evaluation_interval_s
        # the profile's definition goes into the report's fingerprint (capacity comparisons)
        report = gate_after_load(spec, prom, load, settle, load_profile(settings).get(load.profile))
    report = _with_exemplars(report, spec, prom, stack.jaeger_url or settings.jaeger_url)
    report.to_json(stack.run_dir / "slo-report.json")
    config.stash[slo_report_key] = report.render_table(show_promql=True)
    return report
