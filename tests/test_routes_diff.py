"""``synthmon routes diff``: a git repository copied from examples/manager-app, its routing
edited, compared with its own HEAD (no stack, only git)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from synthmon.cli import main
from tests._programs import require

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "manager-app"
AM = "monitoring/alertmanager/alertmanager.yml"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        [require("git"), "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
         *args],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example's monitoring and project files, committed once."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root / "example", ignore=shutil.ignore_patterns("__pycache__"))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    return root / "example"


def _run(project: Path, base: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["routes", "diff", "--base", base, "--project", str(project)])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_unchanged_tree_has_no_changes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(repo, "HEAD", capsys)
    assert (code, err) == (0, "")
    assert out == "synthmon routes diff: 0 change(s) against HEAD, 0 policy violation(s)\n"


def test_dropping_pagerduty_from_p1_is_reported_and_fails(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    am = repo / AM
    text = am.read_text()
    edited = text.replace(
        "- receiver: pagerduty-slack-p1\n      matchers: ['priority=\"P1\"']",
        "- receiver: slack-email-p2\n      matchers: ['priority=\"P1\"']",
    )
    assert edited != text
    am.write_text(edited)
    code, out, err = _run(repo, "HEAD", capsys)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert (
        "ApplicationDown{priority=P1,severity=critical}: was pagerduty-slack-p1 (pagerduty, "
        "slack), now slack-email-p2 (email, slack)" in lines
    ), out
    assert (
        "policy violated: ApplicationDown{priority=P1,severity=critical}: priority=P1 must reach "
        "pagerduty: reached slack-email-p2 (email, slack)" in lines
    ), out
    assert not any("P2" in line for line in lines if not line.startswith("synthmon")), out
    assert lines[-1].startswith("synthmon routes diff: ") and "policy violation(s)" in lines[-1]


def test_a_changed_rule_label_is_routed_with_its_new_labels(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = sorted((repo / "monitoring/prometheus/rules").glob("*.yml"))
    changed = next(f for f in rules if "priority: P1" in f.read_text())
    changed.write_text(changed.read_text().replace("priority: P1", "priority: P3", 1))
    code, out, _ = _run(repo, "HEAD", capsys)
    assert code == 0, out
    assert "priority=P3" in out and "now email-p3 (email)" in out, out


def test_a_bad_ref_is_one_line_and_exit_4(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(repo, "no-such-branch", capsys)
    assert (code, out) == (4, "")
    assert (
        err
        == f"synthmon routes diff: error: --base no-such-branch: not a commit of {repo.parent}\n"
    )


def test_a_broken_alertmanager_yml_is_one_line_and_exit_4(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / AM).write_text("route:\n  receiver: x\n  routes:\n    - matchers: ['a=\"b']\n")
    code, out, err = _run(repo, "HEAD", capsys)
    assert (code, out) == (4, "")
    assert "route.routes[0].matchers[0]" in err and len(err.splitlines()) == 1, err


def test_outside_a_git_repository_is_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "plain", ignore=shutil.ignore_patterns("__pycache__"))
    code, _, err = _run(tmp_path / "plain", "HEAD", capsys)
    assert code == 4 and "not in a git repository" in err, err
