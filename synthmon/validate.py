"""``synthmon validate``: every problem of a project file, one line each, without starting
anything (exit code :data:`VALIDATE_EXIT`).

Checked: the schema and the services' graph (:mod:`synthmon.projectfile`), that every file it
names exists and parses (``promtool check rules`` on each rule file, ``promtool check config``
and ``amtool check-config`` on test copies with the path map and templates resolved; the load
profiles and the SLO spec with synthmon's own readers), that each image names an image setting,
and that every alert named by ``scenarios``, ``no_scenario`` and ``policy.always_firing`` is
defined by a rule (and ``policy.always_firing``), every rule of ``monitoring.unscaled_windows``
too; each ``receiver:NAME`` of the policy must name a receiver of alertmanager.yml. The user's
files are only read.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from synthmon.amconfig.routing import integrations
from synthmon.amconfig.versions import check_supported
from synthmon.errors import ConfigError
from synthmon.gobuild import alertmanager_binaries
from synthmon.load import load_profiles
from synthmon.project import Project
from synthmon.projectfile import ProjectFileError, build, find_project_file, parse
from synthmon.settings import OPTIONS
from synthmon.slo import load_spec
from synthmon.stack.alertmanager_config import render_alertmanager_config
from synthmon.stack.embedded import port_names, prometheus_yml
from synthmon.stack.prometheus_config import is_template
from synthmon.stack.rules import read_alerts, read_rule_names
from synthmon.yamlfile import parse_yaml, read_text

VALIDATE_EXIT = 4
_TOOL_TIMEOUT_S = 60.0


def validate(path: Path | str) -> list[str]:
    """Every problem of the project file at ``path`` (or its directory), one line each."""
    try:
        file = find_project_file(path)
        project = build(file, parse(file))
    except ProjectFileError as exc:
        return exc.problems
    except ConfigError as exc:
        return [str(exc)]
    problems = [f"{file}: {p}" for p in _file_problems(project)]
    if not any("monitoring." in p for p in problems):
        problems += [f"{file}: {p}" for p in _monitoring_problems(project)]
    return problems


def _file_problems(project: Project) -> list[str]:
    mon = project.monitoring
    files = {
        "monitoring.prometheus_yml": mon.prometheus_yml,
        "monitoring.alertmanager_yml": mon.alertmanager_yml,
        "load.locustfile": project.locustfile,
        "load.profiles": project.load_profiles,
        "slo.spec": project.slo_spec,
    }
    problems = [
        f"{key}: {p}: no such file" for key, p in files.items() if p is not None and not p.is_file()
    ]
    dirs = {"monitoring.templates": mon.templates_dir, "monitoring.rules": mon.rules_dir}
    problems += [f"{key}: {p}: no such directory" for key, p in dirs.items() if not p.is_dir()]
    if mon.dashboards and not mon.dashboards.exists():
        problems.append(f"monitoring.dashboards: {mon.dashboards}: no such file or directory")
    if mon.rules_dir.is_dir() and not mon.rule_files():
        problems.append(f"monitoring.rules: no rule file matches {', '.join(mon.rule_globs)}")
    problems += [
        f"monitoring.path_map.{key}: {p}: no such file or directory"
        for key, p in mon.path_map.items()
        if not p.exists()
    ]
    for spec in project.services:
        if "--routes" in spec.argv:
            routes = Path(spec.argv[spec.argv.index("--routes") + 1])
            if not routes.is_file():
                problems.append(f"services.{spec.name}.routes: {routes}: no such file")
    images = {o.removeprefix("image_") for o in _image_settings()}
    for spec in project.services:
        # a built-in image setting, or one of the project's own (--image NAME=IMAGE)
        if spec.image is not None and spec.image not in images and not spec.image.isidentifier():
            problems.append(
                f"services.{spec.name}.image: {spec.image!r} is no image setting: a built-in "
                f"one ({', '.join(sorted(images))}) or a name of the project's own"
            )
    return problems


def _image_settings() -> list[str]:
    return [o.name for o in OPTIONS if o.name.startswith("image_")]


def _monitoring_problems(project: Project) -> list[str]:
    problems: list[str] = []
    mon = project.monitoring
    alerts: set[str] = set()
    rules: set[str] = set()  # alert and record names
    for rule_file in mon.rule_files():
        problems += _tool("monitoring.rules", ("promtool", "check", "rules", str(rule_file)))
        try:
            alerts |= set(read_alerts(rule_file))
            rules |= read_rule_names(rule_file)
        except ConfigError as exc:
            problems.append(f"monitoring.rules: {exc}")
    readers = (("load.profiles", load_profiles, project.load_profiles),
               ("slo.spec", load_spec, project.slo_spec))  # fmt: skip
    for key, read, path in readers:
        try:
            if path is not None:
                read(path)
        except ConfigError as exc:
            problems.append(f"{key}: {exc}")
    with tempfile.TemporaryDirectory(prefix="synthmon-validate-") as tmp:
        work = Path(tmp)
        prom = work / "prometheus.yml"
        original = read_text(mon.prometheus_yml, "prometheus.yml")
        if not is_template(original):  # the file as production reads it (path map applied)
            (work / "production.yml").write_text(_mapped(project, original))
            problems += _tool(
                "monitoring.prometheus_yml",
                ("promtool", "check", "config", str(work / "production.yml")),
            )
        try:
            prom.write_text(_prometheus_copy(project, work))
        except ConfigError as exc:
            problems.append(f"monitoring.prometheus_yml: {exc}")
        else:
            problems += _tool(
                "monitoring.prometheus_yml", ("promtool", "check", "config", str(prom))
            )
        am = work / "alertmanager.yml"
        try:
            am.write_text(_alertmanager_copy(project, work))
        except ConfigError as exc:
            problems.append(f"monitoring.alertmanager_yml: {exc}")
        else:
            problems += _alertmanager_checks(project, am)
    if not problems:
        named = [("scenarios", a) for a in (s.alert for s in project.scenarios)]
        named += [("no_scenario", a) for a in project.no_scenario]
        if project.policy is not None:
            named += [("policy.always_firing", a) for a in project.policy.always_firing]
            named += [("policy.fires_when_healthy", a) for a in project.policy.fires_when_healthy]
            named += [
                ("policy.inhibitions", a)
                for i in project.policy.inhibitions
                for a in (i.source, i.target)
            ]
            problems += _policy_problems(project)
        problems += [
            f"{key}.{alert}: no rule of monitoring.rules defines alert {alert!r}"
            for key, alert in named
            if alert not in alerts
        ]
        problems += [
            f"monitoring.unscaled_windows: no rule of monitoring.rules is named {name!r} "
            "(expected an alert or record name)"
            for name in sorted(mon.unscaled_windows - rules)
        ]
    return problems


def _policy_problems(project: Project) -> list[str]:
    """A ``receiver:NAME`` of the policy that alertmanager.yml does not define."""
    assert project.policy is not None
    path = project.monitoring.alertmanager_yml
    try:
        doc = parse_yaml(read_text(path, "alertmanager.yml"), str(path))
        have = integrations(doc if isinstance(doc, dict) else {})
    except ConfigError as exc:
        return [f"monitoring.alertmanager_yml: {exc}"]
    return [
        f"policy.rules: receiver:{name}: alertmanager.yml has no receiver {name!r} "
        f"(have: {', '.join(have)})"
        for name in sorted(project.policy.receivers())
        if name not in have
    ]


def _mapped(project: Project, text: str) -> str:
    """``text`` with every path of the path map replaced by its file in the repository."""
    for prod in sorted(project.monitoring.path_map, key=len, reverse=True):
        text = text.replace(prod, str(project.monitoring.path_map[prod]))
    return text


def _prometheus_copy(project: Project, work: Path) -> str:
    """The stack's test copy of prometheus.yml (stand-in ports; the rule files are copied as
    they are: ``promtool check config`` reads them)."""
    rules = work / "rules"
    rules.mkdir()
    for n, rule_file in enumerate(project.monitoring.rule_files()):
        (rules / f"{n}-{rule_file.name}").write_text(rule_file.read_text(encoding="utf-8"))
    return prometheus_yml(project, dict.fromkeys(port_names(project), 9), work).text


def _alertmanager_checks(project: Project, copy: Path) -> list[str]:
    """The copy loads in the run's Alertmanager (Debian's, or the pinned build: built on first
    use) and passes that version's ``amtool check-config``."""
    pin = project.versions.get("alertmanager")
    try:
        found = alertmanager_binaries(pin)
        doc = parse_yaml(read_text(project.monitoring.alertmanager_yml, "alertmanager.yml"), "")
        source = "its Go module" if found.built else "Debian"
        check_supported(
            doc if isinstance(doc, dict) else {}, found.version, source, pinned=found.built
        )
    except ConfigError as exc:
        return [f"monitoring.alertmanager_yml: {exc}"]
    return _tool("monitoring.alertmanager_yml", (found.amtool, "check-config", str(copy)))


def _alertmanager_copy(project: Project, work: Path) -> str:
    """The stack's test copy of alertmanager.yml (stand-in sink ports, dummy secrets), checked
    against the Alertmanager version the run would use."""
    mon = project.monitoring
    text = render_alertmanager_config(
        read_text(mon.alertmanager_yml, "alertmanager.yml"),
        factor=1.0,
        sinks_http_url="http://127.0.0.1:9",
        smtp_host="127.0.0.1",
        smtp_port=9,
        secrets_dir=work / "secrets",
        path_map=mon.path_map,
        base_dir=mon.alertmanager_yml.parent,
    )
    return text


def _tool(key: str, argv: tuple[str, ...]) -> list[str]:
    """[] when the check passes; else one line: its first error (paths of test copies kept)."""
    if shutil.which(argv[0]) is None:
        return [f"{key}: {argv[0]} not found on PATH (make setup installs it)"]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_TOOL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return [f"{key}: {' '.join(argv[:3])} took over {_TOOL_TIMEOUT_S:g}s"]
    if done.returncode == 0:
        return []
    lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    failed = [ln for ln in lines if "FAILED" in ln or "error" in ln.lower()] or lines or ["failed"]
    return [f"{key}: {' '.join(argv[:3])} {Path(argv[-1]).name}: {' '.join(failed[-1].split())}"]
