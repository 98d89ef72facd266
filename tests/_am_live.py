"""A real Alertmanager (Debian's) and synthmon's sinks on free ports, for the live tests that
need both; stopped (and their data removed) when the block ends."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from synthmon.alerting import AlertmanagerClient
from synthmon.ports import HOST, free_ports
from synthmon.sinks import SinkClient
from synthmon.stack.processes import ProcessRunner
from synthmon.stack.service import HttpProbe, Service
from tests._programs import require

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Pair:
    sinks: SinkClient
    alertmanager: AlertmanagerClient
    alertmanager_url: str


@contextlib.contextmanager
def sinks_and_alertmanager(work: Path, config_for: Callable[[str, int], str]) -> Iterator[Pair]:
    """``config_for(sinks_url, smtp_port)``: the alertmanager.yml to run."""
    binary = require("prometheus-alertmanager")
    http_port, smtp_port, am_port = free_ports(3)
    sinks_url, am_url = f"http://{HOST}:{http_port}", f"http://{HOST}:{am_port}"
    config = config_for(sinks_url, smtp_port)
    runner = ProcessRunner(work, startup_timeout=20)
    sinks = Service(
        "sinks", (sys.executable, "-m", "synthmon.sinks", "--host", HOST, "--http-port",
                  str(http_port), "--smtp-port", str(smtp_port)),
        HttpProbe(f"{sinks_url}/-/ready"), env={"PYTHONPATH": str(ROOT)},  # this checkout's
    )  # fmt: skip
    alertmanager = Service(
        "alertmanager", (binary, "--config.file={conf}/alertmanager.yml",
                         "--storage.path={data}", f"--web.listen-address={HOST}:{am_port}",
                         "--cluster.listen-address="),
        HttpProbe(f"{am_url}/-/ready"), configs={"alertmanager.yml": config},
    )  # fmt: skip
    try:
        runner.start(sinks)
        runner.start(alertmanager)
        with SinkClient(sinks_url) as client, AlertmanagerClient(am_url) as am:
            yield Pair(client, am, am_url)
    finally:
        runner.stop_all()
