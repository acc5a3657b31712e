"""The idempotency lease heartbeat outlives a refusal: Redis answering an error the request
does not expect (here NOREPLICAS) must not stop the renewals, or a retry would run beside the
request once the lease lapses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.store.idempotency import RedisIdempotencyLog
from service.store.redis import RedisStore
from tests.private_redis import PrivateRedis, wait_until

LEASE_S = 3.0  # a renewal every second


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def failed_writes(admin: object, code: str) -> int:
    stats = admin.info("errorstats")  # type: ignore[attr-defined]
    return int(stats.get(f"errorstat_{code}", {}).get("count", 0))


def test_the_heartbeat_renews_again_once_redis_takes_writes(redis_server: PrivateRedis) -> None:
    refuse, allow, code = (
        ("min-replicas-to-write", "1"),
        ("min-replicas-to-write", "0"),
        "NOREPLICAS",
    )
    store = RedisStore(redis_server.url, prefix="beat", timeout_s=2.0)
    log = RedisIdempotencyLog(store, lease_s=LEASE_S)
    admin = redis_server.client()
    name = "beat:idem:k-1"
    try:
        with log.leased("k-1", "fingerprint") as (held, owner):
            assert held is None
            before = failed_writes(admin, code)
            admin.config_set(*refuse)
            # A renewal was tried and refused...
            wait_until(lambda: failed_writes(admin, code) > before, LEASE_S, "a refused renewal")
            admin.config_set(*allow)
            left = admin.pttl(name)
            # ...and the next one, a second later, renews the lease again.
            wait_until(lambda: admin.pttl(name) > left + 200, LEASE_S, "a renewal after it")
            other = log.reserve("k-1", "fingerprint", "someone-else")
            assert other is not None and other.owner == owner  # still this request's
    finally:
        admin.config_set(*allow)
        admin.close()
        store.close()
