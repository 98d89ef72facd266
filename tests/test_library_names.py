"""The library names no example: what the reference app needs is an input its project gives.

A word of the reference example in synthmon/ means the library has learnt something about one
service again (a service, a header, a user, a label, an alert name); it belongs in
examples/manager-app/synthmon.yaml instead.
"""

from __future__ import annotations

import re
from pathlib import Path

SYNTHMON = Path(__file__).resolve().parents[1] / "synthmon"
# word-bounded, case-insensitive; "github" also catches "GitHub" in prose
NAMES = (
    "claude", "claude_manager", "manager-app", "fake_github", "github", "github_api",
    "X-Chaos-Token", "chaos_token", "demo", "priority", "Watchdog", "P1", "P2", "P3", "P4",
    "linkcheck",
)  # fmt: skip
# a Go module path (synthmon.gobuild builds Alertmanager from github.com/prometheus/...) is a
# place to download from, not a name of the example
PATTERN = re.compile(
    r"\b(?:" + "|".join(map(re.escape, NAMES)) + r")\b(?!\.com/prometheus/)", re.IGNORECASE
)


def hits(root: Path) -> list[str]:
    """``file:line: word`` for every kept name in the text files under ``root``."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for match in PATTERN.finditer(line):
                found.append(f"{path.relative_to(root.parent)}:{number}: {match.group(0)}")
    return found


def test_synthmon_names_no_example() -> None:
    found = hits(SYNTHMON)
    assert not found, "the library names the reference example:\n" + "\n".join(found)


def test_the_grep_finds_a_name(tmp_path: Path) -> None:
    """Control: the same grep flags a planted name, with its file and line."""
    (tmp_path / "synthmon").mkdir()
    (tmp_path / "synthmon" / "x.py").write_text('ok = 1\nHEADER = "x-chaos-token"\n')
    assert hits(tmp_path / "synthmon") == ["synthmon/x.py:2: x-chaos-token"]
