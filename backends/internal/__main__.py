"""`python -m backends.internal [--host H] [--port P]`: the booking engine alone."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from backends.internal.app import create_app
from backends.internal.settings import InternalSettings


def serve(
    host: str = "127.0.0.1", port: int = 8100, settings: InternalSettings | None = None
) -> None:
    """Run the engine under uvicorn until interrupted (what `sluis backend` calls)."""
    app = create_app(settings or InternalSettings.from_env())
    uvicorn.run(app, host=host, port=port, proxy_headers=False, access_log=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sluis backend", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
