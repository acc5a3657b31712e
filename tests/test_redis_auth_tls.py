"""Redis behind a password and behind TLS, each a private redis-server: the store URL carries
what the client needs (`redis://:password@host:port/db`, `rediss://...?ssl_ca_certs=PATH`), and
a wrong password, an untrusted certificate or plain TCP against a TLS port is an outage
(503 problem+json, /readyz 503), never a 500 or a hang."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.core.embed import Embedder
from tests.auth import AUTH
from tests.conftest import SpecCheckingClient
from tests.private_redis import PrivateRedis

TIMEOUT_S = 1.0
ARTICLE = {
    "id": "locked-vault",
    "title": "Vault opened",
    "source": "Desk V",
    "text": "Archivists opened the sealed municipal vault in Ghent after ninety years.",
}
CLAIM = "a sealed vault in Ghent was opened after ninety years"
PASSWORD = "p@ss:w/rd 100%"  # every character a URL needs escaped


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    d = tmp_path_factory.mktemp("tls")
    ca, ca_key = d / "ca.crt", d / "ca.key"
    cert, key, csr, ext = d / "server.crt", d / "server.key", d / "server.csr", d / "san.ext"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA",
            "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", str(key), "-out", str(csr))  # fmt: skip
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return {"ca": ca, "cert": cert, "key": key}


def make_app(url: str) -> Iterator[Flask]:
    prefix = f"fcsec-{uuid.uuid4().hex[:8]}"
    app = create_app({"store": url, "redis_prefix": prefix, "redis_timeout_s": TIMEOUT_S})
    app.test_client_class = SpecCheckingClient
    yield app
    app.extensions["factcheck"].store.close()


def assert_works(client: FlaskClient) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/articles", json=ARTICLE, headers=AUTH).status_code == 201
    body = client.get("/v1/check", query_string={"claim": CLAIM}).get_json()
    assert [e["article"]["id"] for e in body["evidence"]] == ["locked-vault"]
    assert client.delete("/v1/articles/locked-vault", headers=AUTH).status_code == 204


def assert_unavailable(client: FlaskClient) -> None:
    for method, path, kwargs in [
        ("GET", "/readyz", {}),
        ("GET", "/v1/check", {"query_string": {"claim": CLAIM}}),
        ("POST", "/v1/articles", {"json": ARTICLE, "headers": AUTH}),
    ]:
        started = time.monotonic()
        response = client.open(path, method=method, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 503, (path, response.status_code, response.get_data())
        assert response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"]
        assert time.monotonic() - started < 2 * TIMEOUT_S + 1.5


# --- password -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def password_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis-pw"), password=PASSWORD).start()
    yield server
    server.stop()


def test_password_in_the_url_works(password_redis: PrivateRedis, embedder: Embedder) -> None:
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{password_redis.port}/0"
    for app in make_app(url):
        assert_works(app.test_client())


@pytest.mark.parametrize("auth", ["", ":wrong@", "default:wrong@"], ids=["none", "wrong", "user"])
def test_missing_or_wrong_password_is_an_outage(
    password_redis: PrivateRedis, embedder: Embedder, auth: str
) -> None:
    for app in make_app(f"redis://{auth}127.0.0.1:{password_redis.port}/0"):
        assert_unavailable(app.test_client())


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_redis(
    tmp_path_factory: pytest.TempPathFactory, certs: dict[str, Path]
) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis-tls"), tls=certs).start()
    yield server
    server.stop()


def test_rediss_url_with_the_ca_works(tls_redis: PrivateRedis, embedder: Embedder) -> None:
    for app in make_app(tls_redis.url):  # rediss://127.0.0.1:PORT/0?ssl_ca_certs=CA
        assert_works(app.test_client())


def test_rediss_with_password_works(
    tmp_path: Path, certs: dict[str, Path], embedder: Embedder
) -> None:
    server = PrivateRedis(tmp_path / "redis", tls=certs, password=PASSWORD).start()
    try:
        for app in make_app(server.url):
            assert_works(app.test_client())
    finally:
        server.stop()


def test_untrusted_certificate_is_an_outage(tls_redis: PrivateRedis, embedder: Embedder) -> None:
    # No ssl_ca_certs: the system's CAs do not trust our throwaway CA.
    for app in make_app(f"rediss://127.0.0.1:{tls_redis.port}/0"):
        assert_unavailable(app.test_client())


def test_plain_tcp_to_a_tls_port_is_an_outage(tls_redis: PrivateRedis, embedder: Embedder) -> None:
    for app in make_app(f"redis://127.0.0.1:{tls_redis.port}/0"):
        assert_unavailable(app.test_client())
