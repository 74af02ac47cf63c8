"""`python -m flightontime_server [--model DIR ...] [--host H] [--port P] [--workers N]
[--insecure-no-auth] [--generate-token]`: serve the HTTP API (the same as `flightontime serve`)."""

from __future__ import annotations

import argparse
import os
import sys

from flightontime_core.adapters import ServeOptions
from flightontime_server.adapter import HTTP_ADAPTER


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m flightontime_server", description=__doc__)
    parser.add_argument(
        "--model",
        action="append",
        help="a model bundle, or a directory of bundles; may be repeated, the first answers "
        "other countries (FLIGHTONTIME_MODEL_DIR)",
    )
    parser.add_argument("--host", help="interface to bind (FLIGHTONTIME_HOST)")
    parser.add_argument("--port", type=int, help="TCP port (FLIGHTONTIME_PORT)")
    parser.add_argument(
        "--workers", type=int, help="worker processes (FLIGHTONTIME_WORKERS; default: CPUs)"
    )
    parser.add_argument(
        "--insecure-no-auth", action="store_true", help="serve without authentication (dev only)"
    )
    parser.add_argument(
        "--generate-token",
        action="store_true",
        help="without a configured token, make one and print it once",
    )
    args = parser.parse_args(argv)
    options = ServeOptions(
        model_dir=None if not args.model else os.pathsep.join(args.model),
        host=args.host,
        port=args.port,
        workers=args.workers,
        insecure_no_auth=args.insecure_no_auth,
        generate_token=args.generate_token,
    )
    return HTTP_ADAPTER.serve(options)


if __name__ == "__main__":
    sys.exit(main())
