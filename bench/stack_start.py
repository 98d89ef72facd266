"""How long does the embedded stack take to start (every service ready) and to tear down, per
backend? Median of N runs each, processes vs containers. Prints a table, asserts nothing.

The containers backend needs an engine (DOCKER_HOST, or a default socket) holding the images:
    scripts/podman.sh run -- .venv/bin/python bench/stack_start.py [--runs 5] [--backends ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthmon.settings import Settings
from synthmon.stack import open_stack

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "manager-app"


def once(backend: str, run_dir: Path) -> tuple[float, float]:
    """Seconds to a ready stack, and seconds to tear it down."""
    given = {"stack": backend, "run_dir": str(run_dir), "project": str(EXAMPLE)}
    settings = Settings.from_values(lambda o: given.get(o.name), {})
    began = time.perf_counter()
    with open_stack(settings):
        ready = time.perf_counter()
    return ready - began, time.perf_counter() - ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backends", default="processes,containers")
    args = parser.parse_args()
    print(f"stack start per backend, median of {args.runs} (min..max), seconds")
    print(f"{'backend':<12} {'start':>24} {'teardown':>24}")
    with tempfile.TemporaryDirectory(prefix="synthmon-bench-") as tmp:
        for backend in args.backends.split(","):
            starts, stops = [], []
            for _ in range(args.runs):
                start, stop = once(backend, Path(tmp))
                starts.append(start)
                stops.append(stop)

            def cell(xs: list[float]) -> str:
                return f"{statistics.median(xs):.2f} ({min(xs):.2f}..{max(xs):.2f})"

            print(f"{backend:<12} {cell(starts):>24} {cell(stops):>24}", flush=True)


if __name__ == "__main__":
    main()
