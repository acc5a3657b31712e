"""The `factcheck` command: serve | ingest | check | eval | index, one module a command."""

from __future__ import annotations

import argparse
import os
import sys

from service.cli import check, evaluate, index, ingest, serve
from service.cli.common import EXIT_CODES, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from service.config import Config

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.store:
        os.environ["FACTCHECK_STORE"] = args.store
    from service.store.base import StoreUnavailable

    try:
        return int(args.run(args))
    except (ValueError, OSError, StoreUnavailable) as exc:
        print(f"factcheck: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("factcheck: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factcheck",
        description="Claim-to-evidence service: index articles, check claims.",
        epilog="Every setting is also a FACTCHECK_* environment variable (see the README).\n"
        "Run 'factcheck COMMAND --help' for a command's options.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_USAGE

    parser.set_defaults(run=usage, store=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, help_: str, examples: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"examples:\n{examples}\n\n{EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "--store", help=f"store URL (default: FACTCHECK_STORE or {Config().store})"
        )
        return sub

    for module in (serve, ingest, check, evaluate, index):
        module.register(command)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("factcheck")
    except PackageNotFoundError:
        return "unknown"
