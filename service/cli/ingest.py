"""factcheck ingest: a bulk load of article files under the API's own rules, streamed."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from service.cli.common import EXIT_FAILURE, EXIT_OK, Command
from service.config import Config


def register(command: Command) -> None:
    ingest = command(
        "ingest",
        "Add articles from files or folders: .txt (title and outlet from a metadata.jsonl "
        "beside them), .json (an object or a list), .jsonl (one object a line; a bad line is "
        "reported with its number and the rest still go in), .html/.htm (a saved web page: "
        "its article body, title, outlet and date are extracted, the boilerplate left out). "
        "A bulk load: the API's own rules for every record, the statements of a chunk of "
        "articles embedded together on every core and written at once, the input streamed. "
        "Idempotent by content hash: after an interrupt, run it again to add the rest. "
        "Ends with a count of created, replaced, unchanged and rejected articles.",
        "  factcheck ingest examples/sample-corpus.jsonl\n"
        "  factcheck ingest --source 'My Desk' notes/ saved-page.html",
    )
    ingest.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="files, or folders to search"
    )
    ingest.add_argument("--source", default="unknown", help="outlet for records that name none")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="model threads (default: every core this process may use; FACTCHECK_THREADS is "
        "the serving workers' setting)",
    )
    ingest.add_argument(
        "--chunk",
        type=int,
        default=4096,
        metavar="STATEMENTS",
        help="statements embedded and written together (default 4096): an interrupt loses "
        "at most one chunk, which a rerun adds",
    )
    ingest.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from service.core.bulk_ingest import Source, ingest_records
    from service.core.embed import get_embedder
    from service.core.ingest import IngestResult, Limits
    from service.documents.files import count_records, each_record, expand
    from service.store import open_store

    config = Config.from_env()
    store = open_store(config.store, config.redis_prefix, config.redis_timeout_s)
    # A bulk load owns the machine: every core for the model, not a serving worker's one.
    embedder = get_embedder(replace(config, threads=args.threads or _cores()))
    limits = Limits.of(config)  # the API's own limits and rules (service.core.ingest)
    counts = {"created": 0, "replaced": 0, "unchanged": 0, "rejected": 0}
    statements = 0
    files = expand(args.paths)
    # One tick per record (a .jsonl line, a page, a .txt file); the total is a cheap line
    # count, the records themselves are streamed.
    bar = tqdm(
        total=sum(count_records(p) for p in files),
        unit="article",
        disable=args.quiet or not files,
        file=sys.stderr,
    )
    started = time.perf_counter()

    def reject(origin: str, reason: Any) -> None:
        counts["rejected"] += 1
        bar.update(1)
        tqdm.write(f"rejected {origin}: {reason}", file=sys.stderr)

    def done(result: IngestResult) -> None:
        nonlocal statements
        counts[result.status] += 1
        if result.status != "unchanged":
            statements += result.article.statement_count
        rate = statements / max(time.perf_counter() - started, 1e-9)
        bar.set_postfix_str(f"{rate:.0f} statements/s", refresh=False)
        bar.update(1)

    def records() -> Any:
        for path in files:
            for record in each_record(path, args.source, reject):
                yield Source(record.fields, record.origin)

    try:
        ingest_records(
            store, embedder, records(), limits, done, reject, chunk_statements=max(args.chunk, 1)
        )
    except KeyboardInterrupt:
        bar.close()
        print(
            f"factcheck: {sum(counts.values())} articles done before the interrupt, each "
            "whole; run the same command again to add the rest",
            file=sys.stderr,
        )
        raise
    bar.close()
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    print(f"ingested {sum(counts.values())} articles ({summary}); {statements} statements added")
    return EXIT_FAILURE if counts["rejected"] else EXIT_OK


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
