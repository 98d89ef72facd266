"""Wall time of the synthetic suite with and without pytest-xdist (prints figures).

    .venv/bin/python bench/xdist_gain.py [--runs 3] [--workers 2] [-- extra pytest args]

Each worker runs its own stack; stack-mutating checks stay on one worker (see the plugin), so
the gain comes from read-only checks and stack start-up running beside the serial group.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(workers: int, extra: list[str]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="synthmon-bench-") as base:
        Path(base).chmod(0o755)
        argv = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers),
            "checks", "load", "slo", "examples/manager-app/checks", "--load-profile", "smoke",
            "--run-dir", base, *extra,
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        return time.monotonic() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()
    figures: dict[int, list[float]] = {0: [], args.workers: []}
    for _ in range(args.runs):
        for workers in figures:  # interleaved, so drift on a shared machine hits both alike
            seconds, code = one_run(workers, args.extra)
            figures[workers].append(seconds)
            print(f"-n {workers}: {seconds:.1f} s (pytest exit {code})", flush=True)
    serial, parallel = (statistics.median(figures[w]) for w in figures)
    print(f"median -n 0: {serial:.1f} s; median -n {args.workers}: {parallel:.1f} s; "
          f"ratio {serial / parallel:.2f}x over {args.runs} runs")  # fmt: skip


if __name__ == "__main__":
    main()
