"""factcheck index: build and save the approximate-search index now, on every core."""

from __future__ import annotations

import argparse
import sys
import time

from service.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Command
from service.config import Config


def register(command: Command) -> None:
    ann = command(
        "index",
        "Build the approximate-search index of every indexed statement now, on all cores, "
        "and save it beside the store (FACTCHECK_ANN_DIR). A running service maps it in at "
        "its next check; without this it builds one in the background once the index holds "
        "FACTCHECK_ANN_MIN_STATEMENTS. Also saves a snapshot of the index's rows there, which "
        "the next start maps instead of reloading every statement.",
        "  factcheck index\n  factcheck index --store sqlite:///data/archive.db",
    )
    ann.set_defaults(run=run)


def run(_args: argparse.Namespace) -> int:
    from service.core.synced import open_index
    from service.store import open_store

    config = Config.from_env()
    if config.ann == "off":
        print("factcheck: FACTCHECK_ANN=off: no approximate index to build", file=sys.stderr)
        return EXIT_USAGE
    from service.core.embed import get_embedder

    store = open_store(config.store, config.redis_prefix, config.redis_timeout_s)
    embedder = get_embedder(config)
    index = open_index(config, store, embedder.name, embedder.dimension, background_builds=False)
    started = time.perf_counter()
    index.rebuild()
    loaded = time.perf_counter()
    if not index.build_ann():
        print("factcheck: another process is building the approximate index", file=sys.stderr)
        return EXIT_FAILURE
    assert index.ann_files is not None and index.snapshots is not None
    built = time.perf_counter()
    print(
        f"approximate index of {index.stats().statements} statements built in "
        f"{built - loaded:.1f} s (index loaded in {loaded - started:.1f} s) "
        f"-> {index.ann_files.directory}"
    )
    # The rows too, so that the next start maps them instead of reloading the store.
    if index.write_snapshot() is not None:
        print(
            f"index snapshot written in {time.perf_counter() - built:.1f} s "
            f"-> {index.snapshots.directory}"
        )
    return EXIT_OK
