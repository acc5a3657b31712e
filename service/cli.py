"""The `factcheck` command: serve | ingest | check | eval | index."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import marshmallow as ma

from service.config import Config
from service.evaluation import DEV_SETS

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_CODES = """exit status:
  0    success
  1    failure: a record rejected, the store unreachable, the eval gate failed
  2    usage error (unknown command, bad or missing argument, invalid claim)
  130  interrupted (Ctrl-C)"""


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
    serve.set_defaults(run=_serve)

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
    ingest.set_defaults(run=_ingest)

    check = command(
        "check",
        "Check a claim against the indexed articles: each supporting passage with its "
        "score, outlet, title, date and link, highlighted inside its context.",
        "  factcheck check 'The euro became cash in 2002'\n"
        "  factcheck check --top-k 3 --json 'Chernobyl exploded in 1986'",
    )
    check.add_argument("claim", help="the claim, as one argument (quote it)")
    check.add_argument("--top-k", type=int, default=None, help="evidence items (default 5)")
    check.add_argument(
        "--min-score",
        type=float,
        default=None,
        help="least cosine similarity for a related passage, below the evidence decision "
        "(default: FACTCHECK_MIN_SCORE)",
    )
    check.add_argument(
        "--min-probability",
        type=float,
        default=None,
        help="the evidence decision: least probability of some passage for the claim to "
        "have evidence (default: the fitted threshold; 0 lists passages on --min-score alone)",
    )
    check.add_argument("--json", action="store_true", help="print the API's JSON answer")
    check.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="highlight the passage in colour: auto (on a terminal, unless NO_COLOR is set), "
        "always, never (then it is marked »like this«)",
    )
    check.set_defaults(run=_check)

    evaluate = command(
        "eval",
        "Measure retrieval quality on a corpus and a claims file, beside two baselines.",
        "  factcheck eval --corpus examples/sample-corpus.jsonl "
        "--claims examples/sample-claims.jsonl\n"
        "  factcheck eval --dev-sets ../shared   # seeds, Climate-FEVER and WiCE",
    )
    evaluate.add_argument(
        "--corpus",
        type=Path,
        action="append",
        default=[],
        help="file or folder of articles (repeat, each with its --claims, for several sets)",
    )
    evaluate.add_argument(
        "--claims", type=Path, action="append", default=[], help="claims JSON Lines file"
    )
    evaluate.add_argument(
        "--dev-sets",
        type=Path,
        metavar="DIR",
        help="also run the dev sets of a folder laid out as ../shared: "
        + ", ".join(DEV_SETS)
        + " (those present)",
    )
    evaluate.add_argument(
        "--only", action="append", choices=tuple(DEV_SETS), help="with --dev-sets: just these"
    )
    evaluate.add_argument(
        "--min-kept",
        type=float,
        metavar="SHARE",
        help="fail (exit 1) when factcheck keeps a smaller share of answerable claims",
    )
    evaluate.add_argument(
        "--min-rejected",
        type=float,
        metavar="SHARE",
        help="fail (exit 1) when factcheck rejects a smaller share of unanswerable claims",
    )
    evaluate.add_argument("--json", action="store_true", help="print the whole report as JSON")
    evaluate.add_argument(
        "--fail-below-baselines",
        action="store_true",
        help="exit 1 when factcheck's nDCG@10 is below a baseline's in this run",
    )
    evaluate.set_defaults(run=_eval)

    ann = command(
        "index",
        "Build the approximate-search index of every indexed statement now, on all cores, "
        "and save it beside the store (FACTCHECK_ANN_DIR). A running service maps it in at "
        "its next check; without this it builds one in the background once the index holds "
        "FACTCHECK_ANN_MIN_STATEMENTS. Also saves a snapshot of the index's rows there, which "
        "the next start maps instead of reloading every statement.",
        "  factcheck index\n  factcheck index --store sqlite:///data/archive.db",
    )
    ann.set_defaults(run=_build_ann)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("factcheck")
    except PackageNotFoundError:
        return "unknown"


LOOPBACK = {"127.0.0.1", "localhost", "::1", "unix"}


def open_writes_refusal(config: Config, keys: list[str]) -> str | None:
    """Why serving this way would let anyone on the network change the index, or None."""
    host = config.bind.rsplit(":", 1)[0].strip("[]")
    if keys or host in LOOPBACK:
        return None
    return (
        f"refusing to listen on {config.bind} with writes open: no API key is configured. "
        "Set FACTCHECK_API_KEYS (or FACTCHECK_API_KEYS_FILE), bind 127.0.0.1, or pass "
        "--allow-open-writes."
    )


def _serve(args: argparse.Namespace) -> int:
    from service.api.auth import load_keys

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
        "python:service.gunicorn_conf",
        "service:create_app()",
    ]
    os.execv(sys.executable, argv)  # replaces this process; gunicorn handles signals


def _ingest(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from service.core.bulk_ingest import Source, ingest_records
    from service.core.embed import get_embedder
    from service.core.ingest import IngestResult, Limits
    from service.documents import count_records, each_record, expand
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


def _check(args: argparse.Namespace) -> int:
    from schemas.check import CheckRequestSchema, CheckResponseSchema
    from service.core.embed import get_embedder
    from service.core.search import check_claim, options_from
    from service.core.synced import open_index
    from service.report import table, use_colour
    from service.store import open_store

    try:
        params = CheckRequestSchema().load(
            {
                "claim": args.claim,
                "top_k": args.top_k,
                "min_score": args.min_score,
                "min_probability": args.min_probability,
            }
        )
    except ma.ValidationError as exc:
        print(f"factcheck: invalid claim: {exc.messages}", file=sys.stderr)
        return EXIT_USAGE
    config = Config.from_env()
    store = open_store(config.store, config.redis_prefix, config.redis_timeout_s, read_only=True)
    embedder = get_embedder(config)
    index = open_index(config, store, embedder.name, embedder.dimension, background_builds=False)
    index.rebuild()
    result = check_claim(params["claim"], options_from(params, config), store, embedder, index)
    if args.json:
        print(json.dumps(CheckResponseSchema().dump(result), indent=2, ensure_ascii=False))
        return EXIT_OK
    print(table(result, use_colour(args.color, sys.stdout)))
    return EXIT_OK


def _build_ann(_args: argparse.Namespace) -> int:
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


def _eval(args: argparse.Namespace) -> int:
    from service import evaluation

    if len(args.corpus) != len(args.claims):
        print(
            "factcheck: the following arguments are required: --claims (one per --corpus)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sets = list(zip(args.corpus, args.claims, strict=True))
    if args.dev_sets is not None:
        sets += evaluation.dev_sets(args.dev_sets, args.only)
    if not sets:
        print(
            "factcheck: the following arguments are required: --claims (or --dev-sets)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    reports = []
    failures: list[str] = []
    for corpus, claims in sets:
        report = evaluation.evaluate(corpus, claims)
        reports.append(report)
        if not args.json:
            print(evaluation.format_table(report) + ("\n" if len(sets) > 1 else ""))
        if args.fail_below_baselines:
            failures += evaluation.below_baselines(report)
        failures += evaluation.below_shares(report, args.min_kept, args.min_rejected)
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
    for failure in failures:
        print(f"factcheck: eval gate failed: {failure}", file=sys.stderr)
    return EXIT_FAILURE if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
