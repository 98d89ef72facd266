"""``python -m linkcheck --host H --port P``: serve the API with uvicorn."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from linkcheck.app import create_app
from linkcheck.config import Settings
from linkcheck.telemetry import LOG_FORMAT, TraceIds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="linkcheck", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=LOG_FORMAT,  # ends with " trace_id=... span_id=..." inside a span
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(TraceIds())
    # httpx logs every request at INFO: the prober alone would log twice a second.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        access_log=False,
    )


if __name__ == "__main__":
    main()
