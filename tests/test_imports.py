"""Leaves stay leaves: synthmon's import graph has no cycle, and settings pulls in no client.

Every import statement counts, also inside functions and under TYPE_CHECKING: a cycle that is
only lazy today is one refactoring away from an ImportError.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "synthmon"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the synthmon modules it imports (``from pkg import sub`` imports pkg.sub)."""
    modules = _modules()

    def resolve(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                subs = [f"{base}.{alias.name}" for alias in node.names]
                targets += subs if all(s in modules for s in subs) else [*subs, base]
        graph[name] = {resolve(t) for t in targets if t.split(".")[0] == "synthmon"} - {name}
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    try:
        TopologicalSorter(import_graph()).prepare()
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}", pytrace=False)


def test_settings_imports_only_leaves() -> None:
    """Every module may import settings; settings imports no client, plugin or stack module."""
    allowed = {"synthmon.errors", "synthmon.durations", "synthmon.secrets", "synthmon.masking"}
    allowed |= {"synthmon.project"}  # the project description: data, importing only errors
    # its file's reader: pydantic models, importing only project, errors and yamlfile
    allowed |= {"synthmon.projectfile"}
    assert import_graph()["synthmon.settings"] <= allowed


@pytest.mark.parametrize(
    "module",
    [
        "synthmon.settings",
        "synthmon.secrets",
        "synthmon.masking",
        "synthmon.redact",
        "synthmon.clients",
        "synthmon.external",
        "synthmon.prom",
        "synthmon.alerting",
        "synthmon.pushgateway",
        "synthmon.http_errors",
        "synthmon.waiting",
        "synthmon.jsonfile",
        "synthmon.dashboards",
        "synthmon.sinks",
    ],
)
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
