"""The `factcheck` command, driven for real: ingest, check and eval in-process on a temporary
SQLite store (the model is the session's, cached per process), help and usage errors in a
child process as a user would meet them."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service import create_app
from service.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from service.core import embed
from service.core.embed import Embedder
from service.store import open_store
from tests.conftest import ROOT, SAMPLE_CORPUS
from tests.spec import check_response

SAMPLE_CLAIMS = ROOT / "examples" / "sample-claims.jsonl"
SUMMARY = re.compile(
    r"^ingested (?P<total>\d+) articles \((?P<created>\d+) created, (?P<replaced>\d+) replaced, "
    r"(?P<unchanged>\d+) unchanged, (?P<rejected>\d+) rejected\); "
    r"(?P<statements>\d+) statements added$",
    re.MULTILINE,
)

EIFFEL = "The Eiffel Tower was completed in 1889 for the World Fair in Paris."
HONEY = "Archaeologists found pots of edible honey in ancient Egyptian tombs."
OCTOPUS = "Octopuses have three hearts and blue blood."
BANANA = "Bananas are botanically berries, while strawberries are not."
VENUS = "Venus rotates in the opposite direction to most planets."
EVEREST = "Mount Everest grows a few millimetres taller every year."

RunResult = tuple[int, str, str]


@pytest.fixture(autouse=True)
def own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--store` sets FACTCHECK_STORE in the process; give it back after every test."""
    monkeypatch.delenv("FACTCHECK_STORE", raising=False)


@pytest.fixture(autouse=True)
def model(embedder: Embedder) -> Embedder:
    """Load the model once for the session before the CLI asks for it."""
    return embedder


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> RunResult:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def summary(out: str) -> dict[str, int]:
    match = SUMMARY.search(out)
    assert match, f"no summary line in {out!r}"
    return {k: int(v) for k, v in match.groupdict().items()}


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_corpus(folder: Path) -> dict[str, Path]:
    """Every input kind: .txt files with a metadata.jsonl sidecar, a .json list, and a .jsonl
    with a blank line and one invalid record (line 3: no text)."""
    docs = folder / "docs"
    docs.mkdir(parents=True)
    (docs / "eiffel.txt").write_text(EIFFEL + "\nIt is about 330 metres tall.\n", "utf-8")
    (docs / "honey.txt").write_text("Honey never spoils\n" + HONEY + "\n", "utf-8")
    (docs / "README.md").write_text("# not an article\n", "utf-8")
    (docs / "metadata.jsonl").write_text(
        json.dumps(
            {
                "file": "eiffel.txt",
                "title": "Eiffel Tower history",
                "source": "Paris Desk",
                "published_at": "2020-01-02",
            }
        )
        + "\n",
        "utf-8",
    )
    animals = folder / "animals.json"
    animals.write_text(
        json.dumps(
            [
                {
                    "id": "octopus",
                    "title": "Octopus anatomy",
                    "source": "Sea Desk",
                    "text": OCTOPUS,
                },
                {"id": "banana", "title": "Berry facts", "text": BANANA},
            ]
        ),
        "utf-8",
    )
    lines = folder / "more.jsonl"
    lines.write_text(
        json.dumps({"id": "venus", "title": "Venus spins backwards", "text": VENUS})
        + "\n\n"
        + json.dumps({"id": "no-text", "title": "A record without text"})
        + "\n"
        + json.dumps({"key": "Everest/2024 #1", "title": "Everest grows", "text": EVEREST})
        + "\n",
        "utf-8",
    )
    return {"docs": docs, "json": animals, "jsonl": lines}


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def store_arg(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/x.db"


# --- ingest -----------------------------------------------------------------------------


def test_ingest_every_file_kind(
    capsys: pytest.CaptureFixture[str], corpus: dict[str, Path], store_arg: str
) -> None:
    paths = [corpus["docs"], corpus["json"], corpus["jsonl"]]
    code, out, err = run(
        capsys, "ingest", "--quiet", "--store", store_arg, "--source", "CLI Desk", *paths
    )
    counts = summary(out)
    assert code == EXIT_FAILURE  # because one record was rejected
    assert counts | {"statements": 0} == {
        "total": 7,
        "created": 6,
        "replaced": 0,
        "unchanged": 0,
        "rejected": 1,
        "statements": 0,
    }
    assert re.search(rf"rejected {re.escape(str(corpus['jsonl']))}:3: .*text", err)
    assert "README.md" not in err and "metadata.jsonl" not in err

    store = open_store(store_arg)
    try:
        articles = {a.id: a for a in store.list_articles(limit=100)}
        assert counts["statements"] == sum(a.statement_count for a in articles.values())
    finally:
        store.close()
    assert set(articles) == {"eiffel", "honey", "octopus", "banana", "venus", "Everest-2024-1"}
    eiffel, honey = articles["eiffel"], articles["honey"]
    assert (eiffel.title, eiffel.source, eiffel.published_at) == (
        "Eiffel Tower history",
        "Paris Desk",
        "2020-01-02",
    )
    assert (honey.title, honey.source, honey.published_at) == (
        "Honey never spoils",
        "CLI Desk",
        None,
    )
    assert (articles["octopus"].source, articles["banana"].source) == ("Sea Desk", "CLI Desk")


def test_ingest_again_changes_nothing(
    capsys: pytest.CaptureFixture[str], corpus: dict[str, Path], store_arg: str
) -> None:
    paths = [corpus["docs"], corpus["json"], corpus["jsonl"]]
    first = summary(run(capsys, "ingest", "--quiet", "--store", store_arg, *paths)[1])
    code, out, _ = run(capsys, "ingest", "--quiet", "--store", store_arg, *paths)
    again = summary(out)
    assert first["created"] == 6 and first["statements"] > 0
    assert code == EXIT_FAILURE
    assert again == {
        "total": 7,
        "created": 0,
        "replaced": 0,
        "unchanged": 6,
        "rejected": 1,
        "statements": 0,
    }


def test_ingest_the_sample_corpus(capsys: pytest.CaptureFixture[str], store_arg: str) -> None:
    articles = sum(1 for line in SAMPLE_CORPUS.read_text("utf-8").splitlines() if line.strip())
    code, out, err = run(capsys, "ingest", "--quiet", "--store", store_arg, SAMPLE_CORPUS)
    counts = summary(out)
    assert code == EXIT_OK, err
    assert (counts["total"], counts["created"], counts["rejected"]) == (articles, articles, 0)
    assert counts["statements"] > articles


def test_ingest_and_check_use_factcheck_store_without_store_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store_arg: str
) -> None:
    monkeypatch.setenv("FACTCHECK_STORE", store_arg)
    code, out, _ = run(capsys, "ingest", "--quiet", SAMPLE_CORPUS)
    assert code == EXIT_OK and summary(out)["created"] > 0
    code, out, _ = run(capsys, "check", "--json", "Buzz Aldrin walked on the Moon")
    assert code == EXIT_OK
    assert json.loads(out)["evidence"][0]["article"]["id"] == "apollo-11-moon-landing-1969"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.csv", "claim,stance\n", "unsupported file type"),
        ("notes.md", "# notes\n", "unsupported file type"),
        ("missing.jsonl", None, "No such file"),
        ("broken.json", '{"title": ', "Expecting value"),
        ("scalar.json", "[1, 2]", "expected a JSON object"),
    ],
)
def test_ingest_reports_unreadable_files(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    store_arg: str,
    name: str,
    content: str | None,
    reason: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, "utf-8")
    code, out, err = run(capsys, "ingest", "--quiet", "--store", store_arg, path)
    assert code == EXIT_FAILURE
    assert summary(out)["rejected"] == 1 and summary(out)["created"] == 0
    assert f"rejected {path}" in err and reason in err


# --- check --------------------------------------------------------------------------------


@pytest.fixture
def indexed(capsys: pytest.CaptureFixture[str], corpus: dict[str, Path], store_arg: str) -> str:
    """The store URL of the test corpus, ingested through the CLI."""
    code, out, _ = run(
        capsys,
        "ingest",
        "--quiet",
        "--store",
        store_arg,
        corpus["docs"],
        corpus["json"],
        corpus["jsonl"],
    )
    assert code == EXIT_FAILURE and summary(out)["created"] == 6
    return store_arg


CLAIMS = [
    ("How many hearts does an octopus have?", OCTOPUS, "octopus", "Sea Desk | Octopus anatomy"),
    ("When was the Eiffel Tower finished?", EIFFEL, "eiffel", "Paris Desk | Eiffel Tower history"),
    ("Is a banana a kind of berry?", BANANA, "banana", "unknown | Berry facts"),
    ("Everest is getting taller each year", EVEREST, "Everest-2024-1", "unknown | Everest grows"),
    ("Edible honey was discovered in Egyptian tombs", HONEY, "honey", "unknown | Honey never"),
]


@pytest.mark.parametrize(("claim", "statement", "article", "meta"), CLAIMS)
def test_check_prints_the_supporting_statement_first(
    capsys: pytest.CaptureFixture[str],
    indexed: str,
    claim: str,
    statement: str,
    article: str,
    meta: str,
) -> None:
    # min_score -1: every statement qualifies as related, so that --top-k alone bounds the
    # list; the first is above the evidence decision, and the summary says how many are.
    code, out, _ = run(
        capsys, "check", "--store", indexed, "--top-k", "3", "--min-score", "-1", claim
    )
    lines = out.splitlines()
    assert code == EXIT_OK
    assert lines[0] == f"claim: {claim}"
    assert re.fullmatch(
        r"\d passages? (is|are) likely evidence for or against this claim.*", lines[2]
    )
    assert re.fullmatch(rf"1\. \[evidence \d{{1,3}}%\] {re.escape(statement)}", lines[4])
    assert lines[5].strip().startswith(meta) and f"{article} chars " in lines[5]
    assert "3. [" in out and "4. [" not in out  # --top-k is honoured
    assert re.fullmatch(r"\d+ statements in 6 articles; [\d.]+ ms", lines[-1])


@pytest.mark.parametrize(("claim", "statement", "article", "meta"), CLAIMS)
def test_check_json_is_the_api_answer(
    capsys: pytest.CaptureFixture[str],
    indexed: str,
    claim: str,
    statement: str,
    article: str,
    meta: str,
) -> None:
    code, out, _ = run(capsys, "check", "--store", indexed, "--json", "--min-score", "-1", claim)
    answer = json.loads(out)
    assert code == EXIT_OK
    assert answer["evidence"][0]["text"] == statement
    assert answer["evidence"][0]["article"]["id"] == article
    assert len(answer["evidence"]) == 5  # the default top_k
    check_response("POST", "/v1/check", 200, "application/json", answer)

    app = create_app({"store": indexed})
    try:
        client: FlaskClient = app.test_client()
        api = client.post("/v1/check", json={"claim": claim, "min_score": -1}).get_json()
    finally:
        app.extensions["factcheck"].store.close()
    assert list(answer) == list(api)
    assert list(api) == [
        "claim",
        "evidence",
        "reason",
        "summary",
        "best_score",
        "best_probability",
        "evidence_probability",
        "min_score",
        "min_probability",
        "index",
        "model",
        "took_ms",
    ]
    assert [list(e) for e in answer["evidence"]] == [list(e) for e in api["evidence"]]
    assert [e["statement_id"] for e in answer["evidence"]] == [
        e["statement_id"] for e in api["evidence"]
    ]
    assert answer["index"] == api["index"] and answer["model"] == api["model"]


@pytest.mark.parametrize(
    "argv",
    [["   "], ["x" * 2001], ["claim", "--top-k", "0"], ["claim", "--top-k", "51"]],
    ids=["blank", "too-long", "top-k-0", "top-k-51"],
)
def test_check_refuses_invalid_claims(
    capsys: pytest.CaptureFixture[str], store_arg: str, argv: list[str]
) -> None:
    code, out, err = run(capsys, "check", "--store", store_arg, *argv)
    assert code == EXIT_USAGE
    assert out == "" and "invalid claim" in err


def test_check_on_an_empty_store_says_so(
    capsys: pytest.CaptureFixture[str], store_arg: str
) -> None:
    code, out, _ = run(capsys, "check", "--store", store_arg, "Anything at all?")
    assert code == EXIT_OK
    assert "The index is empty" in out and "(index_empty;" in out
    assert "0 statements in 0 articles" in out


def test_the_cli_reuses_the_process_model(
    capsys: pytest.CaptureFixture[str], indexed: str, model: Embedder
) -> None:
    code, _, _ = run(capsys, "check", "--store", indexed, "octopus hearts")
    assert code == EXIT_OK
    # check answers with the session's model; `ingest` (the fixture) loads one more only for
    # its own thread count (every core): the same model otherwise, once per thread count.
    assert embed.get_embedder() is model
    keys = list(embed._cache)
    assert len({key[3] for key in keys}) == len(keys)  # key[3]: threads
    assert {key[:3] + key[4:] for key in keys} == {keys[0][:3] + keys[0][4:]}


# --- eval ---------------------------------------------------------------------------------

METRICS = ["hit@1", "hit@3", "mrr@10", "ndcg@10", "source_recall@10"]


@pytest.fixture(scope="module")
def sample_eval(embedder: Embedder) -> tuple[int, dict[str, Any]]:
    """`factcheck eval --json` on the project's sample corpus and claims, run once."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.delenv("FACTCHECK_STORE", raising=False)
        code = main(
            ["eval", "--corpus", str(SAMPLE_CORPUS), "--claims", str(SAMPLE_CLAIMS), "--json"]
        )
    return code, json.loads(out.getvalue())


def test_eval_reports_on_the_whole_sample(sample_eval: tuple[int, dict[str, Any]]) -> None:
    code, report = sample_eval
    claims = [json.loads(line) for line in SAMPLE_CLAIMS.read_text("utf-8").splitlines() if line]
    articles = sum(1 for line in SAMPLE_CORPUS.read_text("utf-8").splitlines() if line.strip())
    assert code == EXIT_OK
    assert report["claims"] == len(claims)
    assert report["answerable"] == sum(1 for c in claims if c["stance"] != "none" and c["gold"])
    assert report["articles"] == articles
    assert report["statements"] > articles
    assert list(report["metrics"]) == METRICS


@pytest.mark.parametrize("metric", METRICS)
def test_eval_metrics_are_fractions(sample_eval: tuple[int, dict[str, Any]], metric: str) -> None:
    assert 0.0 <= sample_eval[1]["metrics"][metric] <= 1.0


def test_eval_finds_gold_evidence_in_the_top_three(
    sample_eval: tuple[int, dict[str, Any]],
) -> None:
    metrics = sample_eval[1]["metrics"]
    assert metrics["hit@3"] >= 0.85, metrics
    assert metrics["hit@1"] <= metrics["hit@3"]
    assert metrics["hit@1"] <= metrics["mrr@10"]


# --- help and usage -----------------------------------------------------------------------

ARGUMENTS = {
    (): ["serve", "ingest", "check", "eval", "index", "--help", "--version"],
    ("serve",): ["--bind", "--workers", "--allow-open-writes", "--store", "--help"],
    ("ingest",): ["PATH", "--source", "--quiet", "--threads", "--chunk", "--store", "--help"],
    ("check",): [
        "claim",
        "--top-k",
        "--min-score",
        "--min-probability",
        "--json",
        "--color",
        "--store",
        "--help",
    ],
    ("eval",): [
        "--corpus",
        "--claims",
        "--dev-sets",
        "--only",
        "--min-kept",
        "--min-rejected",
        "--json",
        "--fail-below-baselines",
        "--store",
        "--help",
    ],
    ("index",): ["--store", "--help"],
}


@pytest.mark.parametrize("command", list(ARGUMENTS), ids=lambda c: " ".join(c) or "factcheck")
def test_help_mentions_every_argument(command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.startswith(f"usage: factcheck {' '.join(command)}".rstrip())
    for argument in ARGUMENTS[command]:
        assert re.search(rf"(?<![\w-]){re.escape(argument)}(?![\w-])", result.stdout), argument


def test_help_table_is_what_the_parser_accepts() -> None:
    """ARGUMENTS above is complete: an argument added to the CLI must be added there too."""
    from service.cli import _parser

    def names(parser: argparse.ArgumentParser) -> set[str]:
        return {
            max(a.option_strings, key=len) if a.option_strings else str(a.metavar or a.dest)
            for a in parser._actions
            if not isinstance(a, argparse._SubParsersAction)
        }

    parser = _parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert names(parser) | set(commands.choices) == set(ARGUMENTS[()])
    for name, sub in commands.choices.items():
        assert names(sub) == set(ARGUMENTS[(name,)]), name


def test_the_installed_command_answers_help() -> None:
    script = Path(sys.executable).parent / "factcheck"
    assert script.exists(), f"{script}: install the project (make dev)"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_OK
    assert "usage: factcheck" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "usage: factcheck"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["check"], "the following arguments are required: claim"),
        (["ingest"], "the following arguments are required: PATH"),
        (["eval", "--corpus", "x"], "the following arguments are required: --claims"),
        (["check", "claim", "--top-k", "many"], "invalid int value: 'many'"),
    ],
    ids=["no-command", "unknown-command", "no-claim", "no-path", "no-claims", "bad-top-k"],
)
def test_usage_errors_exit_2(argv: list[str], message: str) -> None:
    result = cli(*argv)
    assert result.returncode == EXIT_USAGE
    assert message in result.stdout + result.stderr


def test_an_unknown_file_type_is_reported_and_fails(tmp_path: Path) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text("a,b\n", "utf-8")
    result = cli("ingest", "--quiet", "--store", f"sqlite:///{tmp_path}/x.db", str(notes))
    assert result.returncode == EXIT_FAILURE
    assert f"rejected {notes}" in result.stderr and "unsupported file type" in result.stderr
    assert "1 rejected" in result.stdout


def test_an_empty_check_prints_the_claims_evidence_probability_against_the_bar() -> None:
    """The decision compares the claim's evidence probability with min_probability: the
    table shows both, not the bar alone (which read as a bar on one passage)."""
    from types import SimpleNamespace

    from service.cli.report import table

    index = SimpleNamespace(statements=3, articles=1)
    result = SimpleNamespace(
        claim="c", summary="No passage in the index is likely evidence for or against this "
        "claim.", evidence=[], reason="no_statement_above_threshold", best_score=0.2,
        best_probability=0.05, evidence_probability=0.0812, min_probability=0.1293,
        index=index, took_ms=1.0,
    )  # fmt: skip
    line = table(result).splitlines()[4]
    assert line == (
        "(no_statement_above_threshold; best similarity 0.200, the claim's evidence "
        "probability 8.1% under the 12.9% needed)"
    )
    off = SimpleNamespace(**{**vars(result), "min_probability": 0.0, "min_score": 0.3})
    assert table(off).splitlines()[4] == (
        "(no_statement_above_threshold; best similarity 0.200, none reaches min_score 0.3)"
    )
    empty = SimpleNamespace(**{**vars(result), "reason": "index_empty", "best_score": None,
                               "best_probability": None, "evidence_probability": None})  # fmt: skip
    assert table(empty).splitlines()[4] == "(index_empty; nothing to compare)"


def test_the_min_probability_help_describes_the_claims_decision() -> None:
    """The decision is on the claim's evidence probability, not on one passage's."""
    from service.cli import _parser

    [check] = [
        parser
        for action in _parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, parser in action.choices.items()
        if name == "check"
    ]
    [option] = [a for a in check._actions if "--min-probability" in a.option_strings]
    assert option.help is not None
    assert "evidence probability of the claim" in option.help
    assert "some passage" not in option.help
