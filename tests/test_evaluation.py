"""`factcheck eval`: the scoring rules, the two baselines, the baseline gate and a whole run."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from service.cli import EXIT_FAILURE, EXIT_OK, main
from service.core.embed import Embedder
from service.evaluation import run as evaluation
from service.evaluation.baselines import BM25Baseline, DenseBaseline, Ranking
from service.evaluation.run import METRICS, below_baselines, evaluate, format_table, score
from tests.conftest import ROOT, SAMPLE_CORPUS

SAMPLE_CLAIMS = ROOT / "examples" / "sample-claims.jsonl"
SYSTEMS = ["factcheck", "bm25s", "sentence-transformers"]

# --- score(): hand-made answers, figures worked out by hand ------------------------------

# article id (as ingested) -> the dataset's key for it
KEYS = {"a1": "000_ab12", "a2": "001_cd34", "a3": "Other article"}
SKY = ["000", "sky is blue"]
RAIN = ["001", "it’s raining"]  # curly apostrophe: matching folds it to a straight one


def claim(*gold: list[str], stance: str = "supports") -> dict[str, Any]:
    return {"claim": "a claim", "stance": stance, "gold": [list(g) for g in gold]}


CASES: dict[str, tuple[dict[str, Any], Ranking, dict[str, float]]] = {
    # The gold statement first (matched case-insensitively, key by file-name prefix).
    "first": (
        claim(SKY),
        [("a1", "Today THE SKY IS BLUE."), ("a3", "Unrelated."), ("a2", "Also unrelated.")],
        {"hit@1": 1, "hit@3": 1, "mrr@10": 1, "ndcg@10": 1, "source_recall@10": 1},
    ),
    # Gold at rank 3: MRR 1/3, nDCG (1/log2(4)) / 1 = 0.5.
    "third": (
        claim(SKY),
        [("a2", "No."), ("a3", "Sky is blue, says another article."), ("a1", "The sky is blue.")],
        {"hit@1": 0, "hit@3": 1, "mrr@10": 1 / 3, "ndcg@10": 0.5, "source_recall@10": 1},
    ),
    # Two gold pairs; only the rain one is matched (rank 2), but both gold articles appear,
    # so source recall is 1: it asks for the article, not the passage.
    # nDCG = (1/log2(3)) / (1 + 1/log2(3)) = 0.387.
    "two-gold": (
        claim(SKY, RAIN),
        [("a2", "No."), ("a2", "Yes, it's raining now."), ("a3", "x"), ("a1", "A grey sky.")],
        {
            "hit@1": 0,
            "hit@3": 1,
            "mrr@10": 0.5,
            "ndcg@10": (1 / math.log2(3)) / (1 + 1 / math.log2(3)),
            "source_recall@10": 1,
        },
    ),
    # The right words in the wrong article do not count, and rank 11 is beyond the top 10.
    "miss": (
        claim(RAIN),
        [("a3", "It's raining.")] * 10 + [("a2", "It's raining.")],
        {"hit@1": 0, "hit@3": 0, "mrr@10": 0, "ndcg@10": 0, "source_recall@10": 0},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_score_of_one_claim(case: str) -> None:
    the_claim, ranking, expected = CASES[case]
    result = score([the_claim], [ranking], KEYS)
    assert result["metrics"] == pytest.approx(expected, abs=5e-4)
    assert list(result["metrics"]) == list(METRICS)
    assert result["kept"] == {"count": 1, "of": 1}
    assert result["rejected"] == {"count": 0, "of": 0}


def test_score_averages_answerable_claims_and_counts_kept_and_rejected() -> None:
    claims = [CASES[c][0] for c in CASES]
    rankings = [CASES[c][1] for c in CASES]
    claims += [claim(SKY), claim(stance="none"), claim(stance="none")]
    rankings += [[], [], [("a1", "The sky is blue.")]]  # answerable dropped; rejected; kept
    result = score(claims, rankings, KEYS)
    # Five answerable claims: the four cases above and one with no answer at all.
    assert result["metrics"] == pytest.approx(
        {
            "hit@1": 1 / 5,
            "hit@3": 3 / 5,
            "mrr@10": (1 + 1 / 3 + 1 / 2) / 5,
            "ndcg@10": (1 + 0.5 + (1 / math.log2(3)) / (1 + 1 / math.log2(3))) / 5,
            "source_recall@10": 3 / 5,
        },
        abs=5e-4,
    )
    assert result["kept"] == {"count": 4, "of": 5}
    assert result["rejected"] == {"count": 1, "of": 2}


def test_score_without_answerable_claims_is_zero_not_an_error() -> None:
    result = score([claim(stance="none")], [[]], KEYS)
    assert result["metrics"] == dict.fromkeys(METRICS, 0.0)
    assert result["rejected"] == {"count": 1, "of": 1}


# --- baselines on a tiny corpus ----------------------------------------------------------

TINY = [
    ("volcano", "The Eyjafjallajökull eruption grounded flights across Europe in April 2010."),
    ("volcano", "Ash clouds drifted over the North Atlantic for weeks."),
    ("bees", "Honeybee colonies declined sharply because of varroa mites."),
    ("bees", "Beekeepers reported losing a third of their hives over the winter."),
    ("chess", "The grandmaster won the tournament after a six-hour endgame."),
    ("bread", "Sourdough starters need regular feeding with flour and water."),
    ("marathon", "The runner finished the marathon in under two hours."),
    ("marathon", "Spectators lined the streets of Vienna to cheer her on."),
    ("chess", "Her opponent resigned on move 84."),
]


@pytest.fixture(scope="module")
def dense(embedder: Embedder) -> DenseBaseline:
    return DenseBaseline(TINY, embedder._model)


@pytest.mark.parametrize(
    ("claim_text", "expected"),
    [
        ("varroa mites and honeybee colonies", TINY[2]),
        ("Eyjafjallajökull grounded flights", TINY[0]),
        ("move 84 resigned", TINY[8]),
    ],
)
def test_bm25_ranks_the_exact_term_match_first(claim_text: str, expected: Any) -> None:
    assert BM25Baseline(TINY).search(claim_text, k=3)[0] == expected


@pytest.mark.parametrize(
    ("claim_text", "expected"),
    [
        ("An athlete completed the long-distance race in less than 120 minutes.", TINY[6]),
        ("Insects that make honey are dying off because of parasites.", TINY[2]),
        ("Bakers must keep feeding their fermented dough cultures.", TINY[5]),
    ],
)
def test_sentence_transformers_ranks_the_paraphrase_first(
    dense: DenseBaseline, claim_text: str, expected: Any
) -> None:
    assert dense.search(claim_text, k=3)[0] == expected


def test_baselines_return_at_most_the_corpus_and_never_reject(dense: DenseBaseline) -> None:
    bm25 = BM25Baseline(TINY)
    for baseline in (bm25, dense):
        assert sorted(baseline.search("marathon", k=10)) == sorted(TINY)  # k above 9 statements
        assert len(baseline.search("marathon", k=4)) == 4
    # No claim word in the vocabulary (or only stop words): still k results, all scored 0.
    assert len(bm25.search("zzz qqq", k=5)) == 5
    assert len(bm25.search("the of and", k=5)) == 5


def test_baselines_on_an_empty_corpus_return_nothing(embedder: Embedder) -> None:
    assert BM25Baseline([]).search("anything") == []
    assert DenseBaseline([], embedder._model).search("anything") == []


# --- the baseline gate -------------------------------------------------------------------


def report_with(ndcg: dict[str, float]) -> dict[str, Any]:
    """A report as evaluate() returns it, with these nDCG@10 figures per system."""
    systems = {
        name: {
            "metrics": {**dict.fromkeys(METRICS, 0.5), "ndcg@10": value},
            "kept": {"count": 2, "of": 2},
            "rejected": {"count": 0, "of": 1},
            "ms_per_claim": 1.0,
            "index_s": 0.1,
        }
        for name, value in ndcg.items()
    }
    return {
        "corpus": "corpus.jsonl",
        "claims_file": "claims.jsonl",
        "articles": 2,
        "statements": 9,
        "index_statements": 9,
        "claims": 3,
        "answerable": 2,
        "unrelated": 1,
        "systems": systems,
        "metrics": systems["factcheck"]["metrics"],
        "ms_per_claim": 1.0,
    }


@pytest.mark.parametrize(
    ("ndcg", "below"),
    [
        ({"factcheck": 0.9, "bm25s": 0.8, "sentence-transformers": 0.7}, []),
        ({"factcheck": 0.8, "bm25s": 0.8, "sentence-transformers": 0.8}, []),  # a tie passes
        ({"factcheck": 0.8, "bm25s": 0.9, "sentence-transformers": 0.7}, ["bm25s"]),
        ({"factcheck": 0.8, "bm25s": 0.7, "sentence-transformers": 0.81}, ["sentence-trans"]),
        ({"factcheck": 0.1, "bm25s": 0.9, "sentence-transformers": 0.2}, ["bm25s", "sentence"]),
    ],
    ids=["above-both", "tie", "below-bm25", "below-dense", "below-both"],
)
def test_gate_names_every_baseline_factcheck_is_below(
    ndcg: dict[str, float], below: list[str]
) -> None:
    failures = below_baselines(report_with(ndcg))
    assert len(failures) == len(below)
    for failure, name in zip(failures, below, strict=True):
        assert f"below {name}" in failure and "nDCG@10" in failure


def test_gate_needs_baselines() -> None:
    report = report_with({"factcheck": 0.9})
    with pytest.raises(ValueError, match="no baselines"):
        below_baselines(report)


@pytest.mark.parametrize(
    ("factcheck_ndcg", "flag", "code"),
    [
        (0.95, True, EXIT_OK),
        (0.85, True, EXIT_FAILURE),
        (0.85, False, EXIT_OK),  # without the flag the figures are only reported
    ],
    ids=["above-gated", "below-gated", "below-ungated"],
)
def test_fail_below_baselines_sets_the_exit_status(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    factcheck_ndcg: float,
    flag: bool,
    code: int,
) -> None:
    report = report_with({"factcheck": factcheck_ndcg, "bm25s": 0.9, "sentence-transformers": 0.6})
    calls: list[tuple[Path, Path]] = []

    def fake_evaluate(corpus: Path, claims: Path) -> dict[str, Any]:
        calls.append((corpus, claims))
        return copy.deepcopy(report)

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    argv = ["eval", "--corpus", "c.jsonl", "--claims", "q.jsonl"]
    assert main(argv + ["--fail-below-baselines"] * flag) == code
    out, err = capsys.readouterr()
    assert calls == [(Path("c.jsonl"), Path("q.jsonl"))]
    assert "| factcheck |" in out and "| bm25s |" in out
    if code == EXIT_FAILURE:
        assert "factcheck nDCG@10 0.850 is below bm25s's 0.900" in err
        assert "sentence-transformers" not in err
    else:
        assert err == ""


@pytest.mark.parametrize(
    ("kept", "rejected", "min_kept", "min_rejected", "failures"),
    [
        ((2, 2), (1, 1), 0.96, 0.8, 0),
        ((1, 2), (1, 1), 0.96, 0.8, 1),  # kept 50% < 96%
        ((2, 2), (0, 1), 0.96, 0.8, 1),  # rejected 0% < 80%
        ((1, 2), (0, 1), 0.96, 0.8, 2),
        ((1, 2), (0, 1), None, None, 0),  # not gated
        ((2, 2), (0, 0), 0.96, 0.8, 0),  # no unanswerable claims: nothing to reject
    ],
)
def test_decision_shares_gate(
    kept: tuple[int, int],
    rejected: tuple[int, int],
    min_kept: float | None,
    min_rejected: float | None,
    failures: int,
) -> None:
    report = report_with({"factcheck": 0.9, "bm25s": 0.8})
    report["systems"]["factcheck"]["kept"] = {"count": kept[0], "of": kept[1]}
    report["systems"]["factcheck"]["rejected"] = {"count": rejected[0], "of": rejected[1]}
    assert len(evaluation.below_shares(report, min_kept, min_rejected)) == failures


def test_dev_sets_are_found_in_a_shared_layout(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "eval" / "wice").mkdir(parents=True)
    for name in ("eval/seed-dev-claims.jsonl", "eval/wice/corpus.jsonl"):
        (tmp_path / name).write_text("", encoding="utf-8")
    # WiCE lacks its claims file: only the seed set is complete.
    assert evaluation.dev_sets(tmp_path) == [
        (tmp_path / "seeds", tmp_path / "eval/seed-dev-claims.jsonl")
    ]
    (tmp_path / "eval/wice/dev-claims.jsonl").write_text("", encoding="utf-8")
    assert [c.name for _, c in evaluation.dev_sets(tmp_path)] == [
        "seed-dev-claims.jsonl",
        "dev-claims.jsonl",
    ]
    assert evaluation.dev_sets(tmp_path, ["wice"]) == [
        (tmp_path / "eval/wice/corpus.jsonl", tmp_path / "eval/wice/dev-claims.jsonl")
    ]


def test_eval_runs_every_set_and_gates_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = {
        "a.jsonl": report_with({"factcheck": 0.9, "bm25s": 0.8}),
        "b.jsonl": report_with({"factcheck": 0.7, "bm25s": 0.8}),
    }
    calls: list[Path] = []

    def fake_evaluate(corpus: Path, claims: Path) -> dict[str, Any]:
        calls.append(claims)
        return copy.deepcopy(reports[claims.name])

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    argv = ["eval", "--corpus", "c1", "--claims", "a.jsonl", "--corpus", "c2"]
    argv += ["--claims", "b.jsonl", "--fail-below-baselines", "--min-rejected", "0.5"]
    assert main(argv) == EXIT_FAILURE
    out, err = capsys.readouterr()
    assert calls == [Path("a.jsonl"), Path("b.jsonl")]
    assert out.count("| factcheck |") == 2
    assert "nDCG@10 0.700 is below bm25s's 0.800" in err
    assert err.count("rejected 0/1") == 2


def test_the_table_has_a_row_per_system_and_counts() -> None:
    table = format_table(
        report_with({"factcheck": 0.9, "bm25s": 0.8, "sentence-transformers": 0.7})
    )
    lines = table.splitlines()
    assert lines[0].startswith("corpus.jsonl: 2 articles, 9 statements; claims.jsonl: 3 claims")
    assert lines[2] == (
        "| system | hit@1 | hit@3 | MRR@10 | nDCG@10 | source recall@10 | kept | rejected "
        "| ms/claim |"
    )
    assert lines[4] == "| factcheck | 0.500 | 0.500 | 0.500 | 0.900 | 0.500 | 2/2 | 0/1 | 1.0 |"
    assert [line.split(" | ")[0] for line in lines[4:]] == [f"| {s}" for s in SYSTEMS]


# --- a whole run on the sample corpus ----------------------------------------------------


@pytest.fixture(scope="module")
def sample_report(embedder: Embedder) -> dict[str, Any]:
    return evaluate(SAMPLE_CORPUS, SAMPLE_CLAIMS)


def test_a_run_reports_all_three_systems(sample_report: dict[str, Any]) -> None:
    report = sample_report
    assert list(report["systems"]) == SYSTEMS
    assert report["statements"] == report["index_statements"] > report["articles"] > 0
    assert report["metrics"] == report["systems"]["factcheck"]["metrics"]
    table = format_table(report)
    for system in SYSTEMS:
        assert f"| {system} | " in table


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_metric_of_every_system_is_a_fraction(
    sample_report: dict[str, Any], system: str
) -> None:
    result = sample_report["systems"][system]
    assert list(result["metrics"]) == list(METRICS)
    for metric, value in result["metrics"].items():
        assert 0.0 <= value <= 1.0, (metric, value)
    assert result["metrics"]["hit@1"] <= result["metrics"]["hit@3"]
    assert result["kept"]["of"] == sample_report["answerable"]
    assert result["rejected"]["of"] == sample_report["unrelated"]
    assert 0 <= result["kept"]["count"] <= result["kept"]["of"]
    assert 0 <= result["rejected"]["count"] <= result["rejected"]["of"]
    assert result["ms_per_claim"] > 0


@pytest.mark.parametrize("system", SYSTEMS[1:])
def test_baselines_keep_everything_and_reject_nothing(
    sample_report: dict[str, Any], system: str
) -> None:
    result = sample_report["systems"][system]
    assert result["kept"]["count"] == sample_report["answerable"]
    assert result["rejected"]["count"] == 0


@pytest.mark.slow  # a whole evaluation run
def test_a_claim_the_api_refuses_is_counted_and_scored_as_no_answer(
    embedder: Embedder, tmp_path: Path
) -> None:
    # A claim may hold what the API refuses (here a bidi override): the run goes on,
    # factcheck answers the claim with nothing, and the table says how many there were.
    good, *_ = SAMPLE_CLAIMS.read_text(encoding="utf-8").splitlines()
    refused = good.replace("landed", "land\\u202eed", 1)
    claims = tmp_path / "claims.jsonl"
    claims.write_text(f"{good}\n{refused}\n", encoding="utf-8")
    report = evaluate(SAMPLE_CORPUS, claims, baselines=False)
    assert report["refused_claims"] == 1
    assert report["systems"]["factcheck"]["kept"] == {"count": 1, "of": 2}
    assert report["metrics"]["hit@1"] == 0.5
    assert "the API refused 1 claim(s)" in format_table(report)


@pytest.mark.slow  # a whole evaluation run
def test_a_corpus_of_short_articles_is_not_throttled_by_the_write_limit(
    embedder: Embedder, tmp_path: Path
) -> None:
    # Climate-FEVER's articles are a sentence or two: the run ingested them faster than the
    # service's default 50 writes a second and stopped at a 429. 120 one-line articles go in
    # well under two seconds, so the limit, if it applied, would refuse some.
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"id": f"note-{i}", "title": f"Note {i}", "source": "Desk", "text": f"Item {i} was filed."}
        for i in range(120)
    ]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    claims = tmp_path / "claims.jsonl"
    gold = {"claim": "Item 7 was filed.", "stance": "supports", "gold": [["note-7", "Item 7"]]}
    claims.write_text(json.dumps(gold) + "\n", encoding="utf-8")
    report = evaluate(corpus, claims, baselines=False)
    assert (report["articles"], report["statements"], report["index_statements"]) == (120, 120, 120)
    assert report["systems"]["factcheck"]["kept"] == {"count": 1, "of": 1}
