"""factcheck serve: the HTTP API under gunicorn, refusing open writes beyond loopback."""

from __future__ import annotations

import argparse
import os
import sys

from service.cli.common import Command
from service.config import Config


def register(command: Command) -> None:
    serve = command(
        "serve",
        "Run the HTTP API under gunicorn: the check page at /, the API docs at /docs, "
        "Prometheus metrics at /metrics.",
        "  factcheck serve\n  FACTCHECK_API_KEYS=secret factcheck serve --bind 0.0.0.0:8000 "
        "--workers 4",
    )
    serve.add_argument("--bind", help="HOST:PORT (default: FACTCHECK_BIND or 127.0.0.1:8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: FACTCHECK_WORKERS)")
    serve.add_argument(
        "--allow-open-writes",
        action="store_true",
        help="listen beyond loopback although no API key is configured (anyone may then add "
        "and delete articles; default: FACTCHECK_ALLOW_OPEN_WRITES)",
    )
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from service.api.auth import load_keys, open_writes_refusal

    if args.bind:
        os.environ["FACTCHECK_BIND"] = args.bind
    if args.workers:
        os.environ["FACTCHECK_WORKERS"] = str(args.workers)
    config = Config.from_env()
    refusal = open_writes_refusal(config, load_keys(config))
    if refusal and not (args.allow_open_writes or config.allow_open_writes):
        print(f"factcheck serve: {refusal}", file=sys.stderr)
        return 2
    if args.allow_open_writes:  # for the same check on gunicorn's final bind (gunicorn_conf)
        os.environ["FACTCHECK_ALLOW_OPEN_WRITES"] = "1"
    if refusal:
        print(
            f"factcheck serve: WARNING: listening on {config.bind} with no API key: "
            "anyone who can reach it may add and delete articles.",
            file=sys.stderr,
        )
    from service.store import open_store

    # Open the store once here: a store that cannot be opened (a read-only SQLite file) is
    # one line now, not a traceback from every worker that gunicorn boots.
    open_store(config.store, config.redis_prefix, config.redis_timeout_s).close()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:service.serving.gunicorn_conf",
        "service:create_app()",
    ]
    os.execv(sys.executable, argv)  # replaces this process; gunicorn handles signals
