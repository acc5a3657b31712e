"""factcheck eval: retrieval quality on corpora and claims files beside two baselines, a gate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from service.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Command
from service.evaluation.run import DEV_SETS


def register(command: Command) -> None:
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
    evaluate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from service.evaluation import run as evaluation

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
