"""Stores chosen by URL: sqlite:///path (embedded default) or redis://host:port/db."""

from __future__ import annotations

from service.store.base import (
    Changes,
    PutResult,
    Store,
    StoreRefusingWrites,
    StoreUnavailable,
)

__all__ = [
    "Changes",
    "PutResult",
    "Store",
    "StoreRefusingWrites",
    "StoreUnavailable",
    "open_store",
]


def open_store(
    url: str, redis_prefix: str = "factcheck", redis_timeout_s: float = 2.0, read_only: bool = False
) -> Store:
    """Open the store a URL names (read_only: for a command that only reads; SQLite then
    opens a file nobody may write)."""
    if url.startswith("sqlite:"):
        from service.store.sqlite import SQLiteStore

        return SQLiteStore(url, read_only=read_only)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from service.store.redis import RedisStore

        return RedisStore(url, prefix=redis_prefix, timeout_s=redis_timeout_s)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path or redis://host:port/db")
