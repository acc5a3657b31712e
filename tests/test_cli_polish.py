"""`factcheck` as people meet it: the passage highlighted in `check`'s table, help that says
what each command takes and how it exits, `--version`, and bulk ingest (.jsonl with bad
lines, saved web pages) that reports every rejection and goes on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import EXIT_FAILURE, EXIT_OK, main
from service.core.embed import Embedder
from service.store import open_store
from tests.conftest import ROOT, SAMPLE_CORPUS

PAGE = ROOT / "tests" / "pages" / "tidal-barrage.html"
JWST = "The James Webb telescope launched on an Ariane 5 rocket"


@pytest.fixture(autouse=True)
def own_environment(monkeypatch: pytest.MonkeyPatch, embedder: Embedder) -> None:
    """`--store` sets FACTCHECK_STORE in the process; the model is the session's."""
    monkeypatch.delenv("FACTCHECK_STORE", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> str:
    store = f"sqlite:///{tmp_path_factory.mktemp('polish') / 'x.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("FACTCHECK_STORE", raising=False)
        assert main(["ingest", "--quiet", "--store", store, str(SAMPLE_CORPUS)]) == EXIT_OK
    return store


def test_check_highlights_the_passage_inside_its_context(
    capsys: pytest.CaptureFixture[str], sample_store: str
) -> None:
    code, out, _ = run(capsys, "check", "--store", sample_store, "--top-k", "2", JWST)
    _, api, _ = run(capsys, "check", "--store", sample_store, "--top-k", "2", "--json", JWST)
    first = json.loads(api)["evidence"][0]
    assert code == EXIT_OK
    # Not a terminal: the passage is marked »…« inside its context, wrapped and indented.
    block = out.split("\n1. ", 1)[1].split("\n2. ", 1)[0]
    marked = " ".join(line.strip() for line in block.splitlines()[2:])
    passage = " ".join(first["text"].split())
    assert f"»{passage}«" in marked
    assert first["article"]["url"] in block
    assert "1 independent source" in block or "independent sources" in block
    assert all(len(line) <= 100 for line in block.splitlines()[2:])  # the context is wrapped
    assert "\x1b[" not in out


def test_check_colours_the_passage_on_request(
    capsys: pytest.CaptureFixture[str], sample_store: str
) -> None:
    code, out, _ = run(capsys, "check", "--store", sample_store, "--color", "always", JWST)
    assert code == EXIT_OK
    assert "\x1b[1;30;43m" in out and "\x1b[0m" in out and "»" not in out
    # Every line that opens the highlight closes it, so no colour leaks into the next line.
    for line in out.splitlines():
        assert line.count("\x1b[1;30;43m") <= line.count("\x1b[0m")


def test_no_color_turns_colour_off_even_on_a_terminal(
    capsys: pytest.CaptureFixture[str], sample_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.cli.report import use_colour

    class Terminal:
        def isatty(self) -> bool:
            return True

    assert use_colour("auto", Terminal()) is True  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour("auto", Terminal()) is False  # type: ignore[arg-type]
    assert use_colour("always", Terminal()) is True  # type: ignore[arg-type]


@pytest.mark.parametrize("command", ["serve", "ingest", "check", "eval"])
def test_every_command_help_has_examples_and_exit_codes(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == EXIT_OK
    assert f"examples:\n  factcheck {command}" in result.stdout
    assert re.search(r"exit status:\n  0 .*\n  1 .*\n  2 .*usage", result.stdout)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert re.fullmatch(r"factcheck \d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_jsonl_bulk_ingest_reports_bad_lines_and_keeps_going(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = [
        {"id": f"note-{i}", "title": f"Note {i}", "source": "Bulk Desk", "text": text}
        for i, text in enumerate(
            [
                "The lighthouse at Hallam Point was automated in 1998.",
                "The Saltcote ferry crossing takes eleven minutes.",
                "Curlew numbers on the estuary are counted every autumn.",
            ]
        )
    ]
    lines = [
        json.dumps(good[0]),
        '{"id": "broken", "title": ',  # line 2: not JSON
        json.dumps(good[1]),
        json.dumps({"id": "no-text", "title": "No text", "source": "Bulk Desk"}),  # line 4
        "[1, 2]",  # line 5: not an object
        json.dumps(good[2]),
    ]
    bulk = tmp_path / "bulk.jsonl"
    bulk.write_text("\n".join(lines) + "\n", "utf-8")
    store = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, err = run(capsys, "ingest", "--store", store, bulk)
    assert code == EXIT_FAILURE  # some records were rejected
    assert "ingested 6 articles (3 created, 0 replaced, 0 unchanged, 3 rejected)" in out
    assert re.search(rf"rejected {re.escape(str(bulk))}:2: Expecting value", err)
    assert re.search(rf"rejected {re.escape(str(bulk))}:4: .*text", err)
    assert re.search(rf"rejected {re.escape(str(bulk))}:5: expected a JSON object", err)
    assert re.search(r"6/6 \[", err)  # the progress bar counted every line
    opened = open_store(store)
    try:
        assert sorted(a.id for a in opened.list_articles(limit=10)) == [
            "note-0",
            "note-1",
            "note-2",
        ]
    finally:
        opened.close()
    code, out, _ = run(capsys, "ingest", "--quiet", "--store", store, bulk)
    assert "(0 created, 0 replaced, 3 unchanged, 3 rejected)" in out


def test_a_saved_news_page_ingests_without_its_boilerplate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, err = run(capsys, "ingest", "--quiet", "--store", store, PAGE)
    assert code == EXIT_OK, err
    assert "(1 created, 0 replaced, 0 unchanged, 0 rejected)" in out
    opened = open_store(store)
    try:
        article = opened.get_article("tidal-barrage", with_text=True)
    finally:
        opened.close()
    assert article is not None and article.text is not None
    assert article.title == "Estuary tidal barrage opens its first turbines"
    assert article.source == "The Northbay Courier"
    assert article.published_at == "2024-03-11"
    assert article.url == "https://courier.example.net/news/2024/03/11/merrow-tidal-barrage-opens"
    assert "produced eleven megawatts at their peak" in article.text
    assert "a second lock keeper on weekday mornings" in article.text
    for boilerplate in BOILERPLATE:
        assert boilerplate not in article.text, boilerplate

    code, out, _ = run(capsys, "check", "--store", store, "The barrage produced eleven megawatts")
    assert code == EXIT_OK and "The Northbay Courier | Estuary tidal barrage" in out


# Text of the page's cookie banner, navigation, ads, share bar, newsletter promo, byline,
# related links, readers' comments and footer: none of it is the article.
BOILERPLATE = [
    "cookies",
    "Subscribe",
    "ADVERTISEMENT",
    "Holiday cottages",
    "PowerSwitchr",
    "Share",
    "Copy link",
    "newsletter",
    "Most read",
    "Ferry timetable",
    "Nobody ever asks the birds",
    "All rights reserved",
    "Privacy policy",
    "Search the Courier",
]


def test_a_page_with_no_article_is_rejected(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "gallery.html"  # a photo gallery: pictures, no text
    empty.write_text(
        "<html><head><title>Gallery</title></head><body><img src=a.jpg><img src=b.jpg>"
        "<script>var slides = 2;</script></body></html>",
        "utf-8",
    )
    code, out, err = run(
        capsys, "ingest", "--quiet", "--store", f"sqlite:///{tmp_path}/x.db", empty
    )
    assert code == EXIT_FAILURE
    assert f"rejected {empty}: no article text found in the page" in err
    assert "1 rejected" in out
