"""The Allure HTML report as a person sees it: pytester writes results with synthmon.evidence
(a passing and a failing check, one with the SLO plots), scripts/report.sh builds the report
with the real Allure, a local http.server serves it, and headless Chromium renders it.

The DOM Chromium built must list both suites, and the SLO test's page must offer the latency
plot as a PNG that the server really serves; screenshots of that page and of the plot as
Chromium shows it must not be blank.
Skipped only when a program it needs is not installed (``make test`` installs them).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._programs import require as require_program

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # nothing leaves the machine
    "--virtual-time-budget=15000",  # let the report's scripts fetch and render its data
)  # fmt: skip
NEEDED = {
    "chromium": "scripts/setup-report.sh chromium",
    "java": "scripts/setup-report.sh allure",
    "npm": "scripts/setup-report.sh allure",
}

HEALTH = """
import httpx
from synthmon import evidence

def test_app_health():
    request = httpx.Request("GET", "http://127.0.0.1:1/health")
    response = httpx.Response(200, json={"status": "healthy"}, request=request)
    with evidence.step("Check application health: GET /health"):
        evidence.attach_exchange(response)

def test_alert_reaches_pagerduty():
    with evidence.step("Verify PagerDuty + Slack notified (firing)"):
        raise AssertionError("no notification firing DatabaseConnectionFailure at pagerduty")
"""
SLO = """
from pathlib import Path
from synthmon import evidence
from synthmon.load import LoadResult
from synthmon.plots import Thresholds

def test_slo_gate(tmp_path):
    lines = [f"{1000 + i / 20}\\tGET\\t/api/tasks\\t{40 + i % 30}\\t{int(i % 97 == 0)}\\n"
             for i in range(400)]
    (tmp_path / "requests-1.tsv").write_text("".join(lines))
    load = LoadResult("baseline", "http://127.0.0.1:1", 1000.0, 1020.0, 400, 5, 20.0, 20.0,
                      69.0, True, "ok", True, 400, 5, files={"window": tmp_path / "w.json"})
    with evidence.step("Plot latency percentiles and error rate against the thresholds"):
        evidence.attach_load_plots(load, Thresholds(0.2, 0.95, 0.01))
"""


def require(program: str) -> str:
    return require_program(program, f"`{NEEDED[program]}` (make test runs it)")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The report directory served by python -m http.server on 127.0.0.1 (ended by PID)."""
    report = tmp_path / "allure-report"
    report.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
        port = first.split(" port ")[1].split()[0]
        yield f"http://127.0.0.1:{port}/", report
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="synthmon-chromium-") as profile:
        return subprocess.run(
            [require("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip


def build_report(pytester: pytest.Pytester, report: Path) -> None:
    pytester.makepyfile(test_health_suite=HEALTH, test_slo_suite=SLO)
    results = pytester.path / "allure-results"
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--alluredir={results}")
    run.assert_outcomes(passed=2, failed=1)
    built = subprocess.run(
        [str(ROOT / "scripts/report.sh"), str(results), str(report)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, f"scripts/report.sh failed:\n{built.stdout}\n{built.stderr}"
    assert f"Allure report: {report}/index.html" in built.stdout


def test_the_report_shows_the_suites_and_an_slo_plot_in_chromium(
    pytester: pytest.Pytester, served: tuple[str, Path], tmp_path: Path
) -> None:
    for program in NEEDED:
        require(program)
    url, report = served
    build_report(pytester, report)

    suites = chromium("--dump-dom", f"{url}#suites")
    assert suites.returncode == 0, suites.stderr[-2000:]
    for name in ("test_health_suite", "test_slo_suite"):
        assert name in suites.stdout, f"suite {name} not shown on {url}#suites"

    tree = json.loads((report / "data/suites.json").read_text())
    cases = {case["name"]: case["uid"] for suite in tree["children"] for case in suite["children"]}
    page = f"{url}#testresult/{cases['test_slo_gate']}"
    dom = chromium("--dump-dom", page).stdout
    assert "Plot latency percentiles and error rate against the thresholds" in dom, dom[-2000:]
    assert "latency percentiles per second" in dom, f"no latency plot listed on {page}"
    pngs = [p.split('"')[0] for p in dom.split('data-download="')[1:] if ".png" in p.split('"')[0]]
    assert pngs, f"{page} offers no PNG attachment"
    plot = httpx.get(url + pngs[0], timeout=10)
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG"), pngs[0]
    assert len(plot.content) > 10_000, f"{pngs[0]}: {len(plot.content)} bytes is no plot"

    shot = tmp_path / "slo-test-page.png"
    screenshot(page, shot)
    inked = float((pixels(shot).min(axis=-1) < 0.9).mean())
    assert inked > 0.01, f"screenshot of {page} is blank ({inked:.2%} non-white pixels)"
    shot = tmp_path / "slo-plot.png"
    screenshot(url + pngs[0], shot)  # Chromium shows the image on a dark page
    image = pixels(shot)
    canvas = float((image.min(axis=-1) > 0.95).mean())
    red = int(((image[..., 0] > 0.8) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)).sum())
    assert canvas > 0.1 and red > 200, (
        f"{shot}: Chromium did not show the plot with its threshold line "
        f"({canvas:.1%} white canvas, {red} red pixels)"
    )


def screenshot(url: str, path: Path) -> None:
    taken = chromium("--window-size=1400,1000", f"--screenshot={path}", url)
    assert taken.returncode == 0 and path.is_file(), taken.stderr[-2000:]


def pixels(png: Path) -> Any:
    """RGB pixels in [0, 1] (matplotlib reads PNG without another dependency)."""
    from matplotlib.image import imread

    return imread(png)[..., :3]
