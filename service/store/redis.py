"""Redis store: shared by every worker and replica. Writes are Lua scripts, hence atomic."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from service.store.base import Changes, PutResult, Store
from service.store.redis_connection import RedisConnection
from service.store.redis_schema import (
    article_from_meta,
    statements_from_json,
    vectors_from_blob,
    without_text,
)
from service.types import Article, Hit, IndexData, Statement


class RedisStore(RedisConnection, Store):
    """Keys under one prefix: art:<id> (hash of meta, text, content hash), stm:<id> (statement
    JSON), vec:<id> (float32 bytes), plus hash-ids (a lex-ordered set of "<content hash>\\0<id>",
    as several ids may hold the same content), the id set, the change set and the sequence
    counter."""

    def put_article(
        self,
        article: Article,
        statements: Sequence[Statement],
        vectors: np.ndarray,
        if_changed: bool = False,
    ) -> PutResult:
        created, seq, unchanged = self._call(
            self._put, **self._put_call(article, statements, vectors, if_changed)
        )
        return PutResult(created=bool(created), version=int(seq), unchanged=bool(unchanged))

    def put_articles(
        self,
        items: Sequence[tuple[Article, Sequence[Statement], np.ndarray]],
        if_changed: bool = False,
    ) -> list[PutResult]:
        """One round trip for a batch: the scripts go down one pipeline, each still atomic on
        its own (no MULTI: an article never waits for the rest of the batch to be whole)."""
        if len(items) < 2:  # an API write: the plain script call
            return [self.put_article(*item, if_changed=if_changed) for item in items]
        pipe = self.client.pipeline(transaction=False)
        for article, statements, vectors in items:
            self._put(client=pipe, **self._put_call(article, statements, vectors, if_changed))
        replies = self._call(pipe.execute)
        return [
            PutResult(created=bool(created), version=int(seq), unchanged=bool(unchanged))
            for created, seq, unchanged in replies
        ]

    def _put_call(
        self,
        article: Article,
        statements: Sequence[Statement],
        vectors: np.ndarray,
        if_changed: bool,
    ) -> dict[str, Any]:
        if len(statements) != len(vectors):
            raise ValueError("one vector per statement is required")
        rows = [[s.start, s.end, s.context_start, s.context_end, s.text] for s in statements]
        blob = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        args = [
            article.id,
            json.dumps(article.meta()),
            article.text or "",
            json.dumps(rows),
            blob,
            article.content_hash,
            "1" if if_changed else "0",
        ]
        return {"keys": self._article_keys(article.id), "args": args}

    def delete_article(self, article_id: str) -> bool:
        seq = self._call(self._delete, keys=self._article_keys(article_id), args=[article_id])
        return bool(seq)

    def get_article(self, article_id: str, with_text: bool = True) -> Article | None:
        fields = ["meta", "text"] if with_text else ["meta"]
        values = self._call(self.client.hmget, self._key("art", article_id), fields)
        if values[0] is None:
            return None
        return article_from_meta(values[0], values[1] if with_text else None)

    def get_statements(self, article_id: str) -> list[Statement]:
        raw = self._call(self.client.get, self._key("stm", article_id))
        return statements_from_json(raw)

    def get_article_with_statements(
        self, article_id: str
    ) -> tuple[Article, list[Statement]] | None:
        pipe = self.client.pipeline(transaction=True)  # MULTI: one consistent view
        pipe.hmget(self._key("art", article_id), ["meta", "text"])
        pipe.get(self._key("stm", article_id))
        (meta, text), raw = self._call(pipe.execute)
        return (
            (article_from_meta(meta, text), statements_from_json(raw)) if meta is not None else None
        )

    def find_by_hash(self, content_hash: str) -> str | None:
        # Members are "<hash>\0<id>": several ids may share a hash, the smallest id answers.
        prefix = content_hash.encode() + b"\0"
        found = self._call(
            self.client.zrangebylex,
            self._key("hash-ids"),
            b"[" + prefix,
            b"(" + content_hash.encode() + b"\1",
            0,
            1,
        )
        return found[0][len(prefix) :].decode() if found else None

    def list_articles(self, limit: int, after: str | None = None) -> list[Article]:
        found: list[Article] = []
        # An article deleted between the id scan and the read leaves a gap: read on, so that a
        # short page always means the end of the list.
        while len(found) < limit:
            start = b"(" + after.encode() if after else b"-"
            want = limit - len(found)
            ids = self._call(self.client.zrangebylex, self._key("ids"), start, b"+", 0, want)
            if not ids:
                break
            pipe = self.client.pipeline(transaction=True)
            for article_id in ids:
                pipe.hget(self._key("art", article_id.decode()), "meta")
            found += [article_from_meta(m, None) for m in self._call(pipe.execute) if m is not None]
            after = ids[-1].decode()
        return found

    def version(self) -> int:
        return int(self._call(self.client.get, self._key("seq")) or 0)

    def changes_since(self, version: int, head: str | None = None) -> Changes:
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self._key("seq"))
        pipe.zrangebyscore(self._key("changes"), f"({version}", "+inf")
        pipe.zscore(self._key("changes"), head or "")
        pipe.zrevrange(self._key("changes"), 0, 0)
        current, ids, seen, latest = self._call(pipe.execute)
        current = int(current or 0)
        intact = current >= version and (head is None or (seen is not None and seen >= version))
        return Changes(
            version=current,
            head=latest[0].decode() if latest else None,
            intact=intact,
            article_ids=[i.decode() for i in ids],
        )

    def load_index_data(self, article_ids: Sequence[str]) -> dict[str, IndexData]:
        if not article_ids:
            return {}
        pipe = self.client.pipeline(transaction=True)
        for article_id in article_ids:
            pipe.get(self._key("stm", article_id))
            pipe.get(self._key("vec", article_id))
            pipe.hget(self._key("art", article_id), "meta")
        values = self._call(pipe.execute)
        found = {}
        for i, article_id in enumerate(article_ids):
            stm, blob, meta = values[3 * i : 3 * i + 3]
            if meta is not None:
                texts = [s.text for s in statements_from_json(stm)]
                fields = json.loads(meta)
                found[article_id] = IndexData(
                    texts=texts,
                    vectors=vectors_from_blob(blob, len(texts)),
                    source=fields["source"],
                    published_at=fields.get("published_at"),
                    title=fields.get("title"),
                )
        return found

    def iter_index_data(self, batch: int = 500) -> Iterator[tuple[str, IndexData]]:
        after: str | None = None
        while True:
            start = b"(" + after.encode() if after else b"-"
            ids = [
                i.decode()
                for i in self._call(
                    self.client.zrangebylex, self._key("ids"), start, b"+", 0, batch
                )
            ]
            if not ids:
                return
            yield from self.load_index_data(ids).items()
            after = ids[-1]

    def resolve(self, keys: Sequence[tuple[str, int]]) -> list[Hit | None]:
        article_ids = list(dict.fromkeys(article_id for article_id, _ in keys))
        pipe = self.client.pipeline(transaction=True)
        for article_id in article_ids:
            pipe.hmget(self._key("art", article_id), ["meta", "text"])
            pipe.get(self._key("stm", article_id))
        values = self._call(pipe.execute)
        loaded: dict[str, tuple[Article, list[Statement]]] = {}
        for i, article_id in enumerate(article_ids):
            (meta, text), stm = values[2 * i], values[2 * i + 1]
            if meta is not None:
                loaded[article_id] = (article_from_meta(meta, text), statements_from_json(stm))
        hits: list[Hit | None] = []
        for article_id, position in keys:
            entry = loaded.get(article_id)
            if entry is None or not 0 <= position < len(entry[1]):
                hits.append(None)
                continue
            article, statements = entry
            s = statements[position]
            full = article.text or ""
            hits.append(
                Hit(
                    article=without_text(article),
                    statement=s,
                    context=full[s.context_start : s.context_end],
                )
            )
        return hits

    def count_articles(self) -> int:
        return int(self._call(self.client.zcard, self._key("ids")))
