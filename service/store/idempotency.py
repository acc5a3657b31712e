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
import time
from dataclasses import dataclass
from typing import Any

from service.store.base import Store
from service.store.redis import RedisStore
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
    """A table beside the articles, written through the store's own transactions (per-thread,
    fork-safe connections; a busy or failing database is StoreUnavailable, as for articles)."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        with store._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, record TEXT NOT "
                "NULL, expires REAL NOT NULL)"
            )

    def reserve(self, key: str, fingerprint: str) -> Recorded | None:
        now = time.time()
        with self._store._write() as conn:
            conn.execute("DELETE FROM idempotency WHERE expires < ?", (now,))
            found = conn.execute("SELECT record FROM idempotency WHERE key = ?", (key,)).fetchone()
            if found is None:
                conn.execute(
                    "INSERT INTO idempotency(key, record, expires) VALUES (?, ?, ?)",
                    (key, _dump(Recorded(fingerprint)), now + TTL_S),
                )
        return None if found is None else _load(found[0])

    def complete(self, key: str, answer: Recorded) -> None:
        with self._store._write() as conn:
            conn.execute("UPDATE idempotency SET record = ? WHERE key = ?", (_dump(answer), key))

    def release(self, key: str) -> None:
        with self._store._write() as conn:
            conn.execute("DELETE FROM idempotency WHERE key = ?", (key,))


class RedisIdempotencyLog(IdempotencyLog):
    """One string key per idempotency key, under the store's prefix, expiring after a day;
    every call goes through the store's guard (unreachable or refusing: StoreUnavailable)."""

    def __init__(self, store: RedisStore) -> None:
        self.client = store.client
        self._call = store._call
        self._name = lambda key: store._key("idem", key)

    def reserve(self, key: str, fingerprint: str) -> Recorded | None:
        claimed = self._call(
            self.client.set, self._name(key), _dump(Recorded(fingerprint)), nx=True, ex=TTL_S
        )
        if claimed:
            return None
        held = self._call(self.client.get, self._name(key))
        # Expired between the two calls: a fresh reservation is the honest answer.
        return _load(held) if held is not None else self.reserve(key, fingerprint)

    def complete(self, key: str, answer: Recorded) -> None:
        self._call(self.client.set, self._name(key), _dump(answer), ex=TTL_S)

    def release(self, key: str) -> None:
        self._call(self.client.delete, self._name(key))


def open_idempotency_log(store: Store) -> IdempotencyLog:
    """The log that lives where the store does."""
    if isinstance(store, SQLiteStore):
        return SQLiteIdempotencyLog(store)
    if isinstance(store, RedisStore):
        return RedisIdempotencyLog(store)
    raise TypeError(f"no idempotency log for {type(store).__name__}")


def _dump(record: Recorded) -> str:
    return json.dumps(record.__dict__)


def _load(raw: str | bytes) -> Recorded:
    return Recorded(**json.loads(raw))
