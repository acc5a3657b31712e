"""factcheck check: one claim against the indexed articles, as a table or the API's JSON."""

from __future__ import annotations

import argparse
import json
import sys

from service.cli.common import EXIT_OK, EXIT_USAGE, Command
from service.config import Config


def register(command: Command) -> None:
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
        help="the evidence decision: least evidence probability of the claim (that one of its "
        "ten most likely passages is evidence) for it to have evidence (default: the fitted "
        "threshold; 0 lists passages on --min-score alone)",
    )
    check.add_argument("--json", action="store_true", help="print the API's JSON answer")
    check.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="highlight the passage in colour: auto (on a terminal, unless NO_COLOR is set), "
        "always, never (then it is marked »like this«)",
    )
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, as each command's own needs are: `factcheck serve` loads this module too.
    import marshmallow as ma

    from schemas.check import CheckRequestSchema, CheckResponseSchema
    from service.cli.report import table, use_colour
    from service.core.embed import get_embedder
    from service.core.search import check_claim, options_from
    from service.core.synced import open_index
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
    options = options_from(params, config, embedder.backend)
    result = check_claim(params["claim"], options, store, embedder, index)
    if args.json:
        print(json.dumps(CheckResponseSchema().dump(result), indent=2, ensure_ascii=False))
        return EXIT_OK
    print(table(result, use_colour(args.color, sys.stdout)))
    return EXIT_OK
