"""Access and abuse: API keys, rate limits, security headers, request ids and what logs hold."""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service import create_app
from service.api import auth
from service.api.headers import SECURITY_HEADERS
from service.cli import main as cli_main
from service.config import Config
from service.core.embed import Embedder
from service.serving.logs import JsonFormatter
from tests.conftest import REDIS_URL, delete_prefix, redis_available

KEY, OTHER_KEY = "k-4c1d9a0e7f", "k-other-22b8"
ARTICLE = {"id": "dam", "title": "Dam", "source": "Desk", "text": "The river dam opened in 1990."}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_unauthorized(response: Any, invalid: bool) -> None:
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="factcheck"')
    assert ('error="invalid_token"' in challenge) is invalid


@pytest.mark.parametrize(
    ("headers", "invalid"),
    [({}, False), (bearer("wrong"), True), ({"Authorization": f"Basic {KEY}"}, True)],
)
def test_writes_need_a_valid_key_and_store_nothing_without_one(
    make_client: Callable[..., FlaskClient], headers: dict[str, str], invalid: bool
) -> None:
    client = make_client(api_keys=f"{KEY}, {OTHER_KEY}")
    assert_unauthorized(client.post("/v1/articles", json=ARTICLE, headers=headers), invalid)
    assert client.get("/v1/articles").get_json()["articles"] == []  # reads stay open
    assert client.post("/v1/articles", json=ARTICLE, headers=bearer(OTHER_KEY)).status_code == 201
    assert_unauthorized(client.delete("/v1/articles/dam", headers=headers), invalid)
    assert client.get("/v1/articles/dam").status_code == 200
    assert client.delete("/v1/articles/dam", headers=bearer(KEY)).status_code == 204


def test_checks_and_probes_stay_open_unless_reads_need_keys(
    make_client: Callable[..., FlaskClient],
) -> None:
    open_reads = make_client(api_keys=KEY)
    assert open_reads.post("/v1/check", json={"claim": "a dam opened"}).status_code == 200
    closed = make_client(api_keys=KEY, read_keys_required=True)
    for path in ("/v1/check?claim=dam", "/v1/articles"):
        assert_unauthorized(closed.get(path), invalid=False)
        assert closed.get(path, headers=bearer(KEY)).status_code == 200
    assert_unauthorized(closed.post("/v1/check", json={"claim": "dam"}), invalid=False)
    for path in ("/healthz", "/readyz", "/openapi.yaml"):
        assert closed.get(path).status_code == 200


def test_keys_come_from_a_file_too(make_client: Callable[..., FlaskClient], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# ingest robot\n{KEY}  # rotated 2026-11\n\n", encoding="utf-8")
    client = make_client(api_keys_file=str(keys))
    assert_unauthorized(client.post("/v1/articles", json=ARTICLE), invalid=False)
    assert client.post("/v1/articles", json=ARTICLE, headers=bearer(KEY)).status_code == 201


def test_reads_required_without_any_key_is_a_configuration_error(
    embedder: Embedder, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="no API key"):
        create_app({"store": f"sqlite:///{tmp_path}/x.db", "read_keys_required": True})


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key is compared with hmac.compare_digest, even after one matched."""
    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    keys = [KEY, OTHER_KEY, "k-third"]
    assert auth.matching_key(KEY, keys) == KEY
    assert len(calls) == 3
    assert auth.matching_key("nope", keys) is None


@pytest.mark.parametrize(
    ("bind", "keys", "refused"),
    [
        ("127.0.0.1:8000", [], False),
        ("localhost:8000", [], False),
        ("[::1]:8000", [], False),
        ("0.0.0.0:8000", [], True),
        ("10.1.2.3:8000", [], True),
        ("0.0.0.0:8000", [KEY], False),
    ],
)
def test_serve_refuses_open_writes_beyond_loopback(
    bind: str, keys: list[str], refused: bool
) -> None:
    reason = auth.open_writes_refusal(Config(bind=bind), keys)
    assert (reason is not None) is refused


def test_serve_command_exits_before_listening_open_to_the_network(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FACTCHECK_API_KEYS", raising=False)
    monkeypatch.delenv("FACTCHECK_API_KEYS_FILE", raising=False)
    monkeypatch.delenv("FACTCHECK_ALLOW_OPEN_WRITES", raising=False)
    # `serve --bind` exports FACTCHECK_BIND for gunicorn; setting it here first makes the
    # monkeypatch put the variable back afterwards, so later servers do not inherit 0.0.0.0.
    monkeypatch.setenv("FACTCHECK_BIND", "127.0.0.1:8000")
    assert cli_main(["serve", "--bind", "0.0.0.0:8000"]) == 2
    assert "refusing to listen on 0.0.0.0:8000" in capsys.readouterr().err


def test_rate_limits_answer_429_with_retry_after_and_ratelimit_headers(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(rate_limit_reads="3/minute", rate_limit_writes="1/minute", api_keys=KEY)
    remaining = []
    for _ in range(3):
        ok = client.get("/v1/check?claim=dam")
        assert ok.status_code == 200
        assert ok.headers["RateLimit-Limit"] == "3"
        assert 0 < int(ok.headers["RateLimit-Reset"]) <= 61  # whole seconds, rounded up
        remaining.append(int(ok.headers["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    refused = client.post("/v1/check", json={"claim": "dam"})
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    assert refused.headers["RateLimit-Remaining"] == "0"
    # A key has its own budget, apart from the anonymous address's.
    assert client.get("/v1/check?claim=dam", headers=bearer(KEY)).status_code == 200
    # Writes are counted apart from reads, and a refused write stores nothing.
    assert client.post("/v1/articles", json=ARTICLE, headers=bearer(KEY)).status_code == 201
    second = {**ARTICLE, "id": "dam-2"}
    assert client.post("/v1/articles", json=second, headers=bearer(KEY)).status_code == 429
    assert client.get("/v1/articles/dam-2", headers=bearer(KEY)).status_code == 404
    # Probes are never limited.
    assert all(client.get("/healthz").status_code == 200 for _ in range(5))


def test_redis_backed_limits_are_shared_between_workers(embedder: Embedder) -> None:
    """Two apps over one Redis (two workers, or two replicas) draw on one budget."""
    if not redis_available():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: start redis-server (see .ci/run)")
    prefix = f"fctest-{uuid.uuid4().hex[:12]}"
    settings = {"store": REDIS_URL, "redis_prefix": prefix, "rate_limit_reads": "3/minute"}
    apps = [create_app(settings) for _ in range(2)]
    try:
        one, two = (app.test_client() for app in apps)
        assert [one.get("/v1/check?claim=x").status_code for _ in range(2)] == [200, 200]
        assert two.get("/v1/check?claim=x").status_code == 200
        assert two.get("/v1/check?claim=x").status_code == 429
        assert one.get("/v1/check?claim=x").status_code == 429
    finally:
        for app in apps:
            app.extensions["factcheck"].store.close()
        delete_prefix(REDIS_URL, prefix)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/v1/check?claim=dam", 200),
        ("GET", "/v1/articles/none", 404),
        ("POST", "/v1/check", 415),
        ("PUT", "/v1/check", 405),
        ("POST", "/v1/articles", 401),
    ],
)
def test_every_response_carries_security_headers_and_a_request_id(
    make_client: Callable[..., FlaskClient], method: str, path: str, status: int
) -> None:
    client = make_client(api_keys=KEY)
    response = client.open(path, method=method, data="x")
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize(
    ("given", "echoed"),
    [("req-42.a:b_c", True), ("x" * 129, False), ("two words", False), ("", False)],
)
def test_request_id_is_echoed_when_it_is_a_plain_token(
    make_client: Callable[..., FlaskClient], given: str, echoed: bool
) -> None:
    response = make_client().get("/healthz", headers={"X-Request-ID": given})
    assert (response.headers["X-Request-ID"] == given) is echoed
    assert response.headers["X-Request-ID"]


def test_logs_are_json_with_request_ids_and_never_claims_or_keys(
    make_client: Callable[..., FlaskClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(api_keys=KEY)
    claim = "Zebra-striped submarines crossed Lake Geneva"
    with caplog.at_level(logging.INFO):
        client.get("/v1/check", query_string={"claim": claim}, headers={"X-Request-ID": "rq-1"})
        client.post("/v1/check", json={"claim": claim}, headers=bearer(KEY))
        client.post("/v1/articles", json=ARTICLE, headers=bearer("bad-" + KEY))
    lines = [JsonFormatter().format(r) for r in caplog.records]
    records = [json.loads(line) for line in lines]
    requests_logged = [r for r in records if r["logger"] == "factcheck.access"]
    assert [r["path"] for r in requests_logged] == ["/v1/check", "/v1/check", "/v1/articles"]
    assert requests_logged[0]["request_id"] == "rq-1"
    assert requests_logged[1]["key"] == auth.key_id(KEY)
    assert requests_logged[2]["status"] == 401
    assert all({"ts", "level", "pid", "msg", "ms"} <= r.keys() for r in requests_logged)
    for line in lines:
        assert "Zebra" not in line and "submarines" not in line
        assert KEY not in line


def test_idempotency_key_replays_the_first_answer(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(api_keys=f"{KEY},{OTHER_KEY}")
    keyed = {**bearer(KEY), "Idempotency-Key": "order-7"}
    first = client.post("/v1/articles", json=ARTICLE, headers=keyed)
    assert first.status_code == 201 and first.get_json()["status"] == "created"
    again = client.post("/v1/articles", json=ARTICLE, headers=keyed)
    # Without the key the same body answers 200 "unchanged"; with it, the first 201 again.
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    unkeyed = client.post("/v1/articles", json=ARTICLE, headers=bearer(KEY))
    assert unkeyed.status_code == 200 and unkeyed.get_json()["status"] == "unchanged"
    # Another body under the same key is a client bug, refused without a write.
    other = {**ARTICLE, "id": "dam-2"}
    reused = client.post("/v1/articles", json=other, headers=keyed)
    assert reused.status_code == 422
    assert "Idempotency-Key" in reused.get_json()["errors"]
    assert client.get("/v1/articles/dam-2").status_code == 404
    # Keys are per caller: the same key from another API key is a new request.
    theirs = client.post("/v1/articles", json=other, headers={**keyed, **bearer(OTHER_KEY)})
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers


def test_a_failed_keyed_request_can_be_retried_for_real(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client()
    keyed = {"Idempotency-Key": "retry-me"}
    bad = {**ARTICLE, "text": "x" * 200}
    refused = make_client(max_article_chars=100).post("/v1/articles", json=bad, headers=keyed)
    assert refused.status_code == 422
    fixed = client.post("/v1/articles", json=bad, headers=keyed)
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_malformed_idempotency_keys_are_refused(
    make_client: Callable[..., FlaskClient], key: str
) -> None:
    client = make_client()
    response = client.post("/v1/articles", json=ARTICLE, headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]
    assert client.get("/v1/articles/dam").status_code == 404


@pytest.mark.parametrize("setting", ["off", "none", "OFF"])
def test_a_limit_set_to_off_never_refuses(
    make_client: Callable[..., FlaskClient], setting: str
) -> None:
    client = make_client(rate_limit_reads=setting)
    answers = [client.get("/v1/check?claim=dam") for _ in range(5)]
    assert all(a.status_code == 200 and "RateLimit-Limit" not in a.headers for a in answers)
