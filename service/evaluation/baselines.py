"""Reference retrievers for `factcheck eval`, run over exactly the statements the service indexed.

Flask-free. Each baseline is built from a list of ``(article id, statement text)`` pairs (the
eval reads them back from the service's own store after ingest, so segmentation is the
service's) and answers a claim with a ranked list of such pairs, best first, which the eval
scores with the same function as the service's answers.

- ``BM25Baseline``: bm25s as its documentation shows it, ``bm25s.tokenize(texts,
  stopwords="en")`` (lower-cased ``\\w\\w+`` tokens, English stop words, no stemming) and
  ``bm25s.BM25().index(...)`` with its default parameters.
- ``DenseBaseline``: bare sentence-transformers, ``model.encode(texts,
  normalize_embeddings=True)`` and ``sentence_transformers.util.semantic_search``.

Neither has a threshold: both always return ``min(k, statements)`` results.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Statement = tuple[str, str]  # (article id, statement text)
Ranking = list[Statement]  # best first

BM25_NAME = "bm25s"
DENSE_NAME = "sentence-transformers"


class BM25Baseline:
    """bm25s over the statements (English stop words, default k1/b, no stemmer)."""

    name = BM25_NAME

    def __init__(self, statements: Sequence[Statement]) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG, which would print a line per index build.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.statements = list(statements)
        self._retriever: bm25s.BM25 | None = None
        if self.statements:
            tokens = bm25s.tokenize(
                [text for _, text in self.statements], stopwords="en", show_progress=False
            )
            self._retriever = bm25s.BM25()
            self._retriever.index(tokens, show_progress=False)

    def search(self, claim: str, k: int = 10) -> Ranking:
        import bm25s

        if self._retriever is None or k <= 0:
            return []
        # A query's tokens are looked up in the corpus vocabulary; unknown or no tokens score
        # every statement 0, and bm25s still returns k of them (it has no threshold).
        query = bm25s.tokenize([claim], stopwords="en", return_ids=False, show_progress=False)
        # bm25s refuses k above the corpus size.
        rows, _ = self._retriever.retrieve(
            query, k=min(k, len(self.statements)), show_progress=False
        )
        return [self.statements[int(row)] for row in rows[0]]


class DenseBaseline:
    """Cosine similarity of normalised sentence-transformers embeddings, exact search."""

    name = DENSE_NAME

    def __init__(self, statements: Sequence[Statement], model: SentenceTransformer | str) -> None:
        if isinstance(model, str):
            model = load_model(model)
        self.model = model
        self.statements = list(statements)
        self._corpus = self.model.encode(
            [text for _, text in self.statements],
            normalize_embeddings=True,
            convert_to_tensor=True,
            show_progress_bar=False,
        )

    def search(self, claim: str, k: int = 10) -> Ranking:
        from sentence_transformers import util

        if not self.statements or k <= 0:
            return []
        query = self.model.encode(
            [claim], normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False
        )
        # semantic_search caps top_k at the corpus size itself.
        [hits] = util.semantic_search(query, self._corpus, top_k=k)
        return [self.statements[int(hit["corpus_id"])] for hit in hits]


def load_model(name: str) -> SentenceTransformer:
    """The service's model by its configured name (the packaged weights for the default)."""
    import os

    from sentence_transformers import SentenceTransformer

    from service.core.embed import resolve_model_path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformer(resolve_model_path(name), device="cpu")
