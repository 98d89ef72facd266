"""`python -m app --host H --port P`: one uvicorn worker on uvloop + httptools, JSON logs."""

from __future__ import annotations

import argparse

import uvicorn

from app.logs import log_config
from app.main import create_app


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until SIGTERM/SIGINT (uvicorn drains, lifespan closes pools)."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    args = parser.parse_args(argv)
    config = log_config(args.log_level)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_config=config,
        access_log=False,  # the app writes its own access line, labelled by route template
        server_header=False,
        timeout_graceful_shutdown=5,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
