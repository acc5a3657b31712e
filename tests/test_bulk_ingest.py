"""`factcheck ingest` as a bulk load: records streamed, embedded and written in chunks, reruns
finding finished articles unchanged by hash, an interrupted run (kill -9) leaving every written
article whole and a rerun adding the rest; both stores, the real model."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from service.cli import EXIT_FAILURE, EXIT_OK, main
from service.core.bulk_ingest import Source, ingest_records
from service.core.embed import Embedder
from service.core.ingest import IngestResult, Limits
from service.core.segment import segment
from service.documents.files import read_records
from service.store import Store, open_store
from tests.conftest import ROOT
from tests.private_redis import wait_until
from tests.test_cli import summary


def write_records(path: Path, count: int, start: int = 0) -> Path:
    """A .jsonl of small articles, two sentences each, every sentence unique."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(start, start + count):
            text = (
                f"The harbour ferry number {i} crossed the bay {i % 9 + 2} times on its first "
                f"day. Its skipper logged {i * 7 % 101} passengers on crossing {i}."
            )
            record = {"id": f"ferry-{i}", "title": f"Ferry {i}", "source": "Bay Desk"}
            handle.write(json.dumps({**record, "text": text}) + "\n")
    return path


@pytest.fixture
def opened(store_url: tuple[str, str]) -> Iterator[Store]:
    store = open_store(store_url[0], redis_prefix=store_url[1])
    yield store
    store.close()


def cli_env(store_url: tuple[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTCHECK_")}
    url, prefix = store_url
    return {**env, "FACTCHECK_STORE": url, "FACTCHECK_REDIS_PREFIX": prefix}


def assert_whole(store: Store) -> int:
    """Every stored article has exactly the statements a fresh segmentation of its text
    gives, each with a vector; returns how many articles there are."""
    ids = [a.id for a in store.list_articles(limit=10_000)]
    data = store.load_index_data(ids)
    for article_id in ids:
        found = store.get_article_with_statements(article_id)
        assert found is not None
        article, statements = found
        expected = segment(article.text or "")
        assert [s.text for s in statements] == [s.text for s in expected], article_id
        assert article.statement_count == len(expected)
        assert data[article_id].vectors.shape == (len(expected), 384)
    return len(ids)


def test_records_are_streamed_one_chunk_at_a_time(
    tmp_path: Path, opened: Store, embedder: Embedder
) -> None:
    """A chunk is written before the next records are read: never the whole file in memory."""
    path = write_records(tmp_path / "many.jsonl", 240)
    read = [0]
    stored_when_read: list[tuple[int, int]] = []  # (records read, results so far) per result
    results: list[IngestResult] = []

    def records() -> Iterator[Source]:
        for record in read_records(path):
            read[0] += 1
            yield Source(record.fields, record.origin)

    def done(result: IngestResult) -> None:
        results.append(result)
        stored_when_read.append((read[0], len(results)))

    ingest_records(opened, embedder, records(), Limits(), done, pytest.fail, chunk_statements=60)
    assert len(results) == 240 and {r.status for r in results} == {"created"}
    # 30 articles (60 statements) a chunk: each was written with at most one chunk read ahead.
    assert max(seen - stored for seen, stored in stored_when_read) <= 30
    assert opened.count_articles() == 240

    version = opened.version()
    again: list[IngestResult] = []
    ingest_records(opened, embedder, records(), Limits(), again.append, pytest.fail)
    assert [r.status for r in again] == ["unchanged"] * 240
    assert opened.version() == version  # nothing was written, nothing re-embedded


@pytest.mark.parametrize(
    ("lines", "statuses"),
    [
        pytest.param(  # same content, no id: one article (its id is the hash)
            [{"title": "T", "text": "A tern nested on the pier."}] * 2,
            ["created", "unchanged"],
            id="same-content-twice",
        ),
        pytest.param(  # one id, new content: the second replaces the first
            [
                {"id": "x", "title": "T", "text": "A tern nested on the pier."},
                {"id": "x", "title": "T", "text": "A gull nested on the pier."},
            ],
            ["created", "replaced"],
            id="same-id-new-content",
        ),
    ],
)
def test_one_chunk_holding_an_article_twice_counts_as_one_at_a_time(
    tmp_path: Path,
    opened: Store,
    embedder: Embedder,
    lines: list[dict[str, Any]],
    statuses: list[str],
) -> None:
    results: list[IngestResult] = []
    sources = [Source({"source": "S", **line}, f"line {i}") for i, line in enumerate(lines)]
    ingest_records(opened, embedder, sources, Limits(), results.append, pytest.fail)
    assert sorted(r.status for r in results) == sorted(statuses)
    assert opened.count_articles() == 1
    assert assert_whole(opened) == 1


def test_the_progress_bar_shows_statements_per_second_and_time_left(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    embedder: Embedder,
) -> None:
    monkeypatch.delenv("FACTCHECK_STORE", raising=False)
    path = write_records(tmp_path / "some.jsonl", 40)
    capsys.readouterr()
    code = main(["ingest", "--chunk", "20", "--store", f"sqlite:///{tmp_path}/x.db", str(path)])
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    assert summary(out)["created"] == 40 and summary(out)["statements"] == 80
    # tqdm: "n/total [elapsed<left, rate, postfix]"
    assert re.search(r"40/40 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+article/s, \d+ statements/s\]", err), err


@pytest.mark.slow  # runs and kills the command in a child process
def test_a_killed_run_leaves_whole_articles_and_a_rerun_adds_the_rest(
    tmp_path: Path, store_url: tuple[str, str], opened: Store
) -> None:
    total = 400
    path = write_records(tmp_path / "big.jsonl", total)
    command = [sys.executable, "-m", "service.cli", "ingest", "--quiet", "--chunk", "40"]
    env = cli_env(store_url)
    run = subprocess.Popen(
        [*command, str(path)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: opened.count_articles() > 0, 120, "the first chunk to be written")
    finally:
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL
    written = assert_whole(opened)
    assert 0 < written < total, "killed after the end: the test shows nothing"

    rerun = subprocess.run(
        [*command, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == EXIT_OK, rerun.stderr
    counts = summary(rerun.stdout)
    assert counts["unchanged"] == written  # found by hash, not embedded again
    assert counts["created"] == total - written
    assert counts["statements"] == 2 * (total - written)
    assert assert_whole(opened) == total


@pytest.mark.parametrize(("reply", "named"), [("NOREPLICAS", "NOREPLICAS"), ("OOM", "maxmemory")])
def test_a_redis_refusing_a_chunk_is_one_error_line_not_a_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    embedder: Embedder,
    reply: str,
    named: str,
) -> None:
    """A chunk goes down one pipeline, whose errors name the command first: the refusal
    must still be recognised as one (exit 1, "Redis refuses writes")."""
    from tests.private_redis import PrivateRedis

    server = PrivateRedis(tmp_path / "redis").start()
    try:
        admin = redis.Redis.from_url(server.url)
        if reply == "OOM":
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", "1")
        else:  # min-replicas-to-write with no replica: every write is NOREPLICAS
            admin.config_set("min-replicas-to-write", "1")
        monkeypatch.delenv("FACTCHECK_STORE", raising=False)
        monkeypatch.setenv("FACTCHECK_REDIS_PREFIX", "bulk-refused")
        path = write_records(tmp_path / "few.jsonl", 4)
        capsys.readouterr()
        code = main(["ingest", "--quiet", "--store", server.url, str(path)])
        err = capsys.readouterr().err
        admin.close()
    finally:
        server.stop()
    assert code == EXIT_FAILURE
    assert re.search(rf"^factcheck: error: Redis refuses writes: .*{named}", err, re.M), err
