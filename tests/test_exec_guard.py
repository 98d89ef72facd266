"""The exec guard has teeth: an uninstalled program, a package nothing installs, a program
called by a project script, and a child process's exec are each caught and named."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.exec_guard import (
    LOG_ENV,
    SITE_DIR,
    TEST_ENV,
    Dpkg,
    Judge,
    Use,
    fresh_image_list,
    read_names,
    recorded_uses,
    shell_programs,
)

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def judge(without: str = "") -> Judge:
    """The real judge of this machine, with ``without`` taken off every allowed list."""
    real = Judge.here()
    return Judge(real.allowed - {without}, real.named - {without}, real.dpkg, real.own_dirs)


def test_an_uninstalled_program_is_named_with_the_test_that_ran_it() -> None:
    found = judge().violations([Use("/usr/sbin/synthmon-no-such-program", "tests/x.py::t")])
    assert [str(v) for v in found] == [
        "/usr/sbin/synthmon-no-such-program: not installed on this machine; run by tests/x.py::t"
    ]
    assert judge().violations([Use("synthmon-no-such-program", "s")]), "a bare name is looked up"


def test_a_program_a_test_runs_missing_on_purpose_is_not_a_violation() -> None:
    ghost = Use("/nonexistent/binary", "tests/x.py::t")
    assert judge().violations([ghost], frozenset({ghost})) == []
    assert judge().violations([Use(ghost.program, "tests/x.py::other")], frozenset({ghost}))


def test_the_recorder_never_swallows_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit hook runs inside every audited call: a KeyboardInterrupt there must go on."""
    import sitecustomize

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sitecustomize, "_record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sitecustomize._hook("subprocess.Popen", ("true", ["true"], None, None))
    monkeypatch.setattr(sitecustomize, "_record", lambda *a: 1 / 0)
    sitecustomize._hook("subprocess.Popen", ("true", ["true"], None, None))  # swallowed


def test_a_package_nothing_installs_is_named() -> None:
    curl = shutil.which("curl")
    assert curl, "curl is on a new machine of this kind"
    assert judge().violations([Use(curl, "tests/x.py::t")]) == [], "control: curl is allowed"
    found = judge(without="curl").violations([Use(curl, "tests/x.py::t")])
    assert len(found) == 1
    assert found[0].package == "curl" and "installed by no file of the project" in str(found[0])


def test_packages_a_project_package_depends_on_are_allowed() -> None:
    """What apt brings along with a listed package (e.g. prometheus → its libraries) counts."""
    db = Dpkg.read()
    closure = db.closure({"prometheus"})
    assert "prometheus" in closure and len(closure) > 1
    assert "libc6" in closure


def test_dpkg_owner_follows_alternatives_and_usrmerge() -> None:
    db = Dpkg.read()
    assert db.owner(Path("/bin/sh")) == "dash"  # /bin/sh -> dash, /usr/bin/sh on usrmerge
    assert db.owner(Path("/usr/bin/awk")) in {"mawk", "gawk"}  # through /etc/alternatives
    assert db.owner(Path("/usr/local/bin/synthmon-nothing")) is None


def test_fresh_image_list_is_the_kind_of_this_project() -> None:
    names = read_names(fresh_image_list())
    assert {"python3-venv", "curl", "iproute2"} <= names
    assert "nginx" not in names and "wrk" not in names


def test_project_scripts_are_scanned() -> None:
    script = """#!/usr/bin/env bash
# jq is mentioned in a comment only
msg="rsync in a string"
cat <<'EOF'
heredoc-word not a command
EOF
files=(one two)
files+=(-v /opt/x:/opt/x:ro)
case "$1" in
  start|stop) podman ps ;;
esac
top=$(dirname "$(readlink -f "$0")")
sudo env X=1 curl -s http://127.0.0.1 | tail -1 && command -v nope >/dev/null
"""
    words = [word for _, word in shell_programs(script)]
    assert words == ["cat", "podman", "dirname", "readlink", "sudo", "env", "curl", "tail"], words
    make = "all:\n\t@$(VENV)/pytest $(if $(X),-x) && wrk -t1\n"
    assert [w for _, w in shell_programs(make, makefile=True)] == ["wrk"]


def test_a_child_python_process_records_its_execs(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    env = {
        **os.environ,
        LOG_ENV: str(log),
        TEST_ENV: "tests/x.py::child",
        "PYTHONPATH": str(SITE_DIR),
    }
    code = "import subprocess as s; s.run(['true']); s.run('uname >/dev/null 2>&1 & wait', shell=1)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    uses = recorded_uses(log)
    programs = {Path(u.program).name for u in uses}
    assert programs == {"true", "sh", "uname"}, uses  # nothing made of "2>&1"
    assert {u.where for u in uses} == {"tests/x.py::child"}


def test_a_run_that_calls_an_uninstalled_program_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the guard as a plugin of an inner session fails it, naming program, package
    and test; the same session with the package allowed passes (control)."""
    pytester.makepyfile(
        test_calls="""
import subprocess

def test_calls_uname():
    subprocess.run(["uname"], check=True, stdout=subprocess.DEVNULL)
"""
    )
    pytester.makeconftest(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.exec_guard import start\n"
        "def pytest_configure(config):\n    start(config)\n"
    )
    real = fresh_image_list()
    fresh = read_names(real)
    without = pytester.path / "fresh.txt"
    without.write_text("\n".join(sorted(fresh - {"coreutils"})))
    monkeypatch.delenv(LOG_ENV)  # the inner session records and judges on its own
    monkeypatch.setenv("EXEC_GUARD_FRESH_IMAGE", str(without))
    failed = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(
        [
            "*exec guard: /usr/bin/uname (package coreutils): not on a new machine*"
            "run by test_calls.py::test_calls_uname"
        ]
    )
    monkeypatch.setenv("EXEC_GUARD_FRESH_IMAGE", str(real))
    assert pytester.runpytest_subprocess("-p", "no:cacheprovider").ret == pytest.ExitCode.OK
