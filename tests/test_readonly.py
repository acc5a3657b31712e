"""A store that is up but refuses writes: Redis out of memory or a read-only replica, an
SQLite file that cannot be written. /readyz says so, writes answer 503 saying so, and the
commands print one line instead of a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service import create_app
from service.core.embed import Embedder
from tests.conftest import ROOT, SAMPLE_CORPUS, SpecCheckingClient
from tests.live import free_port
from tests.private_redis import PrivateRedis

ARTICLE = {"id": "lock", "title": "Lock", "source": "Desk", "text": "The canal lock reopened."}
REFUSING = "refusing writes"


def client_of(store: str, **settings: Any) -> FlaskClient:
    app = create_app({"store": store, "rate_limit_reads": "off", "rate_limit_writes": "off"})
    app.test_client_class = SpecCheckingClient
    return app.test_client()


def assert_refusing(client: FlaskClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["errors"] == {"store": [REFUSING]}
    for write in (
        client.post("/v1/articles", json=ARTICLE),
        client.delete("/v1/articles/first"),
    ):
        assert write.status_code == 503
        assert write.mimetype == "application/problem+json"
        assert REFUSING in write.get_json()["detail"]
        assert "unreachable" not in write.get_json()["detail"]
        assert write.headers["Retry-After"] == "5"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("refuse", "allow", "reads"),
    [
        # Out of memory, Redis refuses every command queued in MULTI, reads included.
        (["CONFIG", "SET", "maxmemory", "1"], ["CONFIG", "SET", "maxmemory", "0"], 503),
        (["REPLICAOF", "127.0.0.1", str(free_port())], ["REPLICAOF", "NO", "ONE"], 200),
        # min-replicas-to-write with no replica: NOREPLICAS, which redis-py has no class for.
        (
            ["CONFIG", "SET", "min-replicas-to-write", "1"],
            ["CONFIG", "SET", "min-replicas-to-write", "0"],
            200,
        ),
    ],
    ids=["out-of-memory", "read-only-replica", "no-replicas"],
)
def test_redis_refusing_writes_is_not_called_unreachable(
    redis_server: PrivateRedis,
    embedder: Embedder,
    refuse: list[str],
    allow: list[str],
    reads: int,
) -> None:
    client = client_of(redis_server.url)
    first = {**ARTICLE, "id": "first", "text": "The canal lock was built in 1820."}
    assert client.post("/v1/articles", json=first).status_code == 201
    assert client.get("/readyz").status_code == 200
    admin = redis_server.client()
    admin.execute_command(*refuse)
    assert_refusing(client)
    assert client.get("/v1/articles/first").status_code == reads
    admin.execute_command(*allow)
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/articles", json=ARTICLE).status_code == 201


def test_a_redis_user_without_write_commands_is_refusing_writes(
    redis_server: PrivateRedis, embedder: Embedder
) -> None:
    """An ACL user with every command but the writes: NOPERM (plain, or inside a script)."""
    admin = redis_server.client()
    admin.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "~*", "&*", "+@all", "-@write")
    admin.close()
    first = {**ARTICLE, "id": "first", "text": "The canal lock was built in 1820."}
    assert client_of(redis_server.url).post("/v1/articles", json=first).status_code == 201
    client = client_of(redis_server.url.replace("redis://", "redis://reader:pw@"))
    assert_refusing(client)
    assert client.get("/v1/articles/first").status_code == 200  # reads still work
    idempotent = {"Idempotency-Key": "k-1"}
    refused = client.post("/v1/articles", json=ARTICLE, headers=idempotent)
    assert refused.status_code == 503 and REFUSING in refused.get_json()["detail"]


def chattr(flag: str, *paths: Path) -> None:
    """Make files immutable (+i) or not (-i): even root cannot write an immutable file, so
    this reproduces a read-only store when the tests run as root, where chmod would not."""
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr {flag} is not possible here: {done.stderr.strip()}")


@pytest.fixture
def frozen(tmp_path: Path) -> Iterator[Any]:
    """freeze(folder): make every file in the folder, and the folder unless files_only,
    immutable; undone afterwards."""
    frozen_paths: list[Path] = []

    def freeze(folder: Path, files_only: bool = False) -> None:
        paths = [*sorted(folder.iterdir()), *([] if files_only else [folder])]
        chattr("+i", *paths)
        frozen_paths.extend(paths)

    yield freeze
    if frozen_paths:
        subprocess.run(["chattr", "-i", *map(str, frozen_paths)], check=False)


def test_a_read_only_sqlite_file_refuses_writes_with_503(
    tmp_path: Path, embedder: Embedder, frozen: Any
) -> None:
    folder = tmp_path / "db"
    client = client_of(f"sqlite:///{folder / 'factcheck.db'}")
    first = {**ARTICLE, "id": "first", "text": "The canal lock was built in 1820."}
    assert client.post("/v1/articles", json=first).status_code == 201
    assert client.get("/readyz").status_code == 200
    frozen(folder)
    assert_refusing(client)
    assert client.get("/v1/articles/first").status_code == 200  # reads still work


@pytest.fixture(scope="module")
def sample_store_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus ingested once by the command, copied by each test that freezes it."""
    folder = tmp_path_factory.mktemp("readonly-sample") / "store"
    store = f"sqlite:///{folder / 'factcheck.db'}"
    done = run_cli("ingest", "--quiet", "--store", store, str(SAMPLE_CORPUS))
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(params=["file", "file-and-folder"])
def frozen_store(
    request: pytest.FixtureRequest, tmp_path: Path, frozen: Any, sample_store_folder: Path
) -> str:
    """An SQLite store with the sample corpus that nobody, root included, can write: the
    file alone (SQLite: "attempt to write a readonly database") or its folder too ("unable
    to open database file": no WAL file can be made)."""
    folder = tmp_path / "frozen"
    shutil.copytree(sample_store_folder, folder)  # the command has exited: the files are whole
    frozen(folder, files_only=request.param == "file")
    return f"sqlite:///{folder / 'factcheck.db'}"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow  # runs the command in a child process
@pytest.mark.parametrize(
    "command",
    [
        ["ingest", "--quiet", str(SAMPLE_CORPUS)],
        ["serve", "--bind", "127.0.0.1:{port}", "--workers", "1"],
    ],
    ids=["ingest", "serve"],
)
def test_commands_on_a_read_only_sqlite_file_say_so_in_one_line(
    frozen_store: str, command: list[str]
) -> None:
    args = [part.format(port=free_port()) for part in command]
    done = run_cli(*args, "--store", frozen_store)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines[:10]
    assert lines[0].startswith("factcheck: error: ")
    assert "read-only" in lines[0]


@pytest.mark.slow  # runs the command in a child process
def test_check_only_reads_so_it_answers_from_a_read_only_sqlite_file(frozen_store: str) -> None:
    done = run_cli("check", "The euro became cash in 2002", "--json", "--store", frozen_store)
    assert done.returncode == 0, done.stderr[-2000:]
    evidence = json.loads(done.stdout)["evidence"]
    assert evidence and "euro" in evidence[0]["text"].lower()


def test_a_read_only_main_file_refuses_writes_though_its_wal_could_take_them(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The WAL (and its folder) writable, the main file not: commits would land in the WAL
    and no checkpoint could ever move them in. Readiness and writes say the same: refusing."""
    db = tmp_path / "db" / "factcheck.db"
    client = client_of(f"sqlite:///{db}")
    first = {**ARTICLE, "id": "first", "text": "The canal lock was built in 1820."}
    assert client.post("/v1/articles", json=first).status_code == 201
    assert (tmp_path / "db" / "factcheck.db-wal").exists()  # held open by the app
    chattr("+i", db)
    try:
        assert_refusing(client)
        assert client.get("/v1/articles/first").status_code == 200
    finally:
        chattr("-i", db)


@pytest.mark.slow  # runs the command in a child process
def test_ingest_into_redis_without_enough_replicas_says_so_in_one_line(
    redis_server: PrivateRedis,
) -> None:
    admin = redis_server.client()
    admin.config_set("min-replicas-to-write", 1)
    admin.close()
    done = run_cli("ingest", "--quiet", "--store", redis_server.url, str(SAMPLE_CORPUS))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, lines[:10]
    assert lines[0].startswith("factcheck: error: Redis refuses writes: NOREPLICAS")
