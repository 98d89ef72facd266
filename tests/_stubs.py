"""Local stand-ins for the app's API, for testing and benchmarking the load generator itself
(test and bench code, not the library: nginx comes from scripts/packages.txt "test"/"bench").

``nginx_stub`` answers every app route with static JSON (fast: measures the generator, not a
server); ``slow_stub`` sleeps per request (a server too slow for the offered rate, to prove the
coordinated-omission check). Both bind 127.0.0.1 only and run in their own process group,
which is torn down on exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synthmon.load.process import ProcessGroup
from synthmon.ports import free_ports

_TASK = '{"id": 1, "title": "synthetic", "completed": false}'
_NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
  default_type application/json;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    root {dir}/www;
    location = /static.json {{ }}
    location = /api/tasks {{
      if ($request_method = POST) {{ return 201 '{task}'; }}
      return 200 '[{task}]';
    }}
    location ~ ^/api/tasks/\\d+/complete$ {{ return 200 '{task}'; }}
    location ~ ^/api/tasks/\\d+$ {{ return 200 '{task}'; }}
    location ^~ /api/repos/ {{ return 200 '{{"full_name": "octocat/hello-world"}}'; }}
    location = /api/login {{ return 200 '{{"token": "stub"}}'; }}
    location = /health {{ return 200 '{{"status": "healthy"}}'; }}
  }}
}}
"""

_SLOW_SERVER = """\
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
DELAY = float(sys.argv[2])
class H(BaseHTTPRequestHandler):
    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        time.sleep(DELAY)
        body = b'{"id": 1, "title": "slow"}'
        self.send_response(201 if self.command == "POST" and self.path == "/api/tasks" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = _answer
    def log_message(self, *args):
        pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    """Return once 127.0.0.1:port accepts connections; TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s:g} s")


@contextmanager
def nginx_stub(workdir: Path) -> Iterator[str]:
    """nginx serving static JSON for the app's routes (and /static.json); yields its base URL."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"  # root's PATH may lack sbin
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    (workdir / "www").mkdir(exist_ok=True)
    (workdir / "www" / "static.json").write_text(f"[{_TASK}]\n", encoding="utf-8")
    port = free_ports(1)[0]
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read a 0700 tmp dir
    conf = _NGINX_CONF.format(user=user, dir=workdir, port=port, task=_TASK)
    (workdir / "nginx.conf").write_text(conf, encoding="utf-8")
    argv = [nginx, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", "nginx.conf"]
    with ProcessGroup() as group:
        group.spawn(argv, workdir / "nginx.out", dict(os.environ), workdir)
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"


@contextmanager
def slow_stub(workdir: Path, delay_s: float) -> Iterator[str]:
    """A threaded HTTP server that sleeps ``delay_s`` per request; yields its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_ports(1)[0]
    argv = [sys.executable, "-c", _SLOW_SERVER, str(port), str(delay_s)]
    with ProcessGroup() as group:
        group.spawn(argv, workdir / "slow.out", dict(os.environ), workdir)
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
