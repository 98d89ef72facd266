"""Run inside a network namespace with loopback only (tests/test_no_page_leaves.py): an
Alertmanager whose receiver still points off the machine, one alert for it; prints what the
alert scenarios' delivery check reads (the failed counter and Alertmanager's failure line).

Usage: python tests/_netns_leak_probe.py ALERTMANAGER WORKDIR
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from synthmon.alerting import AlertmanagerClient, alert_payload
from synthmon.ports import free_ports
from synthmon.waiting import NotYet, wait_until

CONFIG = """\
route: {receiver: leaky-pager, group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: leaky-pager
    webhook_configs:
      - url: http://192.0.2.10/page  # TEST-NET-1: never routed anywhere
"""


def main(alertmanager: str, work: Path) -> int:
    (work / "alertmanager.yml").write_text(CONFIG)
    (port,) = free_ports(1)
    log = (work / "alertmanager.log").open("w")
    argv = [alertmanager, f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address="]  # fmt: skip
    server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        with AlertmanagerClient(f"http://127.0.0.1:{port}") as client:
            wait_until(client.ready, timeout_s=20, what="Alertmanager ready")
            client.post_alerts([alert_payload({"alertname": "LeakProbe", "severity": "critical"})])

            def failed() -> float | NotYet:
                count = sum(client.failed_notifications().values())
                return count or NotYet("no failed notification yet")

            count = wait_until(failed, timeout_s=60, interval_s=0.5, what="a failed notification")
        lines = (work / "alertmanager.log").read_text().splitlines()
        print(f"failed notifications: {count:g}")
        print(next((ln for ln in lines if "Notify" in ln and "failed" in ln), "(no failure line)"))
        return 0
    finally:
        server.terminate()
        server.wait(10)
        log.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
