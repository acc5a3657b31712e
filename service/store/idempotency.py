"""Idempotency keys: the first answer to a keyed write, kept to be replayed to its retries.

A client that lost the answer to `POST /v1/articles` retries with the same
`Idempotency-Key` and gets the first answer again (same status, body and Location), not a
second write's. Keys are scoped to the caller (its API key, or "anonymous") and kept for a
day. A key is first *reserved*; while its request runs, a retry is told to wait (409), and a
retry with another body under the same key is refused (422): that is a client bug, not a
retry. Failed requests release their key, so they can be retried for real.
"""

from __future__ import annotations

import abc
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import redis

from service.store.base import Store, StoreUnavailable
from service.store.sqlite import SQLiteStore

TTL_S = 24 * 3600


@dataclass(frozen=True)
class Recorded:
    """What a key holds: a request in flight (status None) or its finished answer."""

    fingerprint: str
    status: int | None = None
    body: Any = None
    headers: dict[str, str] | None = None


class IdempotencyLog(abc.ABC):
    @abc.abstractmethod
    def reserve(self, key: str, fingerprint: str) -> Recorded | None:
        """Claim a key for a new request (None), or return what the key already holds."""

    @abc.abstractmethod
    def complete(self, key: str, answer: Recorded) -> None:
        """Keep the answer of the request that reserved the key."""

    @abc.abstractmethod
    def release(self, key: str) -> None:
        """Forget a reservation whose request failed."""


class SQLiteIdempotencyLog(IdempotencyLog):
    """A table beside the articles, on the store's own (per thread, fork-safe) connections."""

    def __init__(self, store: SQLiteStore) -> None:
        self._conn = store.connection
        self._conn().execute(
            "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, record TEXT NOT "
            "NULL, expires REAL NOT NULL)"
        )

    def reserve(self, key: str, fingerprint: str) -> Recorded | None:
        now = time.time()
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM idempotency WHERE expires < ?", (now,))
                row = conn.execute("SELECT record FROM idempotency WHERE key = ?", (key,))
                found = row.fetchone()
                if found is None:
                    conn.execute(
                        "INSERT INTO idempotency(key, record, expires) VALUES (?, ?, ?)",
                        (key, _dump(Recorded(fingerprint)), now + TTL_S),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite store busy or failing: {exc}") from exc
        return None if found is None else _load(found[0])

    def complete(self, key: str, answer: Recorded) -> None:
        self._conn().execute(
            "UPDATE idempotency SET record = ? WHERE key = ?", (_dump(answer), key)
        )

    def release(self, key: str) -> None:
        self._conn().execute("DELETE FROM idempotency WHERE key = ?", (key,))


class RedisIdempotencyLog(IdempotencyLog):
    """One string key per idempotency key, under the store's prefix, expiring after a day."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc.__class__.__name__}") from exc

    def reserve(self, key: str, fingerprint: str) -> Recorded | None:
        claimed = self._call(
            self.client.set, self._key(key), _dump(Recorded(fingerprint)), nx=True, ex=TTL_S
        )
        if claimed:
            return None
        held = self._call(self.client.get, self._key(key))
        # Expired between the two calls: a fresh reservation is the honest answer.
        return _load(held) if held is not None else self.reserve(key, fingerprint)

    def complete(self, key: str, answer: Recorded) -> None:
        self._call(self.client.set, self._key(key), _dump(answer), ex=TTL_S)

    def release(self, key: str) -> None:
        self._call(self.client.delete, self._key(key))


def open_idempotency_log(store: Store) -> IdempotencyLog:
    """The log that lives where the store does."""
    from service.store.redis import RedisStore

    if isinstance(store, SQLiteStore):
        return SQLiteIdempotencyLog(store)
    if isinstance(store, RedisStore):
        return RedisIdempotencyLog(store.client, store.prefix)
    raise TypeError(f"no idempotency log for {type(store).__name__}")


def _dump(record: Recorded) -> str:
    return json.dumps(record.__dict__)


def _load(raw: str | bytes) -> Recorded:
    return Recorded(**json.loads(raw))
