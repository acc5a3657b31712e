"""The approximate index, measured on a bench corpus: `python -m bench.ann --sizes 100k`.

It loads the service's own index over a bench store and runs the same claims twice, once
through the saved approximate index (service.core.ann) and once scanning exactly, and reports
recall@10 of the approximate path against the exact one, for the dense top 10 alone and for
the check's final ranked list (dense and BM25 fused), with the time of each path.
`make bench` runs it for every corpus large enough to have one and saves the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.build import build, ensure_ann
from bench.corpus import claims as make_claims


def recall(store_url: str, claims: list[str]) -> dict[str, Any]:
    """AnnIndex against exact scan on the service's index over this store."""
    from service.config import Config
    from service.core.embed import get_embedder
    from service.core.search import rank
    from service.core.synced import open_index
    from service.store import open_store

    config = Config.from_env(store=store_url, ann="auto")
    store = open_store(store_url)
    embedder = get_embedder(config)
    index = open_index(config, store, embedder.name, embedder.dimension, background_builds=False)
    index.rebuild()
    store.close()
    if index._ann is None:
        return {"ann": False}
    queries = embedder.encode(claims)

    def run() -> tuple[list[list[Any]], list[list[Any]], list[float]]:
        dense, ranked, took = [], [], []
        for claim, query in zip(claims, queries, strict=True):
            dense.append([key for key, _ in index.dense(query, 10)])
            began = time.perf_counter()
            ranked.append([key for key, _ in rank(index, claim, query, 10)])
            took.append((time.perf_counter() - began) * 1000)
        return dense, ranked, took

    dense_g, ranked_g, took_g = run()
    index.attach(None)
    dense_e, ranked_e, took_e = run()

    def overlap(a: list[list[Any]], b: list[list[Any]]) -> float:
        shared = [len(set(x) & set(y)) / max(len(y), 1) for x, y in zip(a, b, strict=True)]
        return round(float(np.mean(shared)), 4)

    return {
        "ann": True,
        "claims": len(claims),
        "dense_recall_at_10": overlap(dense_g, dense_e),
        "ranked_recall_at_10": overlap(ranked_g, ranked_e),
        "rank_p50_ms_ann": round(float(np.median(took_g)), 2),
        "rank_p50_ms_exact": round(float(np.median(took_e)), 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ann", description=__doc__)
    p.add_argument("--sizes", default="100k")
    p.add_argument("--claims", type=int, default=300)
    p.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    args = p.parse_args()
    from bench.__main__ import size

    claims = make_claims(args.claims)
    for n in (size(s) for s in args.sizes.split(",")):
        corpus = build(args.cache, n)
        built = ensure_ann(corpus)
        print(json.dumps({"statements": n, **built, **recall(corpus.store_url, claims)}))


if __name__ == "__main__":
    main()
