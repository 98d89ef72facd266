"""The ``monitoring:`` block of ``synthmon init --from``: what the Prometheus, Alertmanager and
(dropped) Grafana services' mounts say the project's monitoring files are.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from synthmon.init_mounts import (
    GlobsBack,
    Mount,
    NotInferred,
    alert_names,
    config_file,
    files_map,
    files_of,
    globs_back,
    mounts,
    named_files,
    read_config,
)
from synthmon.init_text import Block, Note, Todo, Value

# where the official images read their config when the command names no --config.file
PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"
ALERTMANAGER_YML = "/etc/alertmanager/alertmanager.yml"
NO_PROMETHEUS_YML = Todo("no prometheus.yml was found")


@dataclass
class Inferred:
    """The ``monitoring:`` block, ``scrape_jobs`` and the alert names of the rule files."""

    block: Block = field(default_factory=Block)
    scrape_jobs: Value | Todo = NO_PROMETHEUS_YML
    alerts: list[str] = field(default_factory=list)
    path_map: dict[str, tuple[Path, str]] = field(default_factory=dict)


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path.resolve(), base.resolve())


def _rules(back: GlobsBack, globs: list[str], base: Path) -> Value:
    """``rules:``: a directory when every glob is ``*.yml``/``*.yaml`` in one, else globs."""
    why = f"prometheus.yml rule_files {', '.join(globs)}"
    if not globs:
        return Value([], "prometheus.yml has no rule_files")
    if len(back.dirs) == 1 and set(next(iter(back.dirs.values()))) <= {"*.yml", "*.yaml"}:
        return Value(_rel(next(iter(back.dirs)), base), why)
    return Value([_rel(d / p, base) for d, ps in back.dirs.items() for p in ps], why)


def _prometheus(
    found: Inferred, spec: Mapping[str, Any], mnts: tuple[Mount, ...], base: Path
) -> None:
    try:
        inside, host, how = config_file("prometheus", spec, mnts, PROMETHEUS_YML)
    except NotInferred as exc:
        found.block.add("prometheus_yml", Todo(str(exc)))
        found.block.add("rules", Todo("no prometheus.yml, so no rule_files"))
        return
    found.block.add("prometheus_yml", Value(_rel(host, base), how))
    doc = read_config(host, "prometheus.yml")
    globs = [str(g) for g in doc.get("rule_files") or ()]
    if any("$" in g for g in globs):  # synthmon's template form: its rules are synthmon's
        found.block.add("rules", _template_rules(found, mnts, host, base, globs))
        _jobs(found, doc)
        return
    try:
        back = globs_back(globs, inside.parent, mnts, "rule_files")
    except NotInferred as exc:
        found.block.add("rules", Todo(f"prometheus: {exc}"))
    else:
        found.block.add("rules", _rules(back, globs, base))
        found.path_map.update(back.path_map)
        found.alerts = alert_names(files_of(back))
    found.path_map.update(_named(doc, inside, mnts, found, "prometheus"))
    _jobs(found, doc)


def _jobs(found: Inferred, doc: Mapping[str, Any]) -> None:
    jobs = [str(c.get("job_name")) for c in doc.get("scrape_configs") or () if isinstance(c, dict)]
    found.scrape_jobs = Value(
        jobs, "every job of prometheus.yml: keep those the test stack scrapes", guessed=True
    )


def _template_rules(
    found: Inferred, mnts: tuple[Mount, ...], config: Path, base: Path, globs: list[str]
) -> Value | Todo:
    """A template's rule_files name synthmon's rules dir: the mounted directory of rule files."""
    for mount in mnts:
        files = [p for p in sorted(mount.source.glob("*.y*ml")) if p != config]
        if mount.source.is_dir() and files:
            found.alerts = alert_names(files)
            why = (
                f"prometheus.yml is a template (rule_files {', '.join(globs)}): the directory "
                f"of rule files prometheus mounts at {mount.target}"
            )
            return Value(_rel(mount.source, base), why, guessed=True)
    return Todo(
        f"prometheus.yml is a template (rule_files {', '.join(globs)}) and prometheus "
        "mounts no directory of rule files"
    )


def _named(
    doc: Any, inside: PurePosixPath, mnts: tuple[Mount, ...], found: Inferred, role: str
) -> dict[str, tuple[Path, str]]:
    """path_map entries for the ``*_file`` paths a config names; a Note for those no mount
    provides (no TODO: the test copy of the config gets a dummy file for each)."""
    entries, unmapped = files_map(list(named_files(doc, inside.parent)), mnts, found.path_map)
    if unmapped:
        names = ", ".join(str(p) for p in unmapped)
        found.block.add(
            "",
            Note(
                f"{inside.name} names {names}, in no mount of {role}: "
                "synthmon's test copy gives each a dummy file"
            ),
        )
    return entries


def _alertmanager(
    found: Inferred, spec: Mapping[str, Any], mnts: tuple[Mount, ...], base: Path
) -> None:
    try:
        inside, host, how = config_file("alertmanager", spec, mnts, ALERTMANAGER_YML)
    except NotInferred as exc:
        found.block.add("alertmanager_yml", Todo(str(exc)))
        return
    found.block.add("alertmanager_yml", Value(_rel(host, base), how))
    doc = read_config(host, "alertmanager.yml")
    globs = [str(g) for g in doc.get("templates") or ()]
    try:
        back = globs_back(globs, inside.parent, mnts, "templates")
    except NotInferred as exc:
        found.block.add("templates", Todo(f"alertmanager: {exc}"))
    else:
        if len(back.dirs) == 1:
            found.block.add(
                "templates",
                Value(
                    _rel(next(iter(back.dirs)), base),
                    f"alertmanager.yml templates {', '.join(globs)}",
                ),
            )
        elif back.dirs:
            found.block.add(
                "templates", Todo(f"templates in {len(back.dirs)} directories: {', '.join(globs)}")
            )
        elif not (host.parent / "templates").is_dir():  # synthmon's default: it must exist
            why = "alertmanager.yml names no templates; a directory that exists (read for none)"
            found.block.add("templates", Value(_rel(host.parent, base), why, guessed=True))
        found.path_map.update(back.path_map)
    found.path_map.update(_named(doc, inside, mnts, found, "alertmanager"))


def _outermost(path_map: Mapping[str, tuple[Path, str]]) -> dict[str, tuple[Path, str]]:
    """The entries no other entry already maps (a subdirectory of a mapped directory)."""
    kept = {}
    for inside, (host, how) in path_map.items():
        path = PurePosixPath(inside)
        if not any(
            PurePosixPath(o) in path.parents and h / path.relative_to(o) == host
            for o, (h, _) in path_map.items()
        ):
            kept[inside] = (host, how)
    return kept


def dashboards(model: Mapping[str, Any], grafana: Sequence[str], base: Path) -> Value | None:
    """The first directory a Grafana service mounts that holds dashboard JSON, if any."""
    for name in grafana:
        for mount in mounts(model["services"][name], model):
            if mount.source.is_dir() and next(mount.source.rglob("*.json"), None):
                why = f"{name} mounts it at {mount.target} and it holds *.json"
                return Value(_rel(mount.source, base), why, guessed=True)
    return None


def scraped_only(jobs: Value | Todo, scraped: Collection[str]) -> Value | Todo:
    """The jobs the test stack scrapes: a wait for one that no service serves (a production
    exporter, a database) would time out on every run."""
    if not isinstance(jobs, Value):
        return jobs
    kept = [j for j in jobs.value if j in scraped]
    left = [j for j in jobs.value if j not in scraped]
    if not left:
        return jobs
    why = (
        f"the jobs of prometheus.yml a service of the test stack serves (not {', '.join(left)}: "
        "no such service, or a postgres, redis, jaeger or victorialogs server, which the test "
        "stack does not scrape)"
    )
    return Value(kept, why, guessed=True)


def monitoring(
    model: Mapping[str, Any],
    prometheus: str | None,
    alertmanager: str | None,
    base: Path,
    grafana: Sequence[str] = (),
    scraped: Collection[str] | None = None,
) -> Inferred:
    """What the Prometheus and Alertmanager services' mounts say the monitoring files are
    (and a dropped Grafana's, where the dashboards are); ``scraped``: the job names the test
    stack can scrape (None: every job)."""
    found = Inferred()
    services = model["services"]
    for name, role, infer in (
        (prometheus, "prometheus", _prometheus),
        (alertmanager, "alertmanager", _alertmanager),
    ):
        if name is None:
            found.block.add(f"{role}_yml", Todo(f"no {role} service (see compose.{role})"))
            continue
        infer(found, services[name], mounts(services[name], model), base)
    if scraped is not None:
        found.scrape_jobs = scraped_only(found.scrape_jobs, scraped)
    board = dashboards(model, grafana, base)
    if board is not None:
        found.block.add("dashboards", board)
    if found.path_map:
        entries = Block(why="container paths the configs name → the files here")
        for inside, (host, how) in sorted(_outermost(found.path_map).items()):
            entries.add(inside, Value(_rel(host, base), how))
        found.block.add("path_map", entries)
    return found
