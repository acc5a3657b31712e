"""Article ingest: validate limits, segment, embed in one batch, store atomically."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.core.embed import Embedder
from service.core.segment import segment
from service.store.base import Article, Store

CONTENT_FIELDS = ("title", "text", "source", "url", "published_at", "language")


class TooManyStatements(ValueError):
    """The article segments into more statements than the configured limit."""


@dataclass(frozen=True)
class IngestResult:
    article: Article
    status: str  # "created", "replaced" or "unchanged"

    @property
    def created(self) -> bool:
        return self.status == "created"


def content_hash(fields: dict[str, Any]) -> str:
    """A stable hash of an article's content (everything but its id)."""
    canonical = json.dumps({k: fields.get(k) for k in CONTENT_FIELDS}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def ingest_article(
    store: Store, embedder: Embedder, fields: dict[str, Any], max_statements: int = 2000
) -> IngestResult:
    """Store an article. Idempotent: the same content again changes nothing.

    Without an id, the content hash identifies the article (same content -> same id). With an
    id, new content under that id replaces the old article.
    """
    digest = content_hash(fields)
    article_id = fields.get("id")
    if article_id is None:
        article_id = store.find_by_hash(digest) or "a" + digest[:15]
    existing = store.get_article(article_id, with_text=False)
    if existing is not None and existing.content_hash == digest:
        return IngestResult(existing, "unchanged")

    text = fields["text"]
    statements = segment(text, language=fields.get("language") or "en")
    if len(statements) > max_statements:
        raise TooManyStatements(
            f"the article has {len(statements)} statements; the limit is {max_statements}"
        )
    vectors = embedder.encode([s.text for s in statements])
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    article = Article(
        id=article_id,
        title=fields["title"],
        source=fields["source"],
        url=fields.get("url"),
        published_at=fields.get("published_at"),
        language=fields.get("language"),
        text=text,
        content_hash=digest,
        statement_count=len(statements),
        created_at=existing.created_at if existing else now,
        updated_at=now,
    )
    result = store.put_article(article, statements, vectors)
    return IngestResult(article, "created" if result.created else "replaced")
