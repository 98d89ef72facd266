"""``synthmon routes diff --base REF``: who gets notified of each alert, before and after a change.

No stack is started. The project's alertmanager.yml, rule files and prometheus.yml (for its
``external_labels``) are read at the base git ref (``git show REF:path``) and in the working
tree; every alerting rule's labels (its static labels, ``alertname`` and the external labels,
which never override an alert's own) are routed through both configs. One line per alert whose
receivers or integrations changed; then the working tree's routing is checked against the
project's policy (one line a violation).
"""

from __future__ import annotations

import fnmatch
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthmon.amconfig.policy import describe, reached
from synthmon.amconfig.routing import RouteTree
from synthmon.errors import ConfigError
from synthmon.project import Project
from synthmon.projectfile import load_project
from synthmon.stack.prometheus_config import is_template
from synthmon.stack.rules import AlertRule, load_alerts
from synthmon.yamlfile import parse_yaml, read_text

_GIT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Side:
    """One version of the monitoring files: the alertmanager.yml dict (None: no such file),
    the alerts by name and the external labels."""

    config: Mapping[str, Any] | None
    alerts: Mapping[str, AlertRule]
    external: Mapping[str, str] = field(default_factory=dict)

    def labels(self, name: str) -> dict[str, str]:
        return {**self.external, **self.alerts[name].labels, "alertname": name}

    def reached(self, name: str) -> frozenset[tuple[str, str]]:
        if self.config is None:
            return frozenset()
        return reached(self.config, self.labels(name), tree=RouteTree(self.config))


@dataclass(frozen=True)
class RoutesDiff:
    """The changed alerts (one line each) and the working tree's policy violations."""

    changes: list[str]
    violations: list[str]

    @property
    def exit_code(self) -> int:
        return 1 if self.violations else 0


def _git(top: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(top), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError("git is not installed: routes diff reads the base from git") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"git {args[0]} took over {_GIT_TIMEOUT_S:g}s") from None


class _GitRef:
    """Files of one commit, by path from the repository's top level."""

    def __init__(self, root: Path, ref: str) -> None:
        done = _git(root, "rev-parse", "--show-toplevel")
        if done.returncode != 0:
            raise ConfigError(f"{root}: not in a git repository (routes diff needs --base REF)")
        self.top = Path(done.stdout.strip()).resolve()
        self.ref = ref
        if (
            ref.startswith("-")
            or _git(self.top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode
        ):
            raise ConfigError(f"--base {ref}: not a commit of {self.top}")

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.top).as_posix()
        except ValueError:
            raise ConfigError(f"{path}: outside the git repository {self.top}") from None

    def read(self, path: Path) -> str | None:
        """The file's text at the ref; None when it has no such file."""
        done = _git(self.top, "show", f"{self.ref}:{self.relative(path)}")
        return done.stdout if done.returncode == 0 else None

    def files_under(self, directory: Path) -> list[str]:
        rel = self.relative(directory)
        done = _git(self.top, "ls-tree", "-r", "--name-only", self.ref, "--", rel)
        return [line.removeprefix(rel + "/") for line in done.stdout.splitlines()]


def _globbed(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) and ("/" in p or "/" not in name) for p in patterns)


def _external(text: str | None, source: str) -> dict[str, str]:
    if text is None or is_template(text):
        return {}
    doc = parse_yaml(text, source)
    labels = (doc.get("global") or {}).get("external_labels") if isinstance(doc, dict) else None
    return {str(k): str(v) for k, v in (labels or {}).items()} if isinstance(labels, dict) else {}


def _config(text: str | None, source: str) -> Mapping[str, Any] | None:
    if text is None:
        return None
    doc = parse_yaml(text, source)
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping (an alertmanager.yml)")
    RouteTree(doc)  # a bad route tree is bad input, named by its key
    return doc


def _alerts(texts: Mapping[str, str]) -> dict[str, AlertRule]:
    found: dict[str, AlertRule] = {}
    for source, text in sorted(texts.items()):
        for name, alert in load_alerts(text, source=source).items():
            if name in found:
                raise ConfigError(f"{source}: alert {name!r} is also defined in another rule file")
            found[name] = alert
    return found


def base_side(project: Project, git: _GitRef) -> Side:
    mon = project.monitoring
    am = mon.alertmanager_yml
    rules = {
        f"{git.ref}:{git.relative(mon.rules_dir / name)}": git.read(mon.rules_dir / name) or ""
        for name in git.files_under(mon.rules_dir)
        if _globbed(name, mon.rule_globs)
    }
    prom = mon.prometheus_yml
    return Side(
        _config(git.read(am), f"{git.ref}:{git.relative(am)}"),
        _alerts(rules),
        _external(git.read(prom), f"{git.ref}:{git.relative(prom)}"),
    )


def work_side(project: Project) -> Side:
    mon = project.monitoring
    am, prom = mon.alertmanager_yml, mon.prometheus_yml
    rules = {str(f): read_text(f, "rule file") for f in mon.rule_files()}
    return Side(
        _config(read_text(am, "alertmanager.yml"), str(am)),
        _alerts(rules),
        _external(read_text(prom, "prometheus.yml") if prom.is_file() else None, str(prom)),
    )


def _title(name: str, side: Side) -> str:
    own = side.alerts[name].labels
    return name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(own.items())) + "}" if own else "")


def diff(project: Project, base: Side, work: Side) -> RoutesDiff:
    """Compare two sides; the policy is the working tree's project's."""
    changes: list[str] = []
    for name in sorted(set(base.alerts) | set(work.alerts)):
        if name not in work.alerts:
            changes.append(
                f"{_title(name, base)}: removed (reached {describe(base.reached(name))})"
            )
            continue
        now = work.reached(name)
        if name not in base.alerts:
            changes.append(f"{_title(name, work)}: new, reaches {describe(now)}")
            continue
        was = base.reached(name)
        if was != now:
            lost = "" if now else " (nobody is notified)"
            changes.append(f"{_title(name, work)}: was {describe(was)}, now {describe(now)}{lost}")
    violations = [
        f"{_title(name, work)}: {problem}"
        for name in sorted(work.alerts)
        if project.policy is not None
        for problem in project.policy.violations(work.labels(name), work.reached(name))
    ]
    return RoutesDiff(changes, violations)


def routes_diff(project_file: Path | str, base: str) -> RoutesDiff:
    """The routing changes of the working tree against git ref ``base``; ConfigError on bad
    input (a bad ref, a file that does not parse)."""
    project = load_project(project_file)
    git = _GitRef(project.root, base)
    return diff(project, base_side(project, git), work_side(project))
