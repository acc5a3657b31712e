"""Who says it: a passage's corroborators, their outlets and origins; and which of the claim's
words a passage shares."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from service.core.outlets import count_groups, credits, same_outlet, shared_origin
from service.core.tokens import tokenize
from service.store.base import Store
from service.types import Article, Hit

# Articles whose credits (service.core.outlets) are kept per process; oldest out first.
CREDIT_CACHE_SIZE = 4096
_credit_cache: dict[tuple[str, str], tuple[str, ...]] = {}
# A worker's threads share the cache: two evicting the same oldest key at once raised
# KeyError (a 500 seen under c=8 load), so the eviction and the insert happen under a lock.
_credit_lock = threading.Lock()
# Corroborating passages listed per evidence item, most similar first; the source and origin
# counts take them all. Bounds a response: a wire story copied by a hundred outlets would
# otherwise list a hundred passages under each of its statements.
MAX_CORROBORATIONS = 10


@dataclass(frozen=True)
class Corroboration:
    hit: Hit
    similarity: float
    same_outlet: bool = False  # another cut of the evidence's own outlet's story
    shared_origin: str | None = None  # a wire or interview both articles credit

    @property
    def statement_id(self) -> str:
        return f"{self.hit.article.id}:{self.hit.statement.position}"


def matched_terms(claim: str, statement: str) -> list[str]:
    """The claim's words whose stems occur in the statement, in claim order."""
    stems = set(tokenize(statement))
    words = dict.fromkeys(w for w in re.findall(r"\w+", claim) if set(tokenize(w)) & stems)
    return list(words)


def provenance(hit: Hit, others: list[tuple[Hit, float]], store: Store) -> dict[str, Any]:
    """Corroborating passages with how they relate to the evidence's outlet and origin, and
    the counts of distinct outlets and of distinct origins among all of them."""
    articles = [hit.article] + [h.article for h, _ in others]

    def outlet(a: Article, b: Article) -> bool:
        return same_outlet(a.source, b.source)

    def origin(a: Article, b: Article) -> str | None:
        return shared_origin(_credits(store, a), _credits(store, b))

    return {
        "corroborated_by": [
            Corroboration(h, sim, outlet(hit.article, h.article), origin(hit.article, h.article))
            for h, sim in others[:MAX_CORROBORATIONS]
        ],
        # Outlets compare source names only: one article a name stands for the others.
        "independent_sources": count_groups(articles, outlet, key=lambda a: a.source),
        # Joined by outlet (source name) or by a shared credit: all that `same` reads is the
        # pair (source, credits), so one article of each pair stands for the rest.
        "independent_origins": count_groups(
            articles,
            lambda a, b: outlet(a, b) or origin(a, b) is not None,
            key=lambda a: (a.source, _credits(store, a)),
        ),
    }


def _credits(store: Store, article: Article) -> tuple[str, ...]:
    """What an article credits for its material: kept with it since ingest, or (an article
    stored before they were kept) read from its text once per version."""
    if article.credits is not None:
        return article.credits
    key = (article.id, article.content_hash)
    cached = _credit_cache.get(key)
    if cached is None:
        full = store.get_article(article.id, with_text=True)
        if full is None:  # deleted since the search: nothing to read, and nothing to keep
            return ()
        cached = tuple(credits(full.text or ""))
        with _credit_lock:
            while len(_credit_cache) >= CREDIT_CACHE_SIZE:
                _credit_cache.pop(next(iter(_credit_cache)))
            _credit_cache[key] = cached
    return cached
