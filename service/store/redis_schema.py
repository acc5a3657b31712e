"""The Redis store's values: the Lua scripts that write and delete an article with its change,
and the stored JSON and bytes read back as articles, statements and vectors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from service.types import Article, Statement

# A script runs atomically: the change sequence and the data it announces are written together,
# so an index that has seen version v has every write up to v (no reader sees half an article).
PUT_SCRIPT = """
local old = redis.call('HGET', KEYS[1], 'hash')
if ARGV[7] == '1' and old == ARGV[6] then
  return {0, tonumber(redis.call('GET', KEYS[7]) or '0'), 1}
end
if old then redis.call('ZREM', KEYS[4], old .. '\\0' .. ARGV[1]) end
local created = redis.call('EXISTS', KEYS[1]) == 0 and 1 or 0
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'text', ARGV[3], 'hash', ARGV[6])
redis.call('SET', KEYS[2], ARGV[4])
redis.call('SET', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[4], 0, ARGV[6] .. '\\0' .. ARGV[1])
redis.call('ZADD', KEYS[5], 0, ARGV[1])
local seq = redis.call('INCR', KEYS[7])
redis.call('ZADD', KEYS[6], seq, ARGV[1])
return {created, seq, 0}
"""

DELETE_SCRIPT = """
local old = redis.call('HGET', KEYS[1], 'hash')
if not old then return 0 end
redis.call('ZREM', KEYS[4], old .. '\\0' .. ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[5], ARGV[1])
local seq = redis.call('INCR', KEYS[7])
redis.call('ZADD', KEYS[6], seq, ARGV[1])
return seq
"""


def article_from_meta(meta: bytes, text: bytes | None) -> Article:
    stored = json.loads(meta)
    # Known fields only: a replica of a later release may have stored more.
    fields = {k: v for k, v in stored.items() if k in _ARTICLE_FIELDS}
    if fields.get("credits") is not None:  # JSON has no tuples
        fields["credits"] = tuple(fields["credits"])
    return Article(**fields, text=text.decode() if text is not None else None)


_ARTICLE_FIELDS = {f.name for f in dataclasses.fields(Article)} - {"text"}


def without_text(article: Article) -> Article:
    return Article(**article.meta())  # type: ignore[arg-type]


def statements_from_json(raw: bytes | None) -> list[Statement]:
    if not raw:
        return []
    return [
        Statement(position=i, start=r[0], end=r[1], context_start=r[2], context_end=r[3], text=r[4])
        for i, r in enumerate(json.loads(raw))
    ]


def vectors_from_blob(blob: bytes | None, count: int) -> np.ndarray:
    if not blob or count == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(blob, dtype=np.float32).reshape(count, -1)
