"""``python -m synthmon.upstream --host 127.0.0.1 --port P --routes FILE``."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from synthmon.errors import ConfigError
from synthmon.upstream._model import load_routes
from synthmon.upstream._server import _log, build_app

GRACE_S = 1  # in-flight (possibly delayed) requests get this long at SIGTERM


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m synthmon.upstream",
        description="A fake HTTP upstream: the routes of FILE, and a control API under /_fake/.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="the one address to bind")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", required=True, metavar="FILE", help="the routes file (YAML)")
    args = parser.parse_args(argv)
    try:
        spec = load_routes(args.routes)
    except ConfigError as exc:
        print(f"synthmon.upstream: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        build_app(spec), host=args.host, port=args.port, log_level="warning",
        access_log=False, lifespan="off", server_header=False,
        timeout_graceful_shutdown=GRACE_S,
    )  # fmt: skip
    _log("started", host=args.host, port=args.port, routes=args.routes)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # the port was taken: uvicorn has said why on stderr
        print(f"synthmon.upstream: cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
