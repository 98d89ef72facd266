"""A guard that measures what `make test` runs instead of trusting a list.

Every program the test process and its Python children execute is recorded (the audit hook of
tests/exec_site/sitecustomize.py), and the project's own shell (scripts/, images/*.sh, the
Makefile, .ci/run) is scanned for the programs it calls. Each program is mapped to its Debian
package through dpkg's file lists. At the end of the run the guard fails, naming program,
package and the test or file that ran it, when the package is neither on a new machine
(`../shared/fresh-image/<kind>.txt`) nor installed by the project (scripts/packages.txt, with
the dependencies of those packages), or when the program is not installed at all.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE_DIR = Path(__file__).resolve().parent / "exec_site"
LOG_ENV = "EXEC_GUARD_LOG"
TEST_ENV = "EXEC_GUARD_TEST"
FRESH_ENV = "EXEC_GUARD_FRESH_IMAGE"  # a fresh-image list to use instead of the shared one
KIND = "polyglot"
USED = ROOT / ".synthmon" / "exec-guard" / "used-packages.txt"  # read by scripts/fresh-check.sh
DPKG = Path("/var/lib/dpkg")
# Toolchains a new machine of the kind brings outside Debian (Go, pyenv's Python, rustup).
HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)  # not $HOME: pytester's inner runs move it
TOOLCHAINS = (
    Path("/usr/local/go"),
    Path(os.environ.get("PYENV_ROOT", HOME / ".pyenv")),
    Path(sys.base_prefix),
    HOME / ".cargo",  # Rust by rustup: pip runs rustc --version when a build may need it
    HOME / ".rustup",
)
SCANNED = ("scripts/*.sh", "images/*.sh", "Makefile", ".ci/run")
SHELL_WORDS = frozenset(
    [
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "for",
        "in",
        "do",
        "done",
        "while",
        "until",
        "case",
        "esac",
        "function",
        "return",
        "local",
        "export",
        "declare",
        "readonly",
        "set",
        "unset",
        "shift",
        "trap",
        "echo",
        "printf",
        "cd",
        "exit",
        "exec",
        "eval",
        "source",
        ".",
        "read",
        "test",
        "[",
        "[[",
        "]]",
        "true",
        "false",
        ":",
        "wait",
        "kill",
        "command",
        "type",
        "hash",
        "let",
        "pushd",
        "popd",
        "compgen",
        "mapfile",
        "getopts",
        "break",
        "continue",
        "umask",
        "ulimit",
        "time",
        "shopt",
        "builtin",
        "caller",
        "times",
        "jobs",
        "disown",
    ]
)
WRAPPERS = frozenset({"sudo", "env", "exec", "nohup", "time", "xargs", "setsid", "!"})


@dataclass(frozen=True)
class Use:
    """One program run by a test (``where`` = its node id) or called by a project file."""

    program: str
    where: str


@dataclass(frozen=True)
class Violation:
    program: str
    package: str | None
    where: str
    why: str

    def __str__(self) -> str:
        package = f" (package {self.package})" if self.package else ""
        return f"{self.program}{package}: {self.why}; run by {self.where}"


# -- what is installed, and by whom -------------------------------------------------------------


def fresh_image_list(root: Path = ROOT) -> Path:
    """The Debian packages of a new machine: ../shared/fresh-image/<kind>.txt beside the
    checkout (or a clone's origin), else /work/shared's; EXEC_GUARD_FRESH_IMAGE overrides."""
    if os.environ.get(FRESH_ENV):
        return Path(os.environ[FRESH_ENV])
    for base in (root.parent, Path("/work")):
        candidate = base / "shared" / "fresh-image" / f"{KIND}.txt"
        if candidate.is_file():
            return candidate
    raise pytest.UsageError(
        f"exec guard: no fresh-image list ({KIND}.txt) beside {root} or in /work/shared; "
        f"set {FRESH_ENV} to its path"
    )


def read_names(path: Path) -> set[str]:
    """Package names of a one-a-line list, comments dropped."""
    return {line.split()[0] for line in path.read_text().splitlines() if line.strip()
            and not line.lstrip().startswith("#")}  # fmt: skip


def project_packages(root: Path = ROOT) -> set[str]:
    """Every package scripts/packages.txt names, for any purpose, alternatives included."""
    names: set[str] = set()
    for line in (root / "scripts" / "packages.txt").read_text().splitlines():
        words = line.split()
        if words and words[0].endswith(":") and not line.startswith("#"):
            names.update(alt for choice in words[1:] for alt in choice.split("|"))
    return names


@dataclass
class Dpkg:
    """The installed packages: who owns which file, and what each depends on."""

    owners: dict[str, str] = field(default_factory=dict)
    depends: dict[str, set[str]] = field(default_factory=dict)
    provided_by: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, dpkg: Path = DPKG) -> Dpkg:
        db = cls()
        for listing in (dpkg / "info").glob("*.list"):
            package = listing.stem.partition(":")[0]
            for path in listing.read_text(errors="replace").splitlines():
                db.owners.setdefault(path, package)
        for stanza in (dpkg / "status").read_text(errors="replace").split("\n\n"):
            fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
            if "Package" not in fields or "installed" not in fields.get("Status", "").split():
                continue
            name = fields["Package"]
            deps = ", ".join(fields.get(key, "") for key in ("Depends", "Pre-Depends"))
            db.depends[name] = {alt.split()[0].partition(":")[0] for clause in deps.split(",")
                                for alt in clause.split("|") if alt.strip()}  # fmt: skip
            for virtual in fields.get("Provides", "").split(","):
                if virtual.strip():
                    db.provided_by.setdefault(virtual.split()[0], set()).add(name)
        return db

    def owner(self, path: Path) -> str | None:
        """The package owning ``path``, following symlinks (alternatives) and usrmerge."""
        seen: set[Path] = set()
        while path not in seen:
            seen.add(path)
            for candidate in _merged_forms(path):
                if str(candidate) in self.owners:
                    return self.owners[str(candidate)]
            if not path.is_symlink():
                break
            path = (path.parent / os.readlink(path)).resolve(strict=False)
        return self.owners.get(str(path.resolve()))

    def closure(self, roots: Iterable[str]) -> set[str]:
        """``roots`` and everything installed they depend on (virtual packages resolved)."""
        todo, found = list(roots), set()
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.add(name)
            todo.extend(self.depends.get(name, ()))
            todo.extend(self.provided_by.get(name, ()))
        return found


def _merged_forms(path: Path) -> Iterator[Path]:
    """/bin/x and /usr/bin/x are one file on a usrmerged system; dpkg knows one of them."""
    yield path
    text = str(path)
    for short in ("/bin/", "/sbin/", "/lib/", "/lib64/"):
        if text.startswith("/usr" + short):
            yield Path(text[4:])
        elif text.startswith(short):
            yield Path("/usr" + text)


# -- what the project's own shell calls ---------------------------------------------------------


def _unquoted(text: str) -> str:
    """``text`` with quoted strings, comments and here-documents blanked (lines kept); command
    substitutions inside double quotes (``"$(dirname "$0")"``) stay, as code."""
    out: list[str] = []
    stack = ["code"]  # "code", '"', "'", or "subst" (a $( inside double quotes)
    heredoc: list[str] = []
    for line in text.split("\n"):
        if heredoc and stack == ["code"]:
            if line.strip() == heredoc[0]:
                heredoc.pop(0)
            out.append("")
            continue
        kept, i = [], 0
        while i < len(line):
            char, state = line[i], stack[-1]
            if state == "'":
                if char == "'":
                    stack.pop()
            elif state == '"':
                if char == "\\":
                    i += 1
                elif char == '"':
                    stack.pop()
                elif line.startswith("$(", i):
                    stack.append("subst")
                    kept.append(" ; ")
                    i += 1
            elif char == "\\":
                i += 1  # an escaped character is a literal
            elif char in "'\"":
                stack.append(char)
                kept.append(" Q ")
            elif char == "#" and (i == 0 or line[i - 1] in " \t;"):
                break
            elif char == ")" and state == "subst":
                stack.pop()
                kept.append(" ; ")
            else:
                kept.append(char)
            i += 1
        joined = "".join(kept)
        if "<<" in joined:
            heredoc.extend(re.findall(r"<<-?\s*['\"]?(\w+)", line))
        out.append(joined)
    return "\n".join(out)


def shell_programs(text: str, makefile: bool = False) -> Iterator[tuple[int, str]]:
    """(line, program) for the command words of a shell script or a Makefile's recipes."""
    functions = set(re.findall(r"^\s*(?:function\s+)?([\w-]+)\s*\(\)", text, re.M))
    if makefile:
        recipes = [
            line[1:].lstrip("@-") if line.startswith("\t") else "" for line in text.split("\n")
        ]
        text = "\n".join(recipes)
        while re.search(r"(?<!\$)\$\([^()]*\)", text):  # make's own $(VAR) and $(if ...)
            text = re.sub(r"(?<!\$)\$\([^()]*\)", "V", text)
        text = text.replace("$$", "$")
    for number, line in enumerate(_unquoted(text).split("\n"), 1):
        line = re.sub(r"^\s*[\w*|./-]+\)\s", " ", line)  # a case pattern
        line = re.sub(r"\$\{[^}]*\}", "V", line)  # ${var...} expansions
        line = re.sub(r"\b\w+\+?=\([^)]*\)", " ", line)  # array assignments, appends
        for segment in re.split(r"\|\||&&|\$\(|[|;&(){}`]", line):
            tokens = segment.split()
            while tokens and (re.match(r"^\w+=", tokens[0]) or tokens[0] in WRAPPERS
                              or tokens[0].startswith("-") or tokens[0] == "$SUDO"):  # fmt: skip
                if tokens[0] in WRAPPERS and tokens[0] not in SHELL_WORDS | {"!"}:
                    yield number, tokens[0]  # sudo, env, xargs... are programs too
                tokens.pop(0)
            if not tokens or tokens[0] in SHELL_WORDS or tokens[0] in functions:
                continue
            word = tokens[0]
            if word.startswith("/") or re.fullmatch(r"[a-z][a-z0-9._+-]*", word):
                yield number, word


def scanned_uses(root: Path = ROOT) -> list[Use]:
    uses = []
    for pattern in SCANNED:
        for path in sorted(root.glob(pattern)):
            text = path.read_text()
            for number, word in shell_programs(text, makefile=path.name == "Makefile"):
                uses.append(Use(word, f"{path.relative_to(root)}:{number}"))
    return uses


def _entries(log: Path) -> Iterator[dict[str, Any]]:
    """The JSON lines of the log (a line a killed process left half-written is skipped)."""
    if log.is_file():
        for line in log.read_text(errors="replace").splitlines():
            try:
                yield json.loads(line)
            except ValueError:
                continue


def recorded_uses(log: Path) -> list[Use]:
    return [
        Use(e["program"], e.get("test") or e.get("by") or "?")
        for e in _entries(log)
        if "program" in e
    ]


def recorded_expected(log: Path) -> set[Use]:
    """What xdist workers' tests marked ``runs_missing_program`` (the controller runs none)."""
    return {Use(e["expected_missing"], e["test"]) for e in _entries(log) if "expected_missing" in e}


# -- the verdict --------------------------------------------------------------------------------


@dataclass
class Judge:
    """Decides, per program, whether a new machine has it or the project installs it."""

    allowed: set[str]
    named: set[str]  # what packages.txt names (a bench's wrk before `make bench-tools`)
    dpkg: Dpkg
    own_dirs: tuple[Path, ...]

    @classmethod
    def here(cls, root: Path = ROOT) -> Judge:
        dpkg = Dpkg.read()
        named = project_packages(root)
        allowed = dpkg.closure(read_names(fresh_image_list(root)) | named)
        own = (root, *TOOLCHAINS, Path(tempfile.gettempdir()), HOME / ".cache" / "synthmon")
        return cls(allowed, named, dpkg, own)

    def check(self, use: Use, expected_missing: frozenset[Use] = frozenset()) -> Violation | None:
        program = use.program
        if use in expected_missing:
            return None  # a test of what happens when a program is missing
        if "/" not in program:
            found = shutil.which(program)
            if found is None:
                if program in self.named:
                    return None
                return Violation(program, None, use.where, "not installed on this machine")
            program = found
        path = Path(program)
        if any(path.is_relative_to(own) for own in self.own_dirs):
            return None  # the checkout's own (.venv, tools), a toolchain, or a test's temp file
        package = self.dpkg.owner(path)
        if package is None:
            if not path.exists():
                return Violation(program, None, use.where, "not installed on this machine")
            return Violation(program, None, use.where, "owned by no Debian package")
        if package in self.allowed:
            return None
        return Violation(
            program, package, use.where,
            "not on a new machine and installed by no file of the project (scripts/packages.txt)",
        )  # fmt: skip

    def used_packages(self, uses: Iterable[Use]) -> set[str]:
        """The Debian packages owning the programs used (scripts/fresh-check.sh installs those of
        them a new machine has)."""
        found = set()
        for use in uses:
            program = use.program if "/" in use.program else shutil.which(use.program)
            package = self.dpkg.owner(Path(program)) if program else None
            if package is not None:
                found.add(package)
        return found

    def violations(
        self, uses: Iterable[Use], expected_missing: frozenset[Use] = frozenset()
    ) -> list[Violation]:
        """One violation per program (the first place that ran it); ``expected_missing``: the
        programs tests marked ``runs_missing_program`` run on purpose."""
        checked: set[str] = set()
        found = []
        for use in uses:
            if use.program in checked:
                continue
            checked.add(use.program)
            violation = self.check(use, expected_missing)
            if violation is not None:
                found.append(violation)
        return found


# -- the pytest side ----------------------------------------------------------------------------


class RunTagger:
    """Names the running test in what its programs record, and notes what it runs missing on
    purpose (in the log, so an xdist worker's marks reach the controller's verdict)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.expected_missing: set[Use] = set()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        for marker in item.iter_markers("runs_missing_program"):
            for program in marker.args:
                self.expected_missing.add(Use(program, item.nodeid))
                with self.log.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"expected_missing": program, "test": item.nodeid}) + "\n")
        os.environ[TEST_ENV] = item.nodeid
        yield
        os.environ.pop(TEST_ENV, None)


class ExecGuard(RunTagger):
    """Records while the session runs; judges at its end (controller only)."""

    def __init__(self, log: Path) -> None:
        super().__init__(log)
        self.found: list[Violation] = []

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        uses = recorded_uses(self.log) + scanned_uses()
        judge = Judge.here()
        expected = frozenset(self.expected_missing | recorded_expected(self.log))
        self.found = judge.violations(uses, expected)
        USED.parent.mkdir(parents=True, exist_ok=True)
        # a union over runs: a run of a few tests must not shrink what the whole suite uses
        seen = read_names(USED) if USED.is_file() else set()
        used = seen | judge.used_packages(uses)
        USED.write_text("".join(f"{name}\n" for name in sorted(used)))
        if self.found and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.found:
            return
        terminalreporter.section("exec guard: programs a new machine would not have", red=True)
        for violation in self.found:
            terminalreporter.line(f"exec guard: {violation}", red=True)
        terminalreporter.line(
            f"(a new machine: {fresh_image_list()}; the project installs scripts/packages.txt)"
        )


def start(config: pytest.Config) -> None:
    """Turn recording on for this process and its children; register the end-of-run judge."""
    config.addinivalue_line(
        "markers", "runs_missing_program(*programs): the test runs these on purpose (exec guard)"
    )
    if hasattr(config, "workerinput") and os.environ.get(LOG_ENV):
        # an xdist worker: it tags its tests; the controller judges
        config.pluginmanager.register(RunTagger(Path(os.environ[LOG_ENV])), "exec-guard-tags")
        return
    if os.environ.get(LOG_ENV):
        return  # an inner pytester run: the outer session judges
    fresh_image_list()  # no list: a usage error now, not after the run
    log = Path(tempfile.mkstemp(prefix="exec-guard-", suffix=".jsonl")[1])
    os.environ[LOG_ENV] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(SITE_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    sys.path.insert(0, str(SITE_DIR))
    import sitecustomize  # the recorder, also when this process imported it at start-up

    sitecustomize.install()

    config.pluginmanager.register(ExecGuard(log), "exec-guard")
    config.add_cleanup(lambda: log.unlink(missing_ok=True))
