"""What does synthmon's fault proxy add to a request when no toxic is set? (Prints figures,
asserts nothing; the goal is < 1 ms median added.)

Small HTTP GETs at a paced 1,000 req/s on one keep-alive connection, against the nginx stub of
tests/_stubs.py on 127.0.0.1: directly, and through ``python -m synthmon.faultproxy`` (its own
process, as a stack runs it), alternating rounds so that both see the same machine load.
Reports each mode's median and p99 latency, the median added latency and the ratio.

    .venv/bin/python bench/faultproxy_overhead.py [--rounds 5] [--seconds 2] [--rate 1000]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synthmon.faultproxy import ToxiproxyClient  # noqa: E402
from synthmon.ports import HOST, free_ports  # noqa: E402
from synthmon.waiting import wait_until  # noqa: E402
from tests._stubs import nginx_stub  # noqa: E402


def round_ms(port: int, seconds: float, rate: int) -> list[float]:
    """Latencies (ms) of GET /static.json sent every 1/rate s for ``seconds``, one connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    conn.request("GET", "/static.json")
    conn.getresponse().read()  # connected and warm
    taken: list[float] = []
    start = next_at = time.perf_counter()
    while next_at - start < seconds:
        while (now := time.perf_counter()) < next_at:
            time.sleep(max(0.0, next_at - now - 0.0002))
        sent = time.perf_counter()
        conn.request("GET", "/static.json")
        answer = conn.getresponse()
        answer.read()
        taken.append((time.perf_counter() - sent) * 1000)
        if answer.status != 200:
            raise SystemExit(f"GET /static.json answered {answer.status}")
        next_at += 1 / rate
    conn.close()
    return taken


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and mode")
    parser.add_argument("--rate", type=int, default=1000, help="requests per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, nginx_stub(Path(tmp) / "nginx") as url:
        direct = urlsplit(url).port or 80
        api_port, proxy_port = free_ports(2)
        argv = [
            sys.executable,
            "-m",
            "synthmon.faultproxy",
            "--host",
            HOST,
            "--port",
            f"{api_port}",
        ]
        proc = subprocess.Popen(argv, cwd=REPO)
        try:
            with ToxiproxyClient(f"http://{HOST}:{api_port}") as client:
                wait_until(client.ready, timeout_s=20, interval_s=0.1, what="faultproxy /version")
                client.create("nginx", f"{HOST}:{proxy_port}", f"{HOST}:{direct}")
            runs: dict[str, list[float]] = {"direct": [], "proxied": []}
            for number in range(1, args.rounds + 1):
                for mode, port in (("direct", direct), ("proxied", proxy_port)):
                    taken = round_ms(port, args.seconds, args.rate)
                    runs[mode].extend(taken)
                    rps = len(taken) / args.seconds
                    print(
                        f"round {number} {mode:8} {len(taken):6} req ({rps:5.0f}/s) "
                        f"median {statistics.median(taken):.3f} ms"
                    )
        finally:
            proc.terminate()
            proc.wait(10)
    medians = {mode: statistics.median(values) for mode, values in runs.items()}
    for mode, values in runs.items():
        print(
            f"{mode:8} {len(values):6} requests  median {medians[mode]:.3f} ms  "
            f"p99 {pct(values, 0.99):.3f} ms"
        )
    added = medians["proxied"] - medians["direct"]
    print(f"median added by the proxy: {added:.3f} ms (goal < 1 ms)")
    print(f"ratio proxied/direct: {medians['proxied'] / medians['direct']:.2f}")


if __name__ == "__main__":
    main()
