"""``python -m synthmon.faultproxy --host H --port P [--config proxies.json] [--log FILE]``.

Toxiproxy's API on H:P, with the proxies of a Toxiproxy populate file; ready when ``GET
/version`` answers. Bad input (a port in use, a bad config) is one line on stderr and exit 1.
Imports only the standard library, starlette, uvicorn and synthmon.errors, so that it runs in a
small image with just those.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from synthmon.errors import SynthmonError
from synthmon.faultproxy._server import bind, read_config, serve
from synthmon.faultproxy._toxics import ApiError


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # SIGTERM unwinds like Ctrl-C: every proxy is closed on the way out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthmon.faultproxy", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8474)
    parser.add_argument("--config", type=Path, help="Toxiproxy populate JSON: a list of proxies")
    parser.add_argument("--log", type=Path, help="append connection and toxic events here")
    args = parser.parse_args(argv)
    try:
        config = read_config(args.config) if args.config else []
        sock = bind(args.host, args.port)
    except SynthmonError as exc:
        print(f"faultproxy: {exc}", file=sys.stderr)
        return 1
    if args.log:
        handler = logging.FileHandler(args.log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger("synthmon.faultproxy").addHandler(handler)
        logging.getLogger("synthmon.faultproxy").setLevel(logging.INFO)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        asyncio.run(serve(sock, config))
    except ApiError as exc:
        print(f"faultproxy: {args.config}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
