"""``python -m synthmon.sinks --host 127.0.0.1 --http-port P --smtp-port S [--log FILE]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack

from synthmon.sinks._server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m synthmon.sinks",
        description="Local sinks for every Alertmanager integration (HTTP) and SMTP.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--log", help="append JSON lines here instead of stdout")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        log = stack.enter_context(open(args.log, "a")) if args.log else sys.stdout
        try:
            asyncio.run(serve(args.host, args.http_port, args.smtp_port, log))
        except OSError as exc:  # a port in use: one line, not a traceback
            print(f"synthmon.sinks: cannot listen on {args.host}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
