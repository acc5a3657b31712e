"""`python -m bench.ann`: the approximate-index lever, measured on the bench corpora.

usearch HNSW (int8 or float16 storage) over the very vectors a bench store holds, queried with
the bench claims embedded by the service's model: build time, memory, search p50 and recall@10
against exact (float32) search. The service does not use it yet (docs/benchmarks.md says why);
this keeps the figures reproducible.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.__main__ import size
from bench.build import build
from bench.corpus import claims as make_claims


def measure(vectors: np.ndarray, queries: np.ndarray, dtype: str, ef: int) -> dict[str, float]:
    from usearch.index import Index

    exact = [set(np.argpartition(-(vectors @ q), 10)[:10].tolist()) for q in queries]
    index = Index(
        ndim=vectors.shape[1],
        metric="ip",
        dtype=dtype,
        connectivity=16,
        expansion_add=128,
        expansion_search=ef,
    )
    started = time.perf_counter()
    index.add(np.arange(len(vectors)), vectors, threads=1)
    build_s = time.perf_counter() - started
    took, recall = [], []
    for q, truth in zip(queries, exact, strict=True):
        began = time.perf_counter()
        found = index.search(q, 50)
        took.append((time.perf_counter() - began) * 1000)
        recall.append(len(truth & set(found.keys[:10].tolist())) / 10)
    scan = []
    for q in queries[:50]:
        began = time.perf_counter()
        np.argpartition(-(vectors @ q), 50)
        scan.append((time.perf_counter() - began) * 1000)
    return {
        "dtype": dtype,
        "ef": ef,
        "build_s": round(build_s, 1),
        "memory_mb": round(index.memory_usage / 2**20, 1),
        "search_p50_ms": round(float(np.median(took)), 3),
        "exact_scan_p50_ms": round(float(np.median(scan)), 2),
        "recall_at_10": round(float(np.mean(recall)), 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ann", description=__doc__)
    p.add_argument("--sizes", default="100k")
    p.add_argument("--claims", type=int, default=300)
    p.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    p.add_argument("--dtypes", default="i8,f16")
    p.add_argument("--ef", type=int, default=128)
    args = p.parse_args()
    from service.core.embed import get_embedder

    queries = get_embedder().encode(make_claims(args.claims))
    for n in (size(s) for s in args.sizes.split(",")):
        vectors = np.load(build(args.cache, n).vectors_path)
        for dtype in args.dtypes.split(","):
            print(json.dumps({"statements": n, **measure(vectors, queries, dtype, args.ef)}))


if __name__ == "__main__":
    main()
