"""The exec recorder of tests/exec_guard.py, for every Python process of a `make test` run.

tests/conftest.py puts this directory on PYTHONPATH, so the test process and each Python child
(the stack's services, Locust, the CLI under test, pytester's inner runs) import it at start-up
and append one JSON line per program they execute to the file in ``EXEC_GUARD_LOG``. It is
standalone (no imports from the checkout) and never raises: an audit hook's exception would
break the program it watches (only a KeyboardInterrupt passes through, as anywhere).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from typing import Any

LOG_ENV = "EXEC_GUARD_LOG"
TEST_ENV = "EXEC_GUARD_TEST"
SHELLS = {"sh", "bash", "dash"}
WRAPPERS = {"exec", "nohup", "env", "setsid", "command", "timeout", "nice"}
SHELL_BUILTINS = {
    "exec",
    "command",
    "cd",
    "echo",
    "exit",
    "export",
    "kill",
    "read",
    "set",
    "shift",
    "test",
    "trap",
    "true",
    "false",
    "wait",
    ":",
    "[",
    "printf",
}


def _resolve(program: str, cwd: str | None, env: Any) -> str:
    """``program`` as the kernel would find it: an absolute path, or the bare name if not found."""
    if "/" in program:
        return os.path.abspath(os.path.join(cwd or os.getcwd(), program))
    path = env.get("PATH") if env is not None and hasattr(env, "get") else None
    return shutil.which(program, path=path or os.environ.get("PATH")) or program


def _shell_words(argv: list[str]) -> list[str]:
    """The programs of a ``sh -c SCRIPT``'s simple commands (``setsid sleep 30`` → both)."""
    if len(argv) < 3 or os.path.basename(argv[0]) not in SHELLS or argv[1] != "-c":
        return []
    words = []
    script = re.sub(r"\d*(>>|>&|&>|>|<)\d*", " ", argv[2])  # redirections: 2>&1
    for segment in re.split(r"&&|\|\||[|;&()]", script):
        try:
            tokens = shlex.split(segment)
        except ValueError:
            continue
        while tokens and re.match(r"^[A-Za-z_]\w*=", tokens[0]):
            tokens.pop(0)
        while tokens and tokens[0] in WRAPPERS:
            words.append(tokens.pop(0))
            while tokens and tokens[0].startswith("-"):
                tokens.pop(0)
        if tokens and re.match(r"^[\w./+-]+$", tokens[0]):
            words.append(tokens[0])
    return [w for w in words if w not in SHELL_BUILTINS]


def _record(programs: list[str], argv: list[str], cwd: str | None, env: Any) -> None:
    log = os.environ.get(LOG_ENV)
    if not log:
        return
    lines = []
    for program in programs:
        entry = {
            "program": _resolve(program, cwd, env),
            "argv": [str(a) for a in argv[:4]],
            "test": os.environ.get(TEST_ENV, ""),
            "by": sys.argv[0] if sys.argv else "",
        }
        lines.append(json.dumps(entry) + "\n")
    with open(log, "a", encoding="utf-8") as out:
        out.write("".join(lines))


def _hook(event: str, args: tuple[Any, ...]) -> None:
    try:
        if event == "subprocess.Popen":
            executable, argv, cwd, env = args
        elif event in ("os.exec", "os.posix_spawn"):
            executable, argv, env = args
            cwd = None
        elif event == "os.spawn":
            _, executable, argv, env = args
            cwd = None
        elif event == "os.system":
            argv, cwd, env = ["/bin/sh", "-c", os.fsdecode(args[0])], None, None
            executable = argv[0]
        else:
            return
        argv = [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv]
        program = os.fsdecode(executable) if executable else argv[0]
        _record([program, *_shell_words(argv)], argv, cwd, env)
    except Exception:  # never break the watched program (Ctrl-C still propagates)
        pass


def install() -> None:
    """Record this process's execs (once) when a log is named."""
    if os.environ.get(LOG_ENV) and not getattr(sys, "_exec_guard_installed", False):
        sys._exec_guard_installed = True  # type: ignore[attr-defined]
        sys.addaudithook(_hook)


install()
