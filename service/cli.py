"""The `factcheck` command: serve | ingest | check | eval."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import marshmallow as ma

from service.config import Config

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.store:
        os.environ["FACTCHECK_STORE"] = args.store
    try:
        return int(args.run(args))
    except (ValueError, OSError) as exc:
        print(f"factcheck: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factcheck", description="Claim-to-evidence service: index articles, check claims."
    )

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_USAGE

    parser.set_defaults(run=usage, store=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.add_argument(
            "--store", help=f"store URL (default: FACTCHECK_STORE or {Config().store})"
        )
        return sub

    serve = command("serve", "Run the HTTP API under gunicorn.")
    serve.add_argument("--bind", help="HOST:PORT (default: FACTCHECK_BIND or 127.0.0.1:8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: FACTCHECK_WORKERS)")
    serve.add_argument(
        "--allow-open-writes",
        action="store_true",
        help="listen beyond loopback although no API key is configured (anyone may then add "
        "and delete articles; default: FACTCHECK_ALLOW_OPEN_WRITES)",
    )
    serve.set_defaults(run=_serve)

    ingest = command("ingest", "Add articles from .txt, .json or .jsonl files or folders.")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--source", default="unknown", help="outlet for records that name none")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(run=_ingest)

    check = command("check", "Check a claim against the indexed articles.")
    check.add_argument("claim")
    check.add_argument("--top-k", type=int, default=None, help="evidence items (default 5)")
    check.add_argument(
        "--min-score",
        type=float,
        default=None,
        help="least cosine similarity for evidence (default: FACTCHECK_MIN_SCORE)",
    )
    check.add_argument("--json", action="store_true", help="print the API's JSON answer")
    check.set_defaults(run=_check)

    evaluate = command("eval", "Measure retrieval quality on a corpus and a claims file.")
    evaluate.add_argument("--corpus", type=Path, required=True, help="file or folder of articles")
    evaluate.add_argument("--claims", type=Path, required=True, help="claims JSON Lines file")
    evaluate.add_argument("--json", action="store_true", help="print the whole report as JSON")
    evaluate.add_argument(
        "--fail-below-baselines",
        action="store_true",
        help="exit 1 when factcheck's nDCG@10 is below a baseline's in this run",
    )
    evaluate.set_defaults(run=_eval)
    return parser


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
    if refusal:
        print(
            f"factcheck serve: WARNING: listening on {config.bind} with no API key: "
            "anyone who can reach it may add and delete articles.",
            file=sys.stderr,
        )
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
    from tqdm import tqdm

    from schemas.articles import ArticleCreateSchema
    from service.core.embed import get_embedder
    from service.core.ingest import TooManyStatements, ingest_article
    from service.documents import expand, read_records
    from service.store import open_store

    config = Config.from_env()
    store = open_store(config.store, config.redis_prefix, config.redis_timeout_s)
    embedder = get_embedder(config.model, config.embed_batch_size)
    schema = ArticleCreateSchema()
    counts = {"created": 0, "replaced": 0, "unchanged": 0, "rejected": 0}
    statements = 0
    files = expand(args.paths)
    for path in tqdm(files, unit="file", disable=args.quiet or not files, file=sys.stderr):
        try:
            records = list(read_records(path, args.source))
        except (ValueError, OSError) as exc:
            counts["rejected"] += 1
            tqdm.write(f"rejected {path}: {exc}", file=sys.stderr)
            continue
        for record in records:
            try:
                fields = schema.load(record.fields)
                result = ingest_article(store, embedder, fields, config.max_statements_per_article)
            except (ma.ValidationError, TooManyStatements) as exc:
                counts["rejected"] += 1
                reason = exc.messages if isinstance(exc, ma.ValidationError) else str(exc)
                tqdm.write(f"rejected {record.origin}: {reason}", file=sys.stderr)
                continue
            counts[result.status] += 1
            if result.status != "unchanged":
                statements += result.article.statement_count
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    print(f"ingested {sum(counts.values())} articles ({summary}); {statements} statements added")
    return EXIT_FAILURE if counts["rejected"] else EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from schemas.check import CheckRequestSchema, CheckResponseSchema
    from service.core.embed import get_embedder
    from service.core.index import SyncedIndex
    from service.core.search import check_claim, options_from
    from service.store import open_store

    try:
        params = CheckRequestSchema().load(
            {"claim": args.claim, "top_k": args.top_k, "min_score": args.min_score}
        )
    except ma.ValidationError as exc:
        print(f"factcheck: invalid claim: {exc.messages}", file=sys.stderr)
        return EXIT_USAGE
    config = Config.from_env()
    store = open_store(config.store, config.redis_prefix, config.redis_timeout_s)
    embedder = get_embedder(config.model, config.embed_batch_size)
    index = SyncedIndex(store, embedder.dimension)
    index.rebuild()
    result = check_claim(params["claim"], options_from(params, config), store, embedder, index)
    if args.json:
        print(json.dumps(CheckResponseSchema().dump(result), indent=2, ensure_ascii=False))
        return EXIT_OK
    print(_table(result))
    return EXIT_OK


def _table(result: Any) -> str:
    lines = [f"claim: {result.claim}", ""]
    if not result.evidence:
        best = "none" if result.best_score is None else f"{result.best_score:.3f}"
        lines.append(
            f"no evidence ({result.reason}; best similarity {best}, "
            f"threshold {result.min_score:.2f})"
        )
    for rank, item in enumerate(result.evidence, start=1):
        article = item.hit.article
        date = article.published_at or "undated"
        lines.append(f"{rank}. [{item.score:.3f}] {item.hit.statement.text}")
        lines.append(
            f"   {article.source} | {article.title} | {date} | "
            f"{article.id} chars {item.hit.statement.start}-{item.hit.statement.end}"
        )
    lines.append("")
    lines.append(
        f"{result.index.statements} statements in {result.index.articles} articles; "
        f"{result.took_ms:.1f} ms"
    )
    return "\n".join(lines)


def _eval(args: argparse.Namespace) -> int:
    from service.evaluation import below_baselines, evaluate, format_table

    report = evaluate(args.corpus, args.claims)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    if args.fail_below_baselines:
        failures = below_baselines(report)
        for failure in failures:
            print(f"factcheck: eval gate failed: {failure}", file=sys.stderr)
        if failures:
            return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
