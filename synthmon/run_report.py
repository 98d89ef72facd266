"""The monitoring part of the run's summary: delivery and time to page, and config coverage.

Scenarios record both as JUnit user properties (:mod:`synthmon.delivery`,
:mod:`synthmon.coverage`); this reads them back from the test reports, so the summary is the
same with or without xdist, and a coverage record only counts when its test passed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from synthmon import coverage, delivery, gobuild
from synthmon.deadlines import production_alerts
from synthmon.project import Project
from synthmon.settings import Settings
from synthmon.stack import Stack
from synthmon.stack.compose_runner import ComposeRunner
from synthmon.stack.rules import AlertRule
from synthmon.yamlfile import parse_yaml


def _properties(stats: Mapping[str, Sequence[Any]], name: str) -> Iterable[tuple[bool, str]]:
    for outcome, reports in stats.items():
        for report in reports:
            if getattr(report, "when", "call") != "call":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key == name:
                    yield outcome == "passed", str(value)


def deliveries(stats: Mapping[str, Sequence[Any]]) -> list[delivery.Delivery]:
    return delivery.decode(value for _, value in _properties(stats, delivery.PROPERTY))


def coverage_parts(
    stats: Mapping[str, Sequence[Any]], project: Project
) -> list[coverage.Part] | None:
    """Coverage of the project's configs by the passing scenarios (None: no scenario ran)."""
    records = list(_properties(stats, coverage.PROPERTY))
    scenarios_ran = any(True for _ in _properties(stats, delivery.PROPERTY))
    if not scenarios_ran:
        return None
    path = project.monitoring.alertmanager_yml
    config = parse_yaml(path.read_text(), str(path))
    alerts = production_alerts(project.monitoring.rule_files())
    exempt = project.policy.always_firing if project.policy is not None else ()
    universe = coverage.Universe.of(config, alerts, exempt)
    passed = [coverage.Exercised.decode(value) for ok, value in records if ok]
    return coverage.measure(universe, passed)


def scaling_lines(project: Project, factor: float) -> list[str]:
    """:func:`scaled_lines` for the project's alert rules."""
    alerts = production_alerts(project.monitoring.rule_files()).values()
    return scaled_lines(alerts, factor, project.monitoring.unscaled_windows)


def scaled_lines(
    alerts: Iterable[AlertRule], factor: float, unscaled: Collection[str] = ()
) -> list[str]:
    """The time scale, and every alert whose scaled ``for:`` or window a floor made inexact
    (a floor keeps a rate() window at >= 4 samples and a ``for:`` at >= one evaluation); then
    the rules of ``unscaled`` (``monitoring.unscaled_windows``), whose windows run as written."""
    from synthmon.durations import format_duration
    from synthmon.stack.configs import MIN_WINDOW_S
    from synthmon.stack.rules import MIN_FOR_S

    inexact = []
    for rule in alerts:
        notes = []
        if 0 < rule.for_seconds / factor < MIN_FOR_S:
            notes.append(f"for: {format_duration(rule.for_seconds)} -> {MIN_FOR_S:g} s (floor)")
        notes += [
            f"window {format_duration(w)} -> {MIN_WINDOW_S:g} s (floor)"
            for w in rule.windows
            if w / factor < MIN_WINDOW_S and rule.name not in unscaled
        ]
        if notes:
            inexact.append(f"  {rule.name}: {', '.join(notes)}, not {factor:g}x faster")
    head = f"time scale {factor:g}: production durations are test durations x {factor:g}"
    suffix = "; inexact where a floor applies:" if inexact else ":" if unscaled else " (all exact)"
    out = [head + suffix, *inexact]
    if unscaled:
        out.append(
            "  windows kept as written, not scaled (monitoring.unscaled_windows; their for: "
            f"still / {factor:g}): {', '.join(sorted(unscaled))}"
        )
    return out


def lines(stats: Mapping[str, Sequence[Any]], project: Project | None) -> list[str]:
    """The delivery report, the coverage report and the policy warning, for the terminal."""
    out = delivery.summary_lines(deliveries(stats))
    if project is None:
        return out
    parts = coverage_parts(stats, project)
    if parts is not None:
        out += ["monitoring config coverage:", *(f"  {p.line()}" for p in parts)]
    if project.policy is not None:
        out += [
            f"may fire on a healthy stack (policy.fires_when_healthy): {alert}: {why}"
            for alert, why in sorted(project.policy.fires_when_healthy.items())
        ]
    else:
        out.append(
            f"warning: {project.source} declares no policy: who must be paged is only what the "
            "routing tree says (a route edited to drop the pager would still pass)"
        )
    return out


def coverage_shortfall(
    stats: Mapping[str, Sequence[Any]], project: Project, minimum: int
) -> str | None:
    """Why the run fails ``--min-alert-coverage`` (None: it does not)."""
    parts = coverage_parts(stats, project)
    alerts = parts[0] if parts else None
    if alerts is not None and alerts.percent >= minimum:
        return None
    got = f"{alerts.percent:.0f}%" if alerts is not None else "no alert scenario ran"
    return f"FAIL --min-alert-coverage {minimum}%: alert rules with a passing scenario: {got}"


def version_lines(stack: Stack, project: Project, settings: Settings) -> list[str]:
    """Which Prometheus and Alertmanager ran, and why those."""
    if stack.runner is None:
        return []
    if stack.kind == "processes":
        return [
            gobuild.alertmanager_line(project.versions.get("alertmanager")),
            gobuild.prometheus_line(project.versions.get("prometheus")),
        ]
    if isinstance(stack.runner, ComposeRunner):
        own = stack.runner.role_images
        return [
            f"Alertmanager: image {own['alertmanager']}; Prometheus: image "
            f"{own['prometheus']} (the compose files' own)"
        ]
    images = settings.images
    return [
        f"Alertmanager: image {images['alertmanager']}; Prometheus: image {images['prometheus']}"
    ]


def write_allure_environment(allure_dir: str, summary: Sequence[str]) -> None:
    """The summary in the Allure report's Environment widget (environment.properties)."""
    where = Path(allure_dir)
    where.mkdir(parents=True, exist_ok=True)
    entries = [f"synthmon.{i:02d}={line.strip()}" for i, line in enumerate(summary)]
    (where / "environment.properties").write_text("\n".join(entries) + "\n")
