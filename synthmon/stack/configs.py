"""Renders a project's production monitoring configs for the fast embedded stack.

The project's files keep production durations and receivers; this is the one place they are
time-scaled and pointed at the local sinks, into the run directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from synthmon.errors import ConfigError
from synthmon.project import Project
from synthmon.settings import Settings
from synthmon.stack.alertmanager_config import render_alertmanager_config
from synthmon.stack.embedded import HOST, SCRAPE_INTERVAL_S, Ports
from synthmon.stack.rules import scale_rules

# rate() needs at least a few samples in its window
MIN_WINDOW_S = 4 * SCRAPE_INTERVAL_S


def render_rules(settings: Settings, rule_files: Iterable[Path]) -> dict[str, str]:
    """Every rule file, time-scaled: file name → text (a name twice is an error)."""
    files = list(rule_files)
    names = [p.name for p in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"rule files: two files named {', '.join(twice)}: rename one")
    return {
        path.name: scale_rules(
            path.read_text(), settings.time_scale, MIN_WINDOW_S, source=str(path)
        )
        for path in files
    }


def render_alertmanager(settings: Settings, project: Project, ports: Ports, work_dir: Path) -> str:
    """alertmanager.yml, time-scaled, every receiver pointed at the local sinks."""
    path = project.monitoring.alertmanager_yml
    try:
        return render_alertmanager_config(
            path.read_text(),
            factor=settings.time_scale,
            sinks_http_url=f"http://{HOST}:{ports['sinks_http']}",
            smtp_host=HOST,
            smtp_port=ports["sinks_smtp"],
            template_dir=project.monitoring.templates_dir,
            secrets_dir=work_dir / "secrets",
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
