"""How many requests/s can the load generator itself produce? (Prints figures, asserts nothing.)

A load test is only meaningful below the generator's own ceiling, so this measures it against
nginx on loopback answering static content (a server far faster than any Python generator):

- one Locust process, a bare FastHttpUser hitting one static path;
- one Locust process, synthmon's SynthmonUser (the real weighted mix);
- Locust master + 2 workers, the bare user;
- ``wrk -t1 -c50 -d10s`` on the same static path (a C generator: the reference).

Locust runs use 50 users with no wait time and a 10 s steady window (the same as wrk), measured
by ``run_load`` over the steady window only. Medians of 3 runs.

    .venv/bin/python bench/load_ceiling.py [--runs 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synthmon.load import LoadProfile, run_load  # noqa: E402
from tests._stubs import nginx_stub  # noqa: E402

LOAD_DIR = REPO / "examples" / "manager-app" / "load"  # the reference example's locustfile

USERS = 50
BARE = '''\
"""One static path, no think time: Locust's own ceiling (run_load adds the shape/recorder)."""
from locust import FastHttpUser, constant, task


class BareUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def static(self) -> None:
        self.client.get("/static.json")
'''


def wrk_rps(url: str, seconds: int) -> float:
    """Requests/s reported by ``wrk -t1 -c50``."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{USERS}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk output: {out!r}")
    return float(match.group(1))


def median_of(runs: int, label: str, measure: Callable[[int], float]) -> float:
    values = [measure(i) for i in range(runs)]
    median = statistics.median(values)
    shown = ", ".join(f"{v:,.0f}" for v in values)
    print(f"{label:<42} median {median:>9,.0f} req/s   runs: {shown}", flush=True)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found (apt-get install wrk)")
    profile = LoadProfile(
        "ceiling", users=USERS, spawn_rate=USERS, ramp_s=1, steady_s=args.seconds
    )  # wait 0..0: every user loops as fast as it can

    with tempfile.TemporaryDirectory(prefix="load-ceiling-") as tmp:
        work = Path(tmp)
        bare = work / "bare_locustfile.py"
        bare.write_text(BARE, encoding="utf-8")
        print(f"CPUs: {os.cpu_count()}  users/connections: {USERS}  window: {args.seconds} s")
        with nginx_stub(work / "nginx") as url:

            def locust(locustfile: Path, workers: int, tag: str) -> Callable[[int], float]:
                def run(i: int) -> float:
                    out = work / f"{tag}-{i}"
                    result = run_load(url, profile, out, workers=workers, locustfile=locustfile)
                    if result.failures:
                        print(f"  ({tag} run {i}: {result.failures} failures)")
                    return result.achieved_rps

                return run

            wrk = median_of(
                args.runs,
                "wrk -t1 -c50 (static)",
                lambda _: wrk_rps(f"{url}/static.json", args.seconds),
            )
            one = median_of(
                args.runs, "locust 1 process, bare FastHttpUser", locust(bare, 0, "bare")
            )
            mix = median_of(
                args.runs,
                "locust 1 process, synthmon SynthmonUser",
                locust(LOAD_DIR / "locustfile.py", 0, "mix"),
            )
            dist = median_of(args.runs, "locust master + 2 workers, bare", locust(bare, 2, "dist"))

    print()
    print(f"locust bare / wrk            {one / wrk:6.3f}")
    print(f"synthmon mix / bare          {mix / one:6.3f}")
    print(f"(master + 2 workers) / one   {dist / one:6.3f}")


if __name__ == "__main__":
    main()
