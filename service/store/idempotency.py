"""Idempotency keys: the first answer to a keyed write, kept to be replayed to its retries.

A client that lost the answer to `POST /v1/articles` retries with the same
`Idempotency-Key` and gets the first answer again (same status, body and Location), not a
second write's. Keys are scoped to the caller (its API key, or "anonymous"); an answer is kept
for a day. A key is first *reserved* by one request (its owner token) under a short lease
(FACTCHECK_IDEMPOTENCY_LEASE_S), renewed by a heartbeat while the request runs. While it runs, a
retry is told to wait (409), and a retry with another body under the same key is refused (422):
that is a client bug, not a retry. Failed requests release their key, so they can be retried
for real; a request that died (worker killed, store lost mid-write) stops renewing, and once
its lease lapses a retry runs for real. Only the owner may renew, complete or release.
"""

from __future__ import annotations

import abc
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.store.base import Store, StoreUnavailable
from service.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    # Imported where it is used: the redis client costs ~0.1 s of every start, also of a
    # service whose store is SQLite.
    from service.store.redis import RedisStore

log = logging.getLogger(__name__)

TTL_S = 24 * 3600
LEASE_S = 30.0


@dataclass(frozen=True)
class Recorded:
    """What a key holds: a request in flight (status None, its owner's token) or its answer."""

    fingerprint: str
    status: int | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    owner: str | None = None


class IdempotencyLog(abc.ABC):
    lease_s: float = LEASE_S

    @abc.abstractmethod
    def reserve(self, key: str, fingerprint: str, owner: str) -> Recorded | None:
        """Claim a free (or lapsed) key for owner (None), or return what the key holds."""

    @abc.abstractmethod
    def renew(self, key: str, owner: str) -> bool:
        """Extend owner's lease; False when the key is no longer owner's."""

    @abc.abstractmethod
    def complete(self, key: str, owner: str, answer: Recorded) -> None:
        """Keep the answer for a day, unless another request has taken the key since."""

    @abc.abstractmethod
    def release(self, key: str, owner: str) -> None:
        """Forget owner's reservation (its request failed)."""

    @contextmanager
    def leased(self, key: str, fingerprint: str) -> Iterator[tuple[Recorded | None, str]]:
        """Reserve the key and, if it was claimed, renew the lease until the block ends (a
        request slower than the lease stays the only one running under its key)."""
        owner = uuid.uuid4().hex
        held = self.reserve(key, fingerprint, owner)
        if held is not None:
            yield held, owner
            return
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(key, owner, stop), daemon=True)
        beat.start()
        try:
            yield None, owner
        finally:
            stop.set()
            beat.join()

    def _heartbeat(self, key: str, owner: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_s / 3):
            try:
                if not self.renew(key, owner):
                    return
            except StoreUnavailable:
                continue  # the store may come back within the lease; the request decides
            except Exception:  # a dead heartbeat would let a retry run beside this request
                log.exception("idempotency lease renewal failed; will try again")


class SQLiteIdempotencyLog(IdempotencyLog):
    """A table beside the articles, written through the store's own transactions (per-thread,
    fork-safe connections; a busy or failing database is StoreUnavailable, as for articles)."""

    def __init__(self, store: SQLiteStore, lease_s: float = LEASE_S) -> None:
        self._store = store
        self.lease_s = lease_s
        with store._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, record TEXT NOT "
                "NULL, expires REAL NOT NULL)"
            )

    def reserve(self, key: str, fingerprint: str, owner: str) -> Recorded | None:
        now = time.time()
        with self._store._write() as conn:
            conn.execute("DELETE FROM idempotency WHERE expires < ?", (now,))
            found = conn.execute("SELECT record FROM idempotency WHERE key = ?", (key,)).fetchone()
            if found is None:
                conn.execute(
                    "INSERT INTO idempotency(key, record, expires) VALUES (?, ?, ?)",
                    (key, _dump(Recorded(fingerprint, owner=owner)), now + self.lease_s),
                )
        return None if found is None else _load(found[0])

    def _owned(self, conn: Any, key: str, owner: str) -> bool | None:
        """Whether owner holds the key (None: nobody does)."""
        found = conn.execute("SELECT record FROM idempotency WHERE key = ?", (key,)).fetchone()
        return None if found is None else _load(found[0]).owner == owner

    def renew(self, key: str, owner: str) -> bool:
        with self._store._write() as conn:
            if not self._owned(conn, key, owner):
                return False
            expires = time.time() + self.lease_s
            conn.execute("UPDATE idempotency SET expires = ? WHERE key = ?", (expires, key))
        return True

    def complete(self, key: str, owner: str, answer: Recorded) -> None:
        with self._store._write() as conn:
            if self._owned(conn, key, owner) is not False:
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency(key, record, expires) VALUES (?, ?, ?)",
                    (key, _dump(answer), time.time() + TTL_S),
                )

    def release(self, key: str, owner: str) -> None:
        with self._store._write() as conn:
            if self._owned(conn, key, owner):
                conn.execute("DELETE FROM idempotency WHERE key = ?", (key,))


# Owner checks and writes in one script each, so that a lease that lapsed and was taken by a
# retry in between is never renewed, overwritten or deleted by the request that lost it.
_RENEW = """
local raw = redis.call('GET', KEYS[1])
if not raw or cjson.decode(raw).owner ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_COMPLETE = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw).owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
_RELEASE = """
local raw = redis.call('GET', KEYS[1])
if not raw or cjson.decode(raw).owner ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisIdempotencyLog(IdempotencyLog):
    """One string key per idempotency key, under the store's prefix, expiring with its lease
    (in flight) or after a day (answered); every call goes through the store's guard
    (unreachable or refusing: StoreUnavailable)."""

    def __init__(self, store: RedisStore, lease_s: float = LEASE_S) -> None:
        self.client = store.client
        self.lease_s = lease_s
        self._call = store._call
        self._name = lambda key: store._key("idem", key)
        self._renew = self.client.register_script(_RENEW)
        self._complete = self.client.register_script(_COMPLETE)
        self._release = self.client.register_script(_RELEASE)

    def _lease_ms(self) -> int:
        return max(1, int(self.lease_s * 1000))

    def reserve(self, key: str, fingerprint: str, owner: str) -> Recorded | None:
        claimed = self._call(
            self.client.set,
            self._name(key),
            _dump(Recorded(fingerprint, owner=owner)),
            nx=True,
            px=self._lease_ms(),
        )
        if claimed:
            return None
        held = self._call(self.client.get, self._name(key))
        # Expired between the two calls: a fresh reservation is the honest answer.
        return _load(held) if held is not None else self.reserve(key, fingerprint, owner)

    def renew(self, key: str, owner: str) -> bool:
        args = [owner, self._lease_ms()]
        return bool(self._call(self._renew, keys=[self._name(key)], args=args))

    def complete(self, key: str, owner: str, answer: Recorded) -> None:
        args = [owner, _dump(answer), TTL_S]
        self._call(self._complete, keys=[self._name(key)], args=args)

    def release(self, key: str, owner: str) -> None:
        self._call(self._release, keys=[self._name(key)], args=[owner])


def open_idempotency_log(store: Store, lease_s: float = LEASE_S) -> IdempotencyLog:
    """The log that lives where the store does."""
    if not lease_s > 0:
        raise ValueError(f"FACTCHECK_IDEMPOTENCY_LEASE_S must be positive, not {lease_s}")
    if isinstance(store, SQLiteStore):
        return SQLiteIdempotencyLog(store, lease_s)
    from service.store.redis import RedisStore

    if isinstance(store, RedisStore):
        return RedisIdempotencyLog(store, lease_s)
    raise TypeError(f"no idempotency log for {type(store).__name__}")


def _dump(record: Recorded) -> str:
    return json.dumps(record.__dict__)


def _load(raw: str | bytes) -> Recorded:
    return Recorded(**json.loads(raw))
