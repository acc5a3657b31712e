"""Retrieval quality gates, measured with the real service (`service.evaluation`)."""

from __future__ import annotations

import pytest

from service.evaluation import evaluate
from tests.conftest import SHARED, requires_seeds


@requires_seeds
def test_seed_claims_find_a_gold_passage_in_the_top_three() -> None:
    report = evaluate(SHARED / "seeds", SHARED / "eval" / "seed-dev-claims.jsonl")
    assert report["articles"] == 5
    assert report["answerable"] == 24
    metrics = report["metrics"]
    # The bar is 85% of answerable claims with a gold passage in the top 3.
    assert metrics["hit@3"] >= 0.85, metrics
    assert metrics["source_recall@10"] >= 0.95, metrics
    # Above bare sentence-transformers over the same statements, in the same run. (Not yet
    # asserted against bm25s, which scores 1.000 on these 109 cleaned statements.)
    ours = metrics["ndcg@10"]
    theirs = report["systems"]["sentence-transformers"]["metrics"]["ndcg@10"]
    assert ours > theirs, report["systems"]
    # Every unrelated claim rejected, every answerable one kept (the threshold's job).
    assert report["systems"]["factcheck"]["kept"] == {"count": 24, "of": 24}
    assert report["systems"]["factcheck"]["rejected"] == {"count": 4, "of": 4}


@pytest.mark.parametrize(
    ("gold_key", "record_key", "matches"),
    [
        ("000", "000_ab11285a845dc367", True),
        ("000", "000", True),
        ("000", "0001_x", False),
        ("Global warming", "Global warming", True),
        ("Global warming", "Global warming potential", False),
    ],
)
def test_gold_keys_name_articles_exactly_or_by_file_prefix(
    gold_key: str, record_key: str, matches: bool
) -> None:
    from service.evaluation import key_matches

    assert key_matches(record_key, gold_key) is matches
