"""Corpora for the benchmark: generated articles, their statements and vectors, bulk-loaded
into a store, cached on disk so that a rerun does not rebuild them.

Vectors: the first ``pool`` statements of a corpus are embedded by the real model. Past the
pool (search-scale runs), statement i gets the vector of pool statement ``i % pool`` plus a
little Gaussian noise, renormalised (cosine ~0.95 to it). This keeps the vector
distribution that of real sentence embeddings (clustered, not uniform on the sphere, which
matters for approximate indexes) without hours of embedding at 1M statements. Its text is its
own generated sentence, so BM25 sees a realistic, growing vocabulary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.corpus import BenchArticle, articles
from service.core.ingest import content_hash, new_article
from service.store import open_store
from service.store.bulk import Item, bulk_load
from service.types import Article, Statement

CREATED = "2026-01-01T00:00:00Z"
NOISE = 0.3  # norm of the noise added to a pool vector before renormalising


def line_statements(text: str) -> list[Statement]:
    """Statements of a one-sentence-per-line bench article, as ``segment()`` makes them
    (tests/test_bulk.py checks the equality) but without pysbd, which is the slow part."""
    spans, start = [], 0
    for line in text.split("\n"):
        spans.append((start, start + len(line)))
        start += len(line) + 1
    return [
        Statement(
            i,
            s,
            e,
            text[s:e],
            spans[i - 1][0] if i else s,
            spans[i + 1][1] if i + 1 < len(spans) else e,
        )
        for i, (s, e) in enumerate(spans)
    ]


def to_article(bench: BenchArticle, count: int) -> Article:
    """The Article row ingest writes for these fields (same content hash, same credits)."""
    fields = dict(bench.fields)
    return new_article(fields, str(fields["id"]), content_hash(fields), count, None, CREATED)


@dataclass
class Corpus:
    size: int
    store_url: str
    texts_path: Path  # one statement per line, in store row order (for the baselines)
    vectors_path: Path  # float32 (size, 384) .npy, same order
    build_s: float


def pool_vectors(cache: Path, count: int, seed: int) -> np.ndarray:
    """Real embeddings of the first ``count`` corpus statements (cached)."""
    path = cache / f"pool-{seed}-{count}.npy"
    if path.exists():
        return np.load(path)
    from service.core.embed import get_embedder

    texts = [s for a in articles(count, seed=seed) for s in str(a.fields["text"]).split("\n")]
    started = time.perf_counter()
    vectors = get_embedder().encode(texts)
    print(f"  embedded a pool of {count} statements in {time.perf_counter() - started:.0f} s")
    np.save(path, vectors)
    return vectors


def build(cache: Path, size: int, pool: int = 10_000, seed: int = 5) -> Corpus:
    """A SQLite store holding ``size`` bench statements (reused when already built)."""
    cache.mkdir(parents=True, exist_ok=True)
    db = cache / f"store-{seed}-{size}-p{pool}.db"
    texts_path, vectors_path = db.with_suffix(".txt"), db.with_suffix(".npy")
    corpus = Corpus(size, f"sqlite:///{db}", texts_path, vectors_path, 0.0)
    if db.exists() and vectors_path.exists() and texts_path.exists():
        return corpus
    started = time.perf_counter()
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    base = pool_vectors(cache, min(size, pool), seed)
    rng = np.random.default_rng(seed)
    all_vectors = np.zeros((size, base.shape[1]), dtype=np.float32)
    texts: list[str] = []

    def items() -> Iterator[Item]:
        row = 0
        for bench in articles(size, seed=seed):
            statements = line_statements(str(bench.fields["text"]))
            idx = np.arange(row, row + len(statements))
            vectors = base[idx % len(base)].copy()
            far = idx >= len(base)  # past the pool: a perturbed copy of a pool vector
            if far.any():
                noise = rng.standard_normal((int(far.sum()), base.shape[1])).astype(np.float32)
                noise *= NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
                moved = vectors[far] + noise
                vectors[far] = moved / np.linalg.norm(moved, axis=1, keepdims=True)
            all_vectors[idx] = vectors
            texts.extend(s.text for s in statements)
            row += len(statements)
            yield to_article(bench, len(statements)), statements, vectors

    store = open_store(corpus.store_url)
    bulk_load(store, items(), batch=2000)
    store.close()
    np.save(vectors_path, all_vectors)
    texts_path.write_text("\n".join(texts) + "\n")
    corpus.build_s = time.perf_counter() - started
    print(f"  built {size} statements in {corpus.build_s:.0f} s -> {db}")
    return corpus


def ensure_ann(corpus: Corpus) -> dict[str, float | bool]:
    """Build the store's approximate-search index with `factcheck index` unless a saved one
    is there, as an operator would after a bulk load; returns whether and how long it built.

    Corpora below the service's threshold keep none (the service scans them exactly).
    """
    from service.config import Config
    from service.core.ann import AnnFiles, default_directory
    from service.core.embed import get_embedder

    config = Config.from_env(store=corpus.store_url)
    if config.ann == "off" or corpus.size < config.ann_min_statements:
        return {"ann_built": False}
    embedder = get_embedder(config)
    files = AnnFiles(default_directory(corpus.store_url), embedder.name, embedder.dimension)
    if files.load() is not None:
        return {"ann_built": False, "ann_saved": True}
    env = {**os.environ, "FACTCHECK_STORE": corpus.store_url}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "service.cli", "index"], env=env, check=True)
    return {"ann_built": True, "ann_build_s": round(time.perf_counter() - started, 1)}
