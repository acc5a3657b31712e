"""The data every layer shares: an article, its statements, what an index reads of it, a hit.

Below the store and the core alike, so that neither reaches into the other for its records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Statement:
    """One sentence of an article and where it stands in the article's text."""

    position: int
    start: int
    end: int
    text: str
    context_start: int
    context_end: int


@dataclass(frozen=True)
class Article:
    """An article's metadata and (when loaded) its text."""

    id: str
    title: str
    source: str
    content_hash: str
    statement_count: int
    created_at: str
    updated_at: str
    url: str | None = None
    published_at: str | None = None
    language: str | None = None
    text: str | None = None
    # The organisations the text credits for its material (service.core.outlets.credits),
    # found once at ingest; None for an article stored before they were kept.
    credits: tuple[str, ...] | None = None

    def meta(self) -> dict[str, object]:
        """The fields every backend stores beside the text, as plain JSON-able values."""
        return {k: v for k, v in self.__dict__.items() if k != "text"}


@dataclass(frozen=True)
class Hit:
    """A statement resolved for display: where it stands and which article it comes from."""

    article: Article
    statement: Statement
    context: str


@dataclass(frozen=True)
class IndexData:
    """What an index needs of one article: statement texts and vectors, in position order, and
    the article fields that checks filter on."""

    texts: list[str]
    vectors: np.ndarray
    source: str | None = None
    published_at: str | None = None
    title: str | None = None  # read with each statement by the evidence model
