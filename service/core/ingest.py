"""Article ingest: validate limits, segment, embed in one batch, store atomically.

`ingest_record` is the one way a raw record (a POST body, a line of a file) goes in: the API
and `factcheck ingest` both call it, so they accept and refuse exactly the same records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from schemas.articles import ArticleCreateSchema
from service.config import Config
from service.core.embed import Embedder
from service.core.outlets import credits
from service.core.segment import segment
from service.store.base import Store
from service.types import Article, Statement

CONTENT_FIELDS = ("title", "text", "source", "url", "published_at", "language")


class Rejected(ValueError):
    """A record that passes the schema but breaks a rule: ``detail`` says why, ``errors``
    names the field, as a 422 problem's errors do (marshmallow.ValidationError for the
    schema's own refusals)."""

    def __init__(self, detail: str, message: str, field: str = "text") -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = {field: [message]}


class TooLong(Rejected):
    """The article text is longer than the configured limit."""


class TooManyStatements(Rejected):
    """The article segments into more statements than the configured limit."""


class NoStatements(Rejected):
    """Nothing of the text is left to index after segmentation and boilerplate removal: the
    article could never be found by a check."""


@dataclass(frozen=True)
class Limits:
    max_article_chars: int = 100_000
    max_statements: int = 2000

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(config.max_article_chars, config.max_statements_per_article)


def validate_article(raw: Any, limits: Limits) -> dict[str, Any]:
    """The article fields of a raw record: the text's length as sent (TooLong), then the
    schema (marshmallow.ValidationError). The statement rules follow in ingest_article, once
    segmented.

    The length comes first: the schema repairs mis-decoded text (schemas/common.py), which on
    a body of a million short lines each holding a C1 control takes seconds, and a text over
    the limit is refused whatever it holds. Repairs and removals only shorten a text, so the
    stored text is within the limit too."""
    text = raw.get("text") if isinstance(raw, dict) else None
    if isinstance(text, str) and len(text) > limits.max_article_chars:
        raise TooLong(
            f"The article text exceeds {limits.max_article_chars} characters.",
            f"Longer than {limits.max_article_chars} characters.",
        )
    fields: dict[str, Any] = ArticleCreateSchema().load(raw)
    return fields


def ingest_record(store: Store, embedder: Embedder, raw: Any, limits: Limits) -> IngestResult:
    """Validate a raw record and store it: the API's and the CLI's one path in."""
    return ingest_article(store, embedder, validate_article(raw, limits), limits.max_statements)


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


def _encodable(fields: dict[str, Any]) -> None:
    """Refuse a field no store can write and no answer can carry (a lone surrogate): the
    schema refuses them, but a caller may hand fields in directly, and a record stored with
    one (Redis took it) made every later read that echoed it answer 500."""
    for name, value in fields.items():
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            message = "Must not contain control characters or lone surrogates."
            raise Rejected(f"The {name} cannot be encoded as UTF-8.", message, name) from None


def statements_of(fields: dict[str, Any], max_statements: int) -> list[Statement]:
    """The article's statements, or why it cannot be indexed (NoStatements, TooManyStatements)."""
    statements = segment(fields["text"], language=fields.get("language") or "en")
    if not statements:
        raise NoStatements(
            "The article has no statement to index: nothing is left after segmentation and "
            "boilerplate removal.",
            "No statement left after segmentation and boilerplate removal (only punctuation, "
            "or only page furniture such as share links and copyright lines).",
        )
    if len(statements) > max_statements:
        why = f"The article has {len(statements)} statements; the limit is {max_statements}."
        raise TooManyStatements(why, why)
    return statements


def ingest_article(
    store: Store, embedder: Embedder, fields: dict[str, Any], max_statements: int = 2000
) -> IngestResult:
    """Store an article. Idempotent: the same content again changes nothing.

    Without an id, the content hash identifies the article (same content -> same id). With an
    id, new content under that id replaces the old article.
    """
    planned = plan_article(store, fields, max_statements)
    if isinstance(planned, IngestResult):
        return planned
    vectors = embedder.encode([s.text for s in planned.statements])
    return store_planned(store, [(planned, vectors)])[0]


@dataclass(frozen=True)
class Planned:
    """An article validated and segmented, not yet embedded nor stored."""

    article: Article
    statements: list[Statement]


def plan_article(
    store: Store, fields: dict[str, Any], max_statements: int = 2000
) -> Planned | IngestResult:
    """The article to write for valid fields, or its "unchanged" result when the store already
    holds this content (then nothing needs embedding: reruns of a bulk load are cheap)."""
    _encodable(fields)
    digest = content_hash(fields)
    article_id = fields.get("id")
    if article_id is None:
        article_id = store.find_by_hash(digest) or "a" + digest[:15]
    existing = store.get_article(article_id, with_text=False)
    if existing is not None and existing.content_hash == digest:
        return IngestResult(existing, "unchanged")

    statements = statements_of(fields, max_statements)
    article = new_article(fields, article_id, digest, len(statements), existing, utc_now())
    return Planned(article, statements)


def utc_now() -> str:
    """The time an article is written, as it is stored: ISO 8601 seconds, Z."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_article(
    fields: dict[str, Any],
    article_id: str,
    digest: str,
    statement_count: int,
    replacing: Article | None,
    now: str,
) -> Article:
    """The article to write for valid fields: a replacement keeps its creation time."""
    return Article(
        id=article_id,
        title=fields["title"],
        source=fields["source"],
        url=fields.get("url"),
        published_at=fields.get("published_at"),
        language=fields.get("language"),
        text=fields["text"],
        content_hash=digest,
        statement_count=statement_count,
        created_at=replacing.created_at if replacing else now,
        updated_at=now,
        # Found here, once, not on every check that weighs the article's origin.
        credits=tuple(credits(fields["text"])),
    )


def store_planned(store: Store, items: Sequence[tuple[Planned, np.ndarray]]) -> list[IngestResult]:
    """Write planned articles with their vectors (one transaction where the store allows it;
    each article atomic either way) and say what became of each."""
    # The store compares again inside the write: a concurrent identical POST (or an earlier
    # record of the same bulk chunk) may have written the same content since the plan, which
    # makes this one unchanged, not a replace.
    results = store.put_articles(
        [(p.article, p.statements, vectors) for p, vectors in items], if_changed=True
    )
    out = []
    for (planned, _), result in zip(items, results, strict=True):
        article = planned.article
        if result.unchanged:
            stored = store.get_article(article.id, with_text=False)
            out.append(IngestResult(stored or article, "unchanged"))
        else:
            out.append(IngestResult(article, "created" if result.created else "replaced"))
    return out
