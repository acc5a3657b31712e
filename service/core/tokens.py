"""Tokenisation shared by the BM25 index, the candidate features and provenance: folded,
stemmed content words (PyStemmer; bm25s' English stop words plus reporting verbs)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

from service.core.stopwords import STOPWORDS_EN

_TOKEN = re.compile(r"\w+")
_STOP = frozenset(STOPWORDS_EN) | {"s", "t", "said", "says", "say"}
_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def fold(text: str) -> str:
    """Lower-case, strip accents and fold typographic apostrophes."""
    text = text.lower()
    if text.isascii():  # nothing to decompose: skip the per-character pass (start-up time)
        return text
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(c for c in text if not unicodedata.combining(c))


def tokenize(text: str) -> list[str]:
    """Stemmed content words of a text (stop words and one-letter tokens dropped)."""
    words = _TOKEN.findall(fold(text))
    return [_stem(w) for w in words if w not in _STOP and (len(w) > 1 or w.isdigit())]
