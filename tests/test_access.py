"""Access hardening: Retry-After only where a retry is asked for, wrong-key guessing
throttled per client, and a keyless server answering only for its own host names."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from service import create_app
from service.core.embed import Embedder
from tests.conftest import SpecCheckingClient
from tests.live import LiveServer, free_port

KEY = "k-access-5e1f"
ARTICLE = {"id": "weir", "title": "Weir", "source": "Desk", "text": "The weir was rebuilt in 1974."}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/check?claim=weir", None),
        ("POST", "/v1/check", {"claim": "weir"}),
        ("POST", "/v1/articles", ARTICLE),
        ("GET", "/v1/articles", None),
        ("GET", "/healthz", None),
    ],
)
def test_successful_answers_carry_no_retry_after(
    make_client: Callable[..., FlaskClient], method: str, path: str, body: Any
) -> None:
    client = make_client(rate_limit_reads="100/minute", rate_limit_writes="100/minute")
    response = client.open(path, method=method, json=body)
    assert response.status_code < 300
    assert "Retry-After" not in response.headers
    assert response.headers.get("RateLimit-Limit") in (None, "100")


def test_a_rate_limit_refusal_still_says_when_to_retry(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(rate_limit_reads="1/minute")
    assert "Retry-After" not in client.get("/v1/check?claim=weir").headers
    refused = client.get("/v1/check?claim=weir")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 61


def test_a_running_idempotent_request_keeps_its_retry_after(
    make_client: Callable[..., FlaskClient],
) -> None:
    """While a request with an Idempotency-Key runs, a retry gets 409 with the app's 1 s."""
    client = make_client(rate_limit_writes="100/minute")
    log = client.application.extensions["factcheck"].idempotency
    fingerprint = hashlib.sha256(json.dumps(ARTICLE, sort_keys=True).encode()).hexdigest()
    # The first request holds the key (service/api/articles.py scopes it by the caller).
    assert log.reserve("anonymous:weir-1", fingerprint, owner="first-request") is None
    retry = client.post("/v1/articles", json=ARTICLE, headers={"Idempotency-Key": "weir-1"})
    assert retry.status_code == 409
    assert retry.headers.getlist("Retry-After") == ["1"]


@pytest.mark.parametrize("limit", ["200/second", "100/minute"])
def test_the_apps_own_retry_after_wins_on_503(embedder: Embedder, limit: str) -> None:
    """A store nobody listens on: the 503 says retry in 5 s (errors.RETRY_AFTER_S), not
    whatever the rate limit window would say."""
    app = create_app(
        {
            "store": f"redis://127.0.0.1:{free_port()}/0",
            "redis_timeout_s": 0.5,
            "rate_limit_reads": limit,
            "rate_limit_writes": limit,
        }
    )
    app.test_client_class = SpecCheckingClient
    client = app.test_client()
    for response in (
        client.get("/v1/check?claim=weir"),
        client.post("/v1/articles", json=ARTICLE),
        client.get("/readyz"),
    ):
        assert response.status_code == 503
        assert response.headers.getlist("Retry-After") == ["5"]


REBINDING = ["rebind.attacker.example", "rebind.attacker.example:8000", "127.0.0.1.nip.io", "x y"]


@pytest.mark.parametrize("host", REBINDING)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/articles", ARTICLE),
        ("DELETE", "/v1/articles/weir", None),
        ("GET", "/v1/articles/weir", None),
        ("POST", "/v1/check", {"claim": "weir"}),
        ("GET", "/", None),
    ],
)
def test_a_keyless_server_refuses_other_hosts(
    make_client: Callable[..., FlaskClient], host: str, method: str, path: str, body: Any
) -> None:
    """DNS rebinding: another site's page reaching a keyless server names that site's host."""
    client = make_client()
    assert client.post("/v1/articles", json=ARTICLE).status_code == 201
    refused = client.open(path, method=method, json=body, headers={"Host": host})
    assert refused.status_code == 421
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"] == "urn:factcheck:problem:misdirected"
    assert client.get("/v1/articles/weir").get_json()["title"] == "Weir"  # nothing changed


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "127.0.0.1:65535", "[::1]", "[::1]:80"]
)
def test_a_keyless_server_answers_its_loopback_names(
    make_client: Callable[..., FlaskClient], host: str
) -> None:
    client = make_client()
    created = client.post("/v1/articles", json=ARTICLE, headers={"Host": host})
    assert created.status_code == 201
    assert client.delete("/v1/articles/weir", headers={"Host": host}).status_code == 204


def test_allowed_hosts_add_names_and_with_keys_restrict_them(
    make_client: Callable[..., FlaskClient],
) -> None:
    listed = make_client(allowed_hosts="factcheck.internal, .example.org")
    for host in ("factcheck.internal:8000", "api.example.org", "localhost"):
        assert listed.get("/healthz", headers={"Host": host}).status_code == 200, host
    assert listed.get("/healthz", headers={"Host": "example.org.evil"}).status_code == 421
    keyed = make_client(api_keys=KEY)
    assert keyed.get("/healthz", headers={"Host": "anything.example"}).status_code == 200
    both = make_client(api_keys=KEY, allowed_hosts="factcheck.internal")
    assert both.get("/healthz", headers={"Host": "factcheck.internal"}).status_code == 200
    assert both.get("/healthz", headers={"Host": "localhost"}).status_code == 421


def test_a_live_keyless_server_refuses_a_rebinding_host(sample_live: Any) -> None:
    """Over a real socket, against the keyless `factcheck serve` of the sample corpus."""
    url = f"{sample_live.url}/v1/articles"
    rebound = {"Host": f"rebind.attacker.example:{sample_live.port}"}
    refused = requests.post(url, json={**ARTICLE, "id": "rebound"}, headers=rebound, timeout=60)
    assert refused.status_code == 421
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert requests.get(f"{url}/rebound", timeout=60).status_code == 404
    assert requests.delete(f"{url}/rebound", headers=rebound, timeout=60).status_code == 421


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/v1/articles", ARTICLE), ("DELETE", "/v1/articles/weir", None)],
)
def test_wrong_key_attempts_are_throttled_per_address(
    make_client: Callable[..., FlaskClient], method: str, path: str, body: Any
) -> None:
    """The issue's case: writes at 3/minute, 30 wrong-key attempts all got 401, none 429."""
    client = make_client(
        api_keys=KEY, rate_limit_writes="3/minute", rate_limit_auth_failures="5/minute"
    )
    statuses = [
        client.open(path, method=method, json=body, headers=bearer(f"guess-{n}")).status_code
        for n in range(30)
    ]
    assert statuses == [401] * 5 + [429] * 25
    refused = client.open(path, method=method, json=body, headers=bearer("guess-x"))
    assert refused.mimetype == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # While the address is throttled even the right key is refused: no answer tells it apart.
    assert client.post("/v1/articles", json=ARTICLE, headers=bearer(KEY)).status_code == 429
    # Another address has its own budget, and a right key is never counted as a failure.
    other = {"REMOTE_ADDR": "127.0.0.2"}
    for _ in range(8):
        ok = client.get("/v1/articles", headers=bearer(KEY), environ_base=other)
        assert ok.status_code == 200
    wrong = client.post("/v1/articles", json=ARTICLE, headers=bearer("no"), environ_base=other)
    assert wrong.status_code == 401


def test_probes_ignore_wrong_keys_and_the_budget_can_be_off(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(api_keys=KEY, rate_limit_auth_failures="2/minute")
    assert all(client.get("/healthz", headers=bearer("x")).status_code == 200 for _ in range(5))
    assert client.post("/v1/articles", json=ARTICLE, headers=bearer("x")).status_code == 401
    off = make_client(api_keys=KEY, rate_limit_auth_failures="off")
    assert {
        off.post("/v1/articles", json=ARTICLE, headers=bearer(f"g{n}")).status_code
        for n in range(20)
    } == {401}


@pytest.mark.slow
def test_a_live_server_throttles_key_guessing(tmp_path: Any) -> None:
    """Over a real socket: wrong keys from one address end in 429 with Retry-After."""
    env = {
        "FACTCHECK_STORE": f"sqlite:///{tmp_path / 'guess.db'}",
        "FACTCHECK_API_KEYS": KEY,
        "FACTCHECK_RATE_LIMIT_WRITES": "3/minute",
        "FACTCHECK_RATE_LIMIT_AUTH_FAILURES": "4/minute",
    }
    with LiveServer(env, workers=1) as server:
        url = f"{server.url}/v1/articles"
        answers = [
            requests.post(url, json=ARTICLE, headers=bearer(f"guess-{n}"), timeout=60)
            for n in range(12)
        ]
    assert [a.status_code for a in answers] == [401] * 4 + [429] * 8
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert answers[-1].headers["Content-Type"].startswith("application/problem+json")
