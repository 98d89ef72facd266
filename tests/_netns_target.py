"""The target of tests/test_remote_workers.py: answers every GET and counts it, exposing the
count in Prometheus's text format on /metrics (not counted), so the test can compare what the
load generator says it sent with what the server's Prometheus saw.

Usage: python tests/_netns_target.py HOST PORT
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTER = "synthmon_target_requests_total"
_lock = threading.Lock()
_count = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        global _count
        if self.path == "/metrics":
            with _lock:
                body = f"# TYPE {COUNTER} counter\n{COUNTER} {_count}\n".encode()
        else:
            with _lock:
                _count += 1
            body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler)
    server.daemon_threads = True
    print("listening", flush=True)
    server.serve_forever()
