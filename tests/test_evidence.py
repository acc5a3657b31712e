"""The evidence model: its features against their definitions, the shipped weights, and the
decision and its wording through the API, on articles written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient

from service import create_app
from service.config import Config
from service.core import embed
from service.core.evidence import (
    CLAIM_PASSAGES,
    MODEL_PATH,
    MODEL_PATHS,
    claim_probability,
    load_model,
    model_for,
)
from service.core.features import DECISION_FEATURES, FEATURES, name_terms
from service.core.index import StatementIndex
from service.core.options import options_from
from service.core.scoring import Scores
from service.core.selection import NEAR_COPY_MIN, evidence_probability
from service.core.tokens import tokenize
from service.types import IndexData

ARTICLES = [
    {
        "id": "kallas-talks",
        "title": "Kallas compares US-Russia talks to negotiating with bin Laden",
        "source": "Desk A",
        "text": "The EU's top diplomat spoke in Brussels on Monday.\n"
        "He called it unthinkable.\n"
        "Ministers will meet again in March.",
    },
    {
        "id": "tidal",
        "title": "Tidal barrage opens in Brittany",
        "source": "Desk B",
        "text": "The tidal barrage on the Rance estuary began feeding the grid on Tuesday.\n"
        "Its operator said the turbines would supply 40,000 homes.\n"
        "Fishermen had opposed the project for a decade.",
    },
    {
        "id": "bakery",
        "title": "Village bakery wins regional prize",
        "source": "Desk C",
        "text": "A village bakery in Normandy won the regional bread prize.\n"
        "The baker uses flour from a mill two kilometres away.",
    },
]


def _index(texts: dict[str, tuple[str, list[str]]]) -> StatementIndex:
    """An index over random unit vectors: these tests are about the lexical features."""
    rng = np.random.default_rng(3)
    index = StatementIndex(8)
    for article_id, (title, statements) in texts.items():
        vectors = rng.normal(size=(len(statements), 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.replace(article_id, IndexData(texts=statements, vectors=vectors, title=title))
    return index


CORPUS = {
    "a": ("Kallas compares talks to bin Laden", ["He called it unthinkable.", "Talks resume."]),
    "b": ("Tidal power", ["The tidal barrage feeds the grid.", "Kallas visited the barrage."]),
    "c": ("Bread prize", ["A village bakery won.", "Flour comes from a mill."]),
}


@pytest.mark.parametrize(
    "claim",
    [
        "Kallas compared the talks to negotiating with bin Laden",
        "The tidal barrage feeds the grid",
        "A bakery won a prize for its bread and flour",
        "Nothing here matches zyxwv",
    ],
)
def test_coverage_features_follow_their_definitions(claim: str) -> None:
    """Each coverage is the idf-weighted share of the claim's terms held by the statement, by
    the statement or its title, by any statement of its article or its title; `known` by any
    statement at all."""
    index = _index(CORPUS)
    query = np.ones(8, dtype=np.float32) / np.sqrt(8)
    table = index.candidate_table(query, claim, 10)
    terms = list(dict.fromkeys(tokenize(claim)))
    statements = [s for _, ss in CORPUS.values() for s in ss]
    df = np.array([sum(t in tokenize(s) for s in statements) for t in terms], dtype=float)
    idf = np.log(1 + (len(statements) - df + 0.5) / (df + 0.5))

    def share(words: set[str], subset: list[str] | None = None) -> float:
        chosen = [i for i, t in enumerate(terms) if subset is None or t in subset]
        total = idf[chosen].sum()
        return float(sum(idf[i] for i in chosen if terms[i] in words) / total) if total else 0.0

    assert len(table) == len(statements)  # every statement is a dense candidate here
    for i, (article, position) in enumerate(table.keys):
        title, texts = CORPUS[article]
        own = set(tokenize(texts[position]))
        titled = own | set(tokenize(title))
        whole = titled | {t for s in texts for t in tokenize(s)}
        assert table.coverage[i] == pytest.approx(share(own))
        assert table.title_coverage[i] == pytest.approx(share(titled))
        assert table.article_coverage[i] == pytest.approx(share(whole))
        names = [t for t in terms if t in name_terms(claim)]
        expected = share(whole, names) if names else 1.0
        assert table.name_coverage[i] == pytest.approx(expected)
    everywhere = {t for s in statements for t in tokenize(s)}
    assert table.known == pytest.approx(share(everywhere))


def test_neighbour_and_article_features_follow_their_definitions() -> None:
    """window_coverage counts the terms of the statement and of its neighbours in its own
    article; next_context reads it before its successor (a last statement keeps its cosine);
    the article features count and compare the pool's candidates of one article."""
    from service.core.features import columns

    index = _index(CORPUS)
    rng = np.random.default_rng(5)
    query = rng.normal(size=8).astype(np.float32)
    query /= np.linalg.norm(query)
    claim = "Kallas visited the tidal barrage that feeds the grid"
    table = index.candidate_table(query, claim, 10)
    terms = list(dict.fromkeys(tokenize(claim)))
    statements = [s for _, ss in CORPUS.values() for s in ss]
    df = np.array([sum(t in tokenize(s) for s in statements) for t in terms], dtype=float)
    idf = np.log(1 + (len(statements) - df + 0.5) / (df + 0.5))
    vectors = {k: index.vectors_of([k])[0] for k in table.keys}
    cols = columns(table)
    for i, (article, position) in enumerate(table.keys):
        texts = CORPUS[article][1]
        window = {t for s in texts[max(position - 1, 0) : position + 2] for t in tokenize(s)}
        held = sum(idf[j] for j, t in enumerate(terms) if t in window) / idf.sum()
        assert table.window_coverage[i] == pytest.approx(held)
        own = vectors[(article, position)]
        if position + 1 < len(texts):
            joint = own + index.vectors_of([(article, position + 1)])[0]
            expected = float(joint @ query / np.linalg.norm(joint))
        else:
            expected = float(own @ query)
        assert table.next_context[i] == pytest.approx(expected, abs=1e-5)
        same = [j for j, key in enumerate(table.keys) if key[0] == article]
        assert cols["article_share"][i] == pytest.approx(np.log(len(same)))
        best = max(table.cosine[j] for j in same)
        assert cols["article_gap"][i] == pytest.approx(table.cosine[i] - best)
    assert (table.window_coverage > table.coverage).any()  # the neighbours do add terms
    assert (table.next_context != table.cosine).any()
    # A subset renumbers articles from 0, so the pool-wide features stay defined.
    part = table.subset(np.array([len(table) - 1, 0]))
    assert sorted(set(part.article.tolist())) == list(range(len(set(part.article.tolist()))))


@pytest.mark.parametrize(
    ("claim", "names"),
    [
        ("Kallas compared the talks to bin Laden", {"laden"}),  # a first word may be any word
        ("Then Kallas compared the talks to bin Laden", {"kalla", "laden"}),
        ("The film stars Marilyn Castonguay", {"marilyn", "castonguay"}),
        ("NATO is the best guarantee", {"nato"}),
        ("Prices rose in March", {"march"}),
        ("Prices rose sharply", set()),
    ],
)
def test_names_are_capitalised_words_past_the_first(claim: str, names: set[str]) -> None:
    assert name_terms(claim) == names


SHIPPED = [MODEL_PATH, *MODEL_PATHS.values()]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_model_matches_the_features_and_reads_closeness_as_evidence(
    path: Path,
) -> None:
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["ranking"]["features"] == list(FEATURES)
    assert saved["decision"]["features"] == list(DECISION_FEATURES)
    model = load_model(path)
    assert 0 < model.threshold < 1
    # Both models must take a closer passage (cosine) and one whose title and article hold
    # more of the claim's words as more likely evidence, or they learned noise.
    for name in ("cosine", "title_coverage"):
        assert model.rank_weights[FEATURES.index(name)] > 0, name
    for name in ("cosine", "article_coverage"):
        assert model.decision_weights[DECISION_FEATURES.index(name)] > 0, name


@pytest.mark.parametrize(
    ("backend", "fitted_on"),
    [("onnx", "onnx"), ("torch", "onnx"), ("onnx-int8", "onnx-int8")],
)
def test_a_check_is_decided_by_the_weights_fitted_on_its_backend(
    backend: str, fitted_on: str
) -> None:
    # torch and onnx compute the float model's vectors; int8's cosines differ by up to ~1%,
    # enough to cross the threshold, so it has weights of its own.
    options = options_from({}, Config(), backend)
    path = MODEL_PATHS.get(fitted_on, MODEL_PATH)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["backend"] == fitted_on
    assert options.model is model_for(backend) is load_model(path)
    assert options.decision == saved["decision"]["threshold"]
    assert options_from({"min_probability": 0.5}, Config(), backend).decision == 0.5


@pytest.fixture
def loaded(client: FlaskClient) -> FlaskClient:
    for article in ARTICLES:
        assert client.post("/v1/articles", json=article).status_code == 201
    return client


def test_the_title_informs_a_statement_that_does_not_name_its_subject(
    loaded: FlaskClient,
) -> None:
    """'He called it unthinkable.' names nobody; its headline does."""
    claim = "Kallas called negotiating with bin Laden unthinkable"
    body = loaded.post("/v1/check", json={"claim": claim, "top_k": 3}).get_json()
    assert body["evidence"][0]["text"] == "He called it unthinkable."
    assert body["evidence"][0]["is_evidence"] is True


def test_evidence_and_related_passages_are_told_apart(loaded: FlaskClient) -> None:
    claim = "The Rance tidal barrage started supplying the grid on Tuesday"
    body = loaded.post("/v1/check", json={"claim": claim, "top_k": 3}).get_json()
    first = body["evidence"][0]
    assert first["article"]["id"] == "tidal" and "feeding the grid" in first["text"]
    assert first["is_evidence"] is True and first["probability"] >= 0.5
    assert body["reason"] is None
    for item in body["evidence"]:
        assert item["is_evidence"] is (item["probability"] >= 0.5)
        assert item["score"] == item["scores"]["rank"]
        assert item["probability"] == item["scores"]["probability"]
    strong = sum(item["is_evidence"] for item in body["evidence"])
    related = len(body["evidence"]) - strong
    assert body["summary"].startswith(f"{strong} passage")
    assert (f"{related} more" in body["summary"]) is (related > 0)
    assert body["best_probability"] == max(e["probability"] for e in body["evidence"])
    scores = [item["score"] for item in body["evidence"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("extra", "empty"),
    [
        ({}, True),  # the fitted decision: nothing here is evidence for it
        ({"min_score": -1}, True),  # a looser related bar does not override the decision
        ({"min_probability": 0, "min_score": -1}, False),  # everything above a loose bar
        ({"min_probability": 0}, False),  # whatever reaches min_score (0.3) as related
    ],
)
def test_an_unanswerable_claim_gets_no_evidence_unless_asked(
    loaded: FlaskClient, extra: dict[str, float], empty: bool
) -> None:
    claim = "The Champions League final was decided on penalties in Madrid"
    body = loaded.post("/v1/check", json={"claim": claim, "top_k": 5, **extra}).get_json()
    if empty:
        assert body["evidence"] == []
        assert body["reason"] == "no_statement_above_threshold"
        assert body["evidence_probability"] < body["min_probability"]
        assert body["best_probability"] <= body["evidence_probability"]
        assert body["summary"].startswith("No passage in the index is likely evidence")
    else:
        assert body["min_probability"] == 0
        assert all(not e["is_evidence"] for e in body["evidence"])
        if body["evidence"]:
            assert body["summary"].startswith("No passage is more likely evidence than not")
    if extra.get("min_score") == -1 and not empty:
        assert len(body["evidence"]) == 5


@pytest.mark.parametrize(
    ("probabilities", "expected"),
    [
        ([], 0.0),
        ([0.5], 0.5),
        ([0.5, 0.5], 0.75),
        ([0.2, 0.9, 0.0], 1 - 0.8 * 0.1),  # any order
        ([0.1] * 12, 1 - 0.9**CLAIM_PASSAGES),  # only the CLAIM_PASSAGES most likely count
        ([0.01] * 11 + [0.6], 1 - 0.4 * 0.99 ** (CLAIM_PASSAGES - 1)),
        ([1.0, 0.3], 1.0),
    ],
)
def test_a_claims_evidence_probability_is_that_one_of_its_passages_is_evidence(
    probabilities: list[float], expected: float
) -> None:
    assert claim_probability(probabilities) == pytest.approx(expected)


def test_near_copies_count_once_in_a_claims_evidence_probability() -> None:
    """Wire copies of one sentence are one piece of evidence, not several independent ones."""
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(4, 16))
    vectors[1] = vectors[0] + 0.01 * rng.normal(size=16)  # a near-copy of the first
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ranked = [
        (("a", i), Scores(dense=0.5, lexical=1.0, fused=0.5, probability=p))
        for i, p in enumerate([0.3, 0.3, 0.2, 0.1])
    ]
    similarity = vectors @ vectors.T
    assert similarity[0, 1] >= NEAR_COPY_MIN > max(similarity[0, 2], similarity[0, 3])
    assert evidence_probability(ranked, similarity) == pytest.approx(1 - 0.7 * 0.8 * 0.9)
    apart = np.eye(4)  # the same passages, no two alike: each counts
    assert evidence_probability(ranked, apart) == pytest.approx(1 - 0.7 * 0.7 * 0.8 * 0.9)


def test_the_decision_reads_the_claims_passages_together(loaded: FlaskClient) -> None:
    """A bar between the best passage's probability and the claim's evidence probability
    gives evidence: the decision is on the claim, not on its best passage alone."""
    claim = "A village bakery in Normandy won a prize with flour from a nearby mill"
    free = loaded.post("/v1/check", json={"claim": claim, "min_probability": 0}).get_json()
    best, likely = free["best_probability"], free["evidence_probability"]
    assert best < likely  # two passages of the bakery article speak to the claim
    for bar, empty in [((best + likely) / 2, False), (min(1.0, likely + 1e-3), True)]:
        body = loaded.post("/v1/check", json={"claim": claim, "min_probability": bar})
        answer = body.get_json()
        assert (answer["evidence"] == []) is empty, (bar, answer)
        assert answer["evidence_probability"] == likely
        for item in answer["evidence"]:  # listed: at the bar, or related (min_score 0.3)
            scores = item["scores"]
            assert item["probability"] >= bar or max(scores["dense"], scores["fused"]) >= 0.3


@pytest.mark.slow  # ONNX cannot export there: the torch model loads instead
def test_an_int8_setting_that_fell_back_to_torch_is_decided_by_the_float_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weights follow the vectors the embedder really computes: FACTCHECK_EMBED_BACKEND
    says onnx-int8, but with ONNX unavailable the embedder runs the float model on torch."""
    # This embedder is the test's own: the process's models stay as the other tests expect
    # (tests/test_cli.py::test_the_cli_reuses_the_process_model counts them).
    monkeypatch.setattr(embed, "_cache", {})
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    settings = {"embed_backend": "onnx-int8", "onnx_dir": str(blocker / "sub")}
    app = create_app({"store": f"sqlite:///{tmp_path / 'factcheck.db'}", **settings})
    services = app.extensions["factcheck"]
    try:
        assert services.embedder.backend == "torch"
        body = app.test_client().get("/v1/check", query_string={"claim": "Bread rose"}).get_json()
    finally:
        services.store.close()
    assert body["min_probability"] == load_model(MODEL_PATH).threshold
    assert load_model(MODEL_PATH).threshold != model_for("onnx-int8").threshold


def test_a_model_fitted_for_the_best_passage_decision_is_refused(tmp_path: Path) -> None:
    """Its threshold was set on one passage's probability: applied to the claim's evidence
    probability it would let through what it was fitted to reject."""
    saved = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    del saved["decision"]["claim_passages"]
    older = tmp_path / "evidence_model.json"
    older.write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(ValueError, match="another decision"):
        load_model(older)


def test_a_claim_the_decision_accepts_is_never_answered_empty(loaded: FlaskClient) -> None:
    """The bar between the best passage's probability and the claim's evidence probability,
    and a related bar no passage reaches: the claim has evidence, so its most likely passage
    is listed. Empty, its reason would say the evidence probability is under the bar."""
    claim = "A village bakery in Normandy won a prize with flour from a nearby mill"
    free = loaded.post("/v1/check", json={"claim": claim, "min_probability": 0}).get_json()
    best, likely = free["best_probability"], free["evidence_probability"]
    bar = (best + likely) / 2
    body = {"claim": claim, "min_probability": bar, "min_score": 1}
    answer = loaded.post("/v1/check", json=body).get_json()
    assert answer["evidence_probability"] >= answer["min_probability"]
    assert answer["reason"] is None
    assert [e["probability"] for e in answer["evidence"]] == [best]
    assert answer["summary"].startswith("1 passage is likely evidence")


def test_with_the_decision_off_passages_are_listed_on_min_score_alone(
    loaded: FlaskClient,
) -> None:
    """min_probability=0 lists what reaches min_score (openapi, README), not every candidate:
    each passage's probability is above 0, which listed all of them up to top_k."""
    claim = "A village bakery in Normandy won a prize with flour from a nearby mill"
    body = {"claim": claim, "top_k": 5, "min_probability": 0}
    answer = loaded.post("/v1/check", json=body).get_json()
    assert answer["evidence"]
    for item in answer["evidence"]:
        scores = item["scores"]
        assert scores["dense"] >= 0.3 or (scores["fused"] >= 0.3 and scores["dense"] >= 0.15)
    loose = loaded.post("/v1/check", json={**body, "min_score": -1}).get_json()
    assert len(loose["evidence"]) == 5 > len(answer["evidence"])
