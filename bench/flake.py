"""Flake figure: the whole synthetic suite N times on the processes stack, passes and failures
per check (prints figures; exits 1 when any check failed in any run).

    .venv/bin/python bench/flake.py [--runs 10] [--pytest-args "-n 2"] [--out DIR]

Each run is ``.venv/bin/pytest checks load slo examples/manager-app/checks --load-profile smoke
-p no:cacheprovider --junitxml=DIR/run-N/junit.xml --run-dir DIR/run-N/runs`` and is judged from
its JUnit XML only: a run without a readable JUnit file, or with no test in it, counts as a
failed run (no data is never success). Service logs of every run stay under DIR for the
post-mortem of a failure.
A check that both passed and failed across runs is flaky; the target is none, with no retries.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ROOT / ".venv" / "bin" / "pytest"
SUITE = ("checks", "load", "slo", "examples/manager-app/checks")
SUITE += ("--load-profile", "smoke", "-p", "no:cacheprovider")
OUTCOMES = ("passed", "failed", "error", "skipped")


@dataclass
class Run:
    """One suite run: wall time, pytest's exit code, and each check's outcome."""

    number: int
    seconds: float
    exit_code: int
    outcomes: dict[str, str] = field(default_factory=dict)
    problem: str = ""

    @property
    def green(self) -> bool:
        bad = {"failed", "error"}
        return not self.problem and not bad & set(self.outcomes.values()) and self.exit_code == 0


def outcomes_of(junit: Path) -> dict[str, str]:
    """``{node id: passed|failed|error|skipped}`` from a pytest JUnit XML file."""
    tree = ET.parse(junit)  # our own pytest's output, written moments ago
    found: dict[str, str] = {}
    for case in tree.iter("testcase"):
        node = f"{case.get('classname', '?')}::{case.get('name', '?')}"
        tags = {child.tag for child in case}
        outcome = next((o for o in ("failure", "error", "skipped") if o in tags), "passed")
        found[node] = {"failure": "failed"}.get(outcome, outcome)
    return found


def one_run(number: int, out: Path, extra: list[str]) -> Run:
    run_dir = out / f"run-{number}"
    (run_dir / "runs").mkdir(parents=True, exist_ok=True)
    junit = run_dir / "junit.xml"
    argv = [str(PYTEST), *SUITE, f"--junitxml={junit}", "--run-dir", str(run_dir / "runs"), *extra]
    started = time.monotonic()
    with (run_dir / "pytest.log").open("w") as log:
        code = subprocess.run(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    run = Run(number, time.monotonic() - started, code)
    try:
        run.outcomes = outcomes_of(junit)
    except (OSError, ET.ParseError) as exc:
        run.problem = f"no readable JUnit XML ({exc})"
    if not run.problem and not run.outcomes:
        run.problem = "JUnit XML holds no test"
    return run


def report(runs: list[Run]) -> int:
    """Print the per-check table and totals; the number of failures (results and runs)."""
    per_check: dict[str, Counter[str]] = defaultdict(Counter)
    for run in runs:
        for node, outcome in run.outcomes.items():
            per_check[node][outcome] += 1
    width = max((len(node) for node in per_check), default=5)
    print(f"\n{'check':<{width}}  " + "  ".join(f"{o:>7}" for o in OUTCOMES) + "  flaky")
    for node in sorted(per_check):
        counts = per_check[node]
        mark = "FLAKY" if counts["passed"] and (counts["failed"] or counts["error"]) else ""
        print(f"{node:<{width}}  " + "  ".join(f"{counts[o]:>7}" for o in OUTCOMES) + f"  {mark}")
    failures = sum(c["failed"] + c["error"] for c in per_check.values())
    broken = [r for r in runs if r.problem]
    flaky = sum(1 for c in per_check.values() if c["passed"] and (c["failed"] or c["error"]))
    green = sum(r.green for r in runs)
    print(f"\nruns: {len(runs)}, all green: {green}, failed check results: {failures}, "
          f"flaky checks: {flaky}, runs without usable results: {len(broken)}")  # fmt: skip
    times = [r.seconds for r in runs]
    print(f"wall time per run: median {statistics.median(times):.1f} s "
          f"(min {min(times):.1f}, max {max(times):.1f})")  # fmt: skip
    aborted = sum(r.exit_code not in (0, 1) for r in runs if not r.problem)  # usage, interrupt
    return failures + len(broken) + aborted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="suite runs (default 10)")
    parser.add_argument("--pytest-args", default="", help='extra pytest arguments, e.g. "-n 2"')
    parser.add_argument("--out", type=Path, help="results directory (default .synthmon/flake/…)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs: expected a number >= 1, got {args.runs}")
    out = args.out or ROOT / ".synthmon" / "flake" / time.strftime("%Y%m%d-%H%M%S")
    extra = shlex.split(args.pytest_args)
    print(f"{args.runs} runs of: pytest {' '.join(SUITE)} {' '.join(extra)}".rstrip())
    print(f"results and service logs: {out}", flush=True)
    runs = []
    for number in range(1, args.runs + 1):
        run = one_run(number, out, extra)
        runs.append(run)
        counts = Counter(run.outcomes.values())
        summary = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o]) or run.problem
        print(f"run {number}/{args.runs}: {run.seconds:.1f} s, pytest exit {run.exit_code}: "
              f"{summary}", flush=True)  # fmt: skip
    return 1 if report(runs) else 0


if __name__ == "__main__":
    sys.exit(main())
