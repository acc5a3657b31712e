"""The store interface: articles, their statements and vectors, and a change sequence.

Every backend gives the same guarantees, checked by one contract test suite:
- ``put_article`` and ``delete_article`` are atomic: a reader sees the whole article or none of
  it, and a failed write leaves nothing behind;
- every write bumps a monotonically increasing ``version``; ``changes_since(v)`` names the
  articles written or deleted after ``v``, which is how each worker's index stays current.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from service.types import Article, Hit, IndexData, Statement


class StoreUnavailable(RuntimeError):
    """The backing store cannot be reached (network, disk); the request may be retried."""


class StoreRefusingWrites(StoreUnavailable):
    """The store answers but refuses writes: out of memory, a read-only replica or file,
    persistence failing. Reads may still work; writes may be retried once it is fixed."""


@dataclass(frozen=True)
class PutResult:
    created: bool
    version: int
    unchanged: bool = False  # if_changed, and the id already held this content: no write


@dataclass
class Changes:
    """What changed after a version: articles to (re)load and the version now reached.

    ``head`` is the article whose change carries ``version``. ``intact`` is False when the
    history the caller had seen is gone (the store was wiped or restored from an older copy),
    so that sequence numbers may now name other writes and only a full reload is safe.
    """

    version: int
    head: str | None = None
    intact: bool = True
    article_ids: list[str] = field(default_factory=list)


class Store(abc.ABC):
    """Durable storage of articles, statements and statement vectors."""

    url: str

    @abc.abstractmethod
    def put_article(
        self,
        article: Article,
        statements: Sequence[Statement],
        vectors: np.ndarray,
        if_changed: bool = False,
    ) -> PutResult:
        """Create or replace an article with its statements and their vectors, atomically.

        With if_changed, an article already stored under the id with the same content hash is
        left as it is (``unchanged``, no version bump), decided inside the write itself: of
        concurrent writers of the same content, one creates and the others find it unchanged.
        """

    def put_articles(
        self,
        items: Sequence[tuple[Article, Sequence[Statement], np.ndarray]],
        if_changed: bool = False,
    ) -> list[PutResult]:
        """Several articles, in order; each is atomic on its own (if_changed as for
        put_article). Backends may write a batch at once."""
        return [self.put_article(*item, if_changed=if_changed) for item in items]

    @abc.abstractmethod
    def delete_article(self, article_id: str) -> bool:
        """Delete an article and its statements; False if it did not exist."""

    @abc.abstractmethod
    def get_article(self, article_id: str, with_text: bool = True) -> Article | None: ...

    @abc.abstractmethod
    def get_statements(self, article_id: str) -> list[Statement]: ...

    @abc.abstractmethod
    def get_article_with_statements(
        self, article_id: str
    ) -> tuple[Article, list[Statement]] | None:
        """An article with its text and statements, read from one snapshot."""

    @abc.abstractmethod
    def find_by_hash(self, content_hash: str) -> str | None:
        """The id of the article with this content hash, if any."""

    @abc.abstractmethod
    def list_articles(self, limit: int, after: str | None = None) -> list[Article]:
        """Articles ordered by id, starting after the given id (stable cursor paging)."""

    @abc.abstractmethod
    def version(self) -> int:
        """The current change sequence number (0 for an empty, never written store)."""

    @abc.abstractmethod
    def changes_since(self, version: int, head: str | None = None) -> Changes:
        """Articles changed after ``version``; ``head`` is the caller's last seen head, whose
        change must still stand at ``version`` or later for the history to be intact."""

    @abc.abstractmethod
    def load_index_data(self, article_ids: Sequence[str]) -> dict[str, IndexData]:
        """Statement texts and vectors of those articles that exist."""

    @abc.abstractmethod
    def iter_index_data(self, batch: int = 500) -> Iterator[tuple[str, IndexData]]:
        """Every article's index data, for rebuilding an index (read the version first)."""

    @abc.abstractmethod
    def resolve(self, keys: Sequence[tuple[str, int]]) -> list[Hit | None]:
        """Statements by (article_id, position), with their article and context."""

    @abc.abstractmethod
    def count_articles(self) -> int: ...

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot be reached."""

    def probe_write(self) -> None:
        """Raise StoreRefusingWrites when the store would refuse a write (a cheap probe that
        leaves no data behind); StoreUnavailable when it cannot be reached."""
        self.ping()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
