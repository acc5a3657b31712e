"""The README's curl examples, run as written against a live server with the sample corpus."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.cli import main as cli
from service.config import Config
from tests.conftest import ROOT, SAMPLE_CORPUS
from tests.live import LiveServer

pytestmark = pytest.mark.slow
README = ROOT / "README.md"


def curl_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- curl-examples:start -->")[1].split("<!-- curl-examples:end -->")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("curl ")]


def _json(output: str) -> Any:
    return json.loads(output)


def _check_jwst(out: str) -> None:
    body = _json(out)
    assert 1 <= len(body["evidence"]) <= 3
    assert body["evidence"][0]["article"]["id"] == "jwst-launch-2021"
    assert "Ariane 5" in body["evidence"][0]["text"]


def _check_smallpox(out: str) -> None:
    body = _json(out)
    assert 1 <= len(body["evidence"]) <= 2
    assert body["evidence"][0]["article"]["id"] == "smallpox-eradication-1980"


def _no_evidence(out: str) -> None:
    body = _json(out)
    assert body["evidence"] == []
    assert body["reason"] == "no_statement_above_threshold"
    assert body["best_probability"] <= body["evidence_probability"] < body["min_probability"]
    assert body["summary"].startswith("No passage in the index is likely evidence")


def _filtered(out: str) -> None:
    body = _json(out)
    assert body["evidence"]
    assert {e["article"]["source"] for e in body["evidence"]} <= {
        "Sample World Desk",
        "Sample Climate Desk",
    }
    best = body["evidence"][0]
    assert "CFC" in best["text"] or "chlorofluorocarbon" in best["text"].lower()
    # The Paris Agreement (2015) postdates a 1990 claim; the Montreal Protocol (1987) does not.
    flags = {e["article"]["id"]: e["after_claim_date"] for e in body["evidence"]}
    assert flags.get("montreal-protocol-1987") is False
    assert all(flag for article, flag in flags.items() if article == "paris-agreement-2015")


def _batch(out: str) -> None:
    euro, chernobyl = (r["evidence"][0] for r in _json(out)["results"])
    assert euro["article"]["id"] == "euro-cash-launch-2002"
    # Two sample articles date the Chernobyl explosion; either passage supports the claim.
    assert "Chernobyl" in chernobyl["text"] and "1986" in chernobyl["text"]


def _created(out: str) -> None:
    body = _json(out)
    assert body["id"] == "perseverance-landing-2021"
    assert body["status"] == "created"
    assert body["statements"] == 2


def _batch_created(out: str) -> None:
    hubble, untitled = _json(out)["results"]
    assert hubble["status"] == 201
    assert hubble["article"]["id"] == "hubble-launch-1990"
    assert hubble["location"] == "/v1/articles/hubble-launch-1990"
    assert untitled["status"] == 422
    assert "title" in untitled["problem"]["errors"]


def _detail(out: str) -> None:
    body = _json(out)
    assert body["text"].startswith("NASA landed the Perseverance rover")
    for s in body["statement_list"]:
        assert body["text"][s["start"] : s["end"]] == s["text"]


def _page(out: str) -> None:
    body = _json(out)
    assert len(body["articles"]) == 2
    assert body["next_cursor"]


def _deleted(out: str) -> None:
    assert out.strip() == "204"


def _problem(out: str) -> None:
    body = _json(out)
    assert body["status"] == 422
    assert "claim" in body["errors"]


def _health(out: str) -> None:
    assert _json(out) == {"status": "ok"}


def _ready(out: str) -> None:
    assert _json(out)["status"] == "ready"


def _spec(out: str) -> None:
    assert yaml.safe_load(out)["openapi"].startswith("3.1")


def _metrics(out: str) -> None:
    assert "# TYPE factcheck_http_requests_total counter" in out
    assert 'factcheck_http_requests_total{method="GET",route="/healthz",status="200"}' in out


EXPECTED: list[Callable[[str], None]] = [
    _check_jwst, _check_smallpox, _no_evidence, _filtered, _batch, _created, _detail, _page,
    _deleted, _batch_created, _problem, _health, _ready, _spec, _metrics,
]  # fmt: skip


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    store = f"sqlite:///{tmp_path_factory.mktemp('readme') / 'factcheck.db'}"
    assert cli(["ingest", "--quiet", "--store", store, str(SAMPLE_CORPUS)]) == 0
    with LiveServer({"FACTCHECK_STORE": store}, workers=2) as server:
        yield server


def test_readme_has_the_examples_this_test_knows() -> None:
    assert len(curl_examples()) == len(EXPECTED)


@pytest.mark.parametrize("number", range(len(EXPECTED)))
def test_readme_curl_example(sample_server: LiveServer, number: int) -> None:
    command = curl_examples()[number].replace("localhost:8000", f"127.0.0.1:{sample_server.port}")
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    EXPECTED[number](result.stdout)


def test_readme_top_shows_the_two_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```sh\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_readme_documents_every_setting() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in Config.env_names() if f"`{name}`" not in text]
    assert missing == []


def test_sample_corpus_is_the_projects_own(tmp_path: Path) -> None:
    records = [json.loads(line) for line in SAMPLE_CORPUS.read_text().splitlines() if line]
    assert len(records) >= 12
    assert len({r["source"] for r in records}) >= 4
    assert all(r["published_at"] and r["title"] and r["text"] for r in records)


def test_long_non_ascii_get_claim_is_answered_not_refused(sample_server: LiveServer) -> None:
    """2000 characters is the claim limit; percent-encoded they far exceed gunicorn's default
    8 KiB request line, whose 414 page would be HTML."""
    import requests

    claim = "é" * 2000
    response = requests.get(f"{sample_server.url}/v1/check", params={"claim": claim}, timeout=60)
    assert response.status_code == 200
    assert response.json()["claim"] == claim
