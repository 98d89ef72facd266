"""Wall time of the smoke gate in CI: stack start + smoke Locust run + SLO gate (prints figures).

    .venv/bin/python bench/gate_smoke.py [--runs 3] [-- extra pytest args]

Each run is ``.venv/bin/pytest load slo --load-profile smoke -p no:cacheprovider --run-dir D``
as a subprocess (a fresh stack every time, D a new temporary directory, mode 755 so the
services' own users can reach their data), timed from launch to exit. The acceptance target
is under 60 s on 2 cores; this script only reports, it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ROOT / ".venv" / "bin" / "pytest"
WHY = re.compile(r"\b(FAIL|ERROR)\b|too few|no data|disagreement|Error:")


def one_run(extra: list[str]) -> tuple[float, int, str]:
    """Seconds, pytest's exit code and its summary line (the output's tail on a failure)."""
    with tempfile.TemporaryDirectory(prefix="synthmon-gate-smoke-") as base:
        Path(base).chmod(0o755)
        argv = [str(PYTEST), "load", "slo", "--load-profile", "smoke", "-p", "no:cacheprovider",
                "--run-dir", base, *extra]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        seconds = time.monotonic() - started
    lines = (done.stdout + done.stderr).strip().splitlines() or ["(no output)"]
    # on a failure, the assertion's non-passing verdict rows and their reasons say why
    why = [line for line in lines if line.startswith("E ") and WHY.search(line)]
    return seconds, done.returncode, "\n    ".join([lines[-1], *dict.fromkeys(why)][:13])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs: expected a count >= 1, got {args.runs}")
    if not PYTEST.is_file():
        parser.error(f"{PYTEST}: not found (run `make setup` first)")
    times: list[float] = []
    codes: list[int] = []
    print(f"{os.cpu_count()} CPUs; pytest load slo --load-profile smoke, {args.runs} runs")
    for i in range(1, args.runs + 1):
        seconds, code, summary = one_run(args.extra)
        times.append(seconds)
        codes.append(code)
        print(f"run {i}: {seconds:.1f} s, pytest exit {code}: {summary}", flush=True)
    print(
        f"median {statistics.median(times):.1f} s (min {min(times):.1f}, max {max(times):.1f}) "
        f"over {args.runs} runs; pytest exit codes {codes}"
    )


if __name__ == "__main__":
    main()
