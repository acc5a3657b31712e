"""Shared fixtures: the real model once per session, a store per backend, the app and client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service import create_app
from service.core.embed import Embedder, get_embedder
from service.store import Store, open_store
from tests.spec import check_response

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACTCHECK_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
SAMPLE_CORPUS = ROOT / "examples" / "sample-corpus.jsonl"
REDIS_URL = os.environ.get("FACTCHECK_TEST_REDIS", "redis://127.0.0.1:6379/15")

requires_seeds = pytest.mark.skipif(
    not (SEEDS / "metadata.jsonl").exists(),
    reason=f"the shared seed articles are not at {SEEDS} (only CI and developers have them)",
)


def pytest_configure(config: pytest.Config) -> None:
    import tests.live

    # `make test-fast` (-m "not slow"): a live server or browser started there is a test that
    # lacks its `slow` mark, and fails saying so.
    tests.live.FAST_RUN = "not slow" in (config.getoption("markexpr") or "")


# Tests using these (module or session) fixtures are slow, whatever file they are in.
SLOW_FIXTURES = {
    "sample_live": "a live gunicorn",
    "sample_eval": "a whole `factcheck eval` run",
    "sample_report": "a whole evaluation run",
    "torch_embedder": "the torch model (torch imported, weights loaded)",
    "dense": "the sentence-transformers baseline on torch",
}


# Files whose tests measure time or kill processes (marked `serial`: scripts/test.sh runs them
# alone, before the parallel workers); beside other workers they failed on the load.
SERIAL_FILES = {
    "test_wire.py",
    "test_costs.py",
    "test_idempotency_lease.py",
    "test_serving.py",
    "test_faults.py",  # its outage bound (3.5 s) failed at 3.51 s beside 4 workers
}


# Files whose tests drive whole processes (the CLI, gunicorn, redis-server, a wheel build)
# or storms of them: `make test-fast` leaves them, and the serial files, to `make test`.
SLOW_FILES = {
    "test_cli.py",
    "test_cli_polish.py",
    "test_bulk_ingest.py",
    "test_compose.py",
    "test_loadtest.py",
    "test_concurrency.py",
    "test_replicas.py",
    "test_readonly.py",
    "test_redis_auth_tls.py",
    "test_guessing.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
        if item.path.name in SERIAL_FILES | SLOW_FILES:
            item.add_marker(pytest.mark.slow)
        if SLOW_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    # Files with slow tests first (a file's own order kept): on parallel workers the long
    # files start early instead of being the last ones to finish.
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


def redis_available(url: str = REDIS_URL) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def delete_prefix(url: str, prefix: str) -> None:
    """Remove our own keys only: the shared Redis on 6379 is never flushed."""
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2 model, loaded once for the whole run."""
    return get_embedder()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(store URL, redis key prefix) for each backend; every test gets a fresh, empty store."""
    prefix = f"fctest-{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'factcheck.db'}", prefix
        return
    if not redis_available():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: start redis-server (see .ci/run)")
    yield REDIS_URL, prefix
    delete_prefix(REDIS_URL, prefix)


@pytest.fixture
def store(store_url: tuple[str, str]) -> Iterator[Store]:
    url, prefix = store_url
    opened = open_store(url, redis_prefix=prefix)
    yield opened
    opened.close()


class SpecCheckingClient(FlaskClient):
    """A test client that checks every response against openapi.yaml."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        request = response.request
        body = response.get_json(silent=True) if response.is_json else response.get_data()
        if response.mimetype == "application/problem+json":
            body = response.get_json(force=True)
        check_response(
            request.method, request.path, response.status_code, response.content_type or "", body
        )
        return response


@pytest.fixture
def app(store_url: tuple[str, str], embedder: Embedder) -> Iterator[Flask]:
    """The real app on a fresh store of each backend (the model is the session's)."""
    url, prefix = store_url
    application = create_app({"store": url, "redis_prefix": prefix})
    application.test_client_class = SpecCheckingClient
    yield application
    application.extensions["factcheck"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_app(store_url: tuple[str, str], embedder: Embedder) -> Iterator[Callable[..., Flask]]:
    """Apps with extra settings, spec-checking clients, on the test's fresh store (each
    backend); their stores are closed afterwards."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        url, prefix = store_url
        application = create_app({"store": url, "redis_prefix": prefix, **settings})
        application.test_client_class = SpecCheckingClient
        apps.append(application)
        return application

    yield make
    for application in apps:
        application.extensions["factcheck"].store.close()


@pytest.fixture
def make_client(make_app: Callable[..., Flask]) -> Callable[..., FlaskClient]:
    """A spec-checking client of an app with extra settings, on a fresh store per backend."""
    return lambda **settings: make_app(**settings).test_client()


@pytest.fixture(scope="session")
def sample_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real gunicorn server (2 workers) on the sample corpus, shared by the end-to-end
    tests of the pages, the docs and the metrics (tests that only add their own articles)."""
    from service.cli import main
    from tests.live import LiveServer

    store = f"sqlite:///{tmp_path_factory.mktemp('live-sample') / 'factcheck.db'}"
    with pytest.MonkeyPatch.context() as patch:  # --store sets FACTCHECK_STORE
        patch.delenv("FACTCHECK_STORE", raising=False)
        assert main(["ingest", "--quiet", "--store", store, str(SAMPLE_CORPUS)]) == 0
    with LiveServer({"FACTCHECK_STORE": store}, workers=2) as server:
        yield server
