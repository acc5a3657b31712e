"""The approximate side of dense search: a faiss inverted-file index (IVF) over statement
vectors, kept on disk so that a restart maps it in instead of rebuilding it.

How it works: k-means splits the vectors into about sqrt(n) clusters; a search scores the
claim against the centroids and scans only the nearest clusters' members (float16 copies),
and the index then rescores those candidates exactly. Why IVF and not HNSW: on the bench
corpora (docs/benchmarks.md) it built 6x faster and kept recall@10 >= 0.99 where an HNSW
graph fell to 0.65 at 1M statements, because news archives are full of near-copies (wire
stories, rewrites) and a graph gets lost among a cluster of near-equal neighbours, while a
cluster scan reads them all.

Why faiss: it is the best-kept library of its kind (Meta, wheels for every platform), its
searches take a row filter (articles a check may draw from, rows deleted since the build),
and ``IO_FLAG_MMAP`` maps a saved index in place, so every gunicorn worker shares one copy in
the page cache. usearch was measured too, but importing it before onnxruntime crashes the
interpreter.

An index is addressed by statement keys (a 64-bit hash of article id, position and text), not
by rows: rows are assigned in load order and change on compaction, keys do not, and a
statement whose text changed gets a new key, so the index never answers with a stale vector.

On disk an index is a generation directory ``<dir>/g-<token>/`` holding ``ann.faiss``,
``keys.npy`` and ``meta.json``; ``<dir>/CURRENT`` names the live generation and is replaced
atomically, so a reader never pairs one build's keys with another's vectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.core import generations

# Untyped on purpose: faiss' bundled stubs describe SWIG's C++ signatures, not the Python
# wrappers (numpy arrays in, numpy arrays out) that are actually called.
faiss: Any = importlib.import_module("faiss")
log = logging.getLogger(__name__)

# Shape, measured on the bench corpora (docs/benchmarks.md): about sqrt(n) clusters, each
# search scanning a 48th of them (at least 16; a 32nd cost 1.3 ms more at 1M for dense
# recall@10 0.996 against 0.982, a 64th fell to 0.975); float16 copies (half the memory of
# float32, same recall once candidates are rescored exactly); k-means trained on 40 vectors a
# cluster, faiss' own guidance.
MIN_CLUSTERS, MAX_CLUSTERS = 16, 8192
MIN_PROBES = 16
TRAINING_PER_CLUSTER = 40


def statement_key(article_id: str, position: int, text: str) -> int:
    """A statement's stable 64-bit key: the same statement gets the same key in any process."""
    digest = hashlib.blake2b(
        f"{article_id}\x00{position}\x00{text}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "little")


@dataclass
class AnnIndex:
    """An IVF index and, for each of its entries, the statement key it stands for."""

    index: Any  # a faiss IndexIVFScalarQuantizer
    keys: np.ndarray  # uint64, entry -> statement key
    generation: str = ""

    @classmethod
    def build(cls, vectors: np.ndarray, keys: np.ndarray, threads: int = 0) -> AnnIndex:
        """An index of unit vectors (inner product = cosine). threads 0: faiss' default."""
        count, dimension = vectors.shape
        if count == 0:
            raise ValueError("no statements to index")
        # k-means needs at least as many vectors as clusters (tiny stores, tests).
        clusters = min(int(np.clip(round(np.sqrt(count)), MIN_CLUSTERS, MAX_CLUSTERS)), count)
        centroids = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFScalarQuantizer(
            centroids,
            dimension,
            clusters,
            faiss.ScalarQuantizer.QT_fp16,
            faiss.METRIC_INNER_PRODUCT,
        )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        sample = np.random.default_rng(0).permutation(count)[: clusters * TRAINING_PER_CLUSTER]
        with _omp_threads(threads):
            index.train(vectors[np.sort(sample)])
            index.add(vectors)
        return cls(index, np.asarray(keys, dtype=np.uint64))

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: np.ndarray, k: int, entries: np.ndarray | None = None) -> np.ndarray:
        """Up to k entries nearest the query, among ``entries`` (a bool mask) if given."""
        probes = max(MIN_PROBES, self.index.nlist // 48)
        params = faiss.SearchParametersIVF(nprobe=min(probes, self.index.nlist))
        if entries is not None:
            # Kept on params until the search returns: faiss holds a raw pointer to the bits.
            bits = np.packbits(entries, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(bits)
        _, found = self.index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
        found = found[0]
        return found[found >= 0]


class AnnFiles:
    """Where one store's index lives on disk, which generation is current, who builds."""

    def __init__(self, directory: str | Path, model: str, dimension: int) -> None:
        self.directory = Path(directory)
        self.model, self.dimension = model, dimension

    @property
    def _current(self) -> Path:
        return self.directory / generations.CURRENT

    def stamp(self) -> tuple[int, int] | None:
        """Changes whenever another generation becomes current (None: none yet)."""
        try:
            st = self._current.stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    def load(self) -> AnnIndex | None:
        """The current index, mapped in place; None when there is none or it does not fit
        this model (an index of another model's vectors would answer with wrong neighbours)."""
        try:
            generation = self._current.read_text().strip()
            folder = self.directory / generation
            meta = json.loads((folder / "meta.json").read_text())
            if meta.get("model") != self.model or meta.get("dimension") != self.dimension:
                log.warning("index %s was built for another model; ignored", folder)
                return None
            keys = np.load(folder / "keys.npy")
            index = faiss.read_index(str(folder / "ann.faiss"), faiss.IO_FLAG_MMAP)
        except (OSError, ValueError, RuntimeError) as exc:
            # Missing, half-deleted by a newer build, or damaged: search exactly until the
            # next generation appears.
            log.info("no usable index in %s (%s)", self.directory, exc)
            return None
        if index.ntotal != len(keys) or index.d != self.dimension:
            log.warning("index %s does not match its keys; ignored", folder)
            return None
        return AnnIndex(index, keys, generation)

    def save(self, ann: AnnIndex) -> str:
        """Write a new generation and make it current; older generations are removed
        (a process still mapping one keeps its pages until it moves on)."""
        meta = {"model": self.model, "dimension": self.dimension, "entries": ann.size}

        def write(folder: Path) -> None:
            faiss.write_index(ann.index, str(folder / "ann.faiss"))
            np.save(folder / "keys.npy", ann.keys)
            (folder / "meta.json").write_text(json.dumps(meta))

        ann.generation = generations.publish(self.directory, write)
        return ann.generation

    def build_lock(self) -> contextlib.AbstractContextManager[bool]:
        """Yields True in the one process that may build now, False in every other."""
        return generations.exclusive(self.directory, "build.lock")


@contextlib.contextmanager
def _omp_threads(threads: int) -> Iterator[None]:
    if threads <= 0:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def default_directory(store_url: str) -> str:
    """Beside an SQLite store's file; for Redis, a per-URL folder in the user's cache (the
    index is a cache: any replica rebuilds it from the store when it is missing)."""
    if store_url.startswith("sqlite:///") and ":memory:" not in store_url:
        from service.store.sqlite_connection import path_from_url

        return path_from_url(store_url) + ".ann"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = hashlib.sha256(store_url.encode()).hexdigest()[:16]
    return os.path.join(base, "factcheck", "ann", name)
