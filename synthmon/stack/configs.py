"""Renders a project's production monitoring configs for the fast embedded stack.

The project's files keep production durations and receivers; this is the one place they are
time-scaled and pointed at the local sinks, into the run directory.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterable
from pathlib import Path

from synthmon.errors import ConfigError
from synthmon.project import Project
from synthmon.settings import Settings
from synthmon.stack.alertmanager_config import redirect_alertmanager_config
from synthmon.stack.embedded import HOST, SCRAPE_INTERVAL_S, Ports
from synthmon.stack.rules import read_rule_names, scale_rules

# rate() needs at least a few samples in its window
MIN_WINDOW_S = 4 * SCRAPE_INTERVAL_S


def render_rules(
    settings: Settings, rule_files: Iterable[Path], unscaled: Collection[str] = ()
) -> dict[str, str]:
    """Every rule file, time-scaled: file name → text (a name twice is an error). The rules
    named in ``unscaled`` (``monitoring.unscaled_windows``) keep their windows as written."""
    files = list(rule_files)
    names = [p.name for p in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"rule files: two files named {', '.join(twice)}: rename one")
    if unscaled:
        defined = {name for path in files for name in read_rule_names(path)}
        unknown = sorted(set(unscaled) - defined)
        if unknown:
            raise ConfigError(
                f"monitoring.unscaled_windows: no rule of the rule files is named "
                f"{', '.join(map(repr, unknown))}"
            )
    return {
        path.name: scale_rules(
            path.read_text(), settings.time_scale, MIN_WINDOW_S, source=str(path), unscaled=unscaled
        )
        for path in files
    }


def render_alertmanager(settings: Settings, project: Project, ports: Ports, work_dir: Path) -> str:
    """alertmanager.yml, time-scaled, every destination pointed at the local sinks; what it
    delivers where is recorded in ``alertmanager/destinations.json`` under ``work_dir``."""
    return render_alertmanager_for(
        settings, project, work_dir, sinks_http_url=f"http://{HOST}:{ports['sinks_http']}",
        smtp_host=HOST, smtp_port=ports["sinks_smtp"],
    )  # fmt: skip


def render_alertmanager_for(
    settings: Settings,
    project: Project,
    work_dir: Path,
    *,
    sinks_http_url: str,
    smtp_host: str,
    smtp_port: int,
) -> str:
    """:func:`render_alertmanager` for sinks at any address (a compose service's)."""
    path = project.monitoring.alertmanager_yml
    try:
        text, done = redirect_alertmanager_config(
            path.read_text(),
            factor=settings.time_scale,
            sinks_http_url=sinks_http_url,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            secrets_dir=work_dir / "secrets",
            path_map=project.monitoring.path_map,
            base_dir=path.parent,
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    record = {
        "destinations": [dataclasses.asdict(d) for d in done.destinations],
        "unverifiable": [dataclasses.asdict(u) for u in done.unverifiable],
    }
    out = work_dir / "alertmanager" / "destinations.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    return text
