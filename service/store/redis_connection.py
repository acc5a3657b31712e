"""The Redis store's client: its keys under one prefix, its scripts, and Redis's errors read as
unreachable (StoreUnavailable) or refusing writes (StoreRefusingWrites)."""

from __future__ import annotations

from typing import Any

import redis

from service.store.base import StoreRefusingWrites, StoreUnavailable
from service.store.redis_schema import DELETE_SCRIPT, PUT_SCRIPT

_REFUSALS = (
    redis.exceptions.OutOfMemoryError,
    redis.ReadOnlyError,
    redis.exceptions.NoPermissionError,
)
# Replies that redis-py has no class for (or that reach us inside a script's error).
_REFUSAL_CODES = ("MISCONF", "NOREPLICAS", "NOPERM", "OOM", "READONLY")
_SCRIPT_NOPERM = "The user executing the script can't run this command"


class RedisConnection:
    """A client under a key prefix, the scripts registered on it, every call's errors mapped."""

    def __init__(self, url: str, prefix: str = "factcheck", timeout_s: float = 2.0) -> None:
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
        )
        self._put = self.client.register_script(PUT_SCRIPT)
        self._delete = self.client.register_script(DELETE_SCRIPT)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _article_keys(self, article_id: str) -> list[str]:
        return [
            self._key("art", article_id),
            self._key("stm", article_id),
            self._key("vec", article_id),
            self._key("hash-ids"),
            self._key("ids"),
            self._key("changes"),
            self._key("seq"),
        ]

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc.__class__.__name__}") from exc
        except redis.ResponseError as exc:
            # Up but refusing writes: out of memory (maxmemory, noeviction), a read-only
            # replica (after a failover), persistence failing (MISCONF), too few replicas
            # (min-replicas-to-write: NOREPLICAS), or an ACL user without write commands
            # (NOPERM). Retry later: 503.
            # A pipeline's error names the command first: the reply's own code follows.
            text = str(exc).split(" of pipeline caused error: ", 1)[-1]
            refused = isinstance(exc, _REFUSALS) or text.startswith(_REFUSAL_CODES)
            if refused or _SCRIPT_NOPERM in text:
                raise StoreRefusingWrites(f"Redis refuses writes: {text[:80]}") from exc
            raise

    def ping(self) -> None:
        self._call(self.client.ping)

    def probe_write(self) -> None:
        # A tiny key under the prefix that expires by itself: Redis refuses it as it would any
        # write (OOM under maxmemory, READONLY replica, MISCONF when persistence fails).
        self._call(self.client.set, self._key("probe"), b"1", px=5000)

    def close(self) -> None:
        self.client.close()
