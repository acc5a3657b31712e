"""One set of rules for an article, whichever way it comes in: `POST /v1/articles` and
`factcheck ingest` validate through the same function (service.core.ingest.ingest_record), so
a record one refuses the other refuses too, for the same reason under `text`: longer than
FACTCHECK_MAX_ARTICLE_CHARS, more statements than FACTCHECK_MAX_STATEMENTS_PER_ARTICLE, or no
statement at all once segmented and cleaned of boilerplate (an article no check could find)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service import create_app
from service.cli import EXIT_FAILURE, EXIT_OK, main
from service.core.embed import Embedder
from service.store import open_store
from tests.conftest import SpecCheckingClient

SENTENCES = " ".join(
    f"The ferry crossed the harbour {n} times on its {n + 1}th day of service." for n in range(5)
)
# (case, settings, text, the reason the refusal must name, in errors["text"])
REFUSED = [
    ("too-long", {"max_article_chars": 200}, SENTENCES, "Longer than 200 characters"),
    ("too-many-statements", {"max_statements_per_article": 3}, SENTENCES, "the limit is 3"),
    # Counted as sent: repaired, this mis-decoded text ("\xe2\x80\xa6" is UTF-8's "\u2026" read
    # as Latin-1) is exactly at the limit; the length is checked before any repair runs.
    (
        "too-long-as-sent",
        {"max_article_chars": len(SENTENCES)},
        SENTENCES.replace(".", "\xe2\x80\xa6"),
        f"Longer than {len(SENTENCES)} characters",
    ),
    ("only-punctuation", {}, "... !!! ??? --- ;;; …", "No statement left"),
    (
        "only-boilerplate",
        {},
        "Share this article\n\nAll rights reserved.\n\nClick here to read more.\n\n"
        "Follow us on Twitter.",
        "No statement left",
    ),
]


def record(text: str) -> dict[str, Any]:
    return {"id": "harbour-ferry", "title": "Harbour ferry", "source": "Coast Desk", "text": text}


def post(store_url: tuple[str, str], settings: dict[str, Any], body: dict[str, Any]) -> Any:
    url, prefix = store_url
    app = create_app({"store": url, "redis_prefix": prefix, **settings})
    app.test_client_class = SpecCheckingClient  # every answer checked against openapi.yaml
    try:
        return app.test_client().post("/v1/articles", json=body)
    finally:
        app.extensions["factcheck"].store.close()


def ingest(
    store_url: tuple[str, str],
    settings: dict[str, Any],
    body: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    """`factcheck ingest` of a one-line .jsonl, the same settings as FACTCHECK_* variables."""
    url, prefix = store_url
    monkeypatch.delenv("FACTCHECK_STORE", raising=False)
    monkeypatch.setenv("FACTCHECK_REDIS_PREFIX", prefix)
    for name, value in settings.items():
        monkeypatch.setenv(f"FACTCHECK_{name.upper()}", str(value))
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(body) + "\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["ingest", "--quiet", "--store", url, str(path)])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize(
    ("settings", "text", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_the_api_and_the_cli_refuse_the_same_record_for_the_same_reason(
    store_url: tuple[str, str],
    embedder: Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, Any],
    text: str,
    reason: str,
) -> None:
    body = record(text)
    answer = post(store_url, settings, body)
    assert answer.status_code == 422, answer.get_json()
    problem = answer.get_json()
    assert any(reason in message for message in problem["errors"]["text"]), problem

    code, output = ingest(store_url, settings, body, tmp_path, monkeypatch, capsys)
    assert code == EXIT_FAILURE, output
    assert "0 created, 0 replaced, 0 unchanged, 1 rejected" in output
    assert reason in output  # the CLI names the same reason

    store = open_store(store_url[0], redis_prefix=store_url[1])
    try:
        assert store.count_articles() == 0  # neither way let it in
    finally:
        store.close()


def test_a_record_within_every_limit_goes_in_both_ways(
    store_url: tuple[str, str],
    embedder: Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = {"max_article_chars": len(SENTENCES), "max_statements_per_article": 5}
    code, output = ingest(store_url, settings, record(SENTENCES), tmp_path, monkeypatch, capsys)
    assert code == EXIT_OK and "1 created" in output, output
    answer = post(store_url, settings, record(SENTENCES))
    assert answer.status_code == 200 and answer.get_json()["status"] == "unchanged"
    assert answer.get_json()["statements"] == 5
