"""Fit the evidence model (service/core/evidence_model.json) on the dev sets, cross-validated.

    PYTHONPATH=. .venv/bin/python scripts/fit_evidence.py --shared ../shared [--write]

Each dev set (seeds, Climate-FEVER, WiCE; read from --shared, never copied) is segmented and
embedded as ingest does, loaded into a StatementIndex, and every claim's candidates are read
with the features the check computes (service.core.features). That part is cached (--cache,
outside the repo), so refitting takes seconds. Then a logistic regression of "this candidate
is a gold passage" on those features is fitted, each dev set weighing the same, and checked
held out two ways: leave one dev set out, and 5-fold by claim. The decision threshold is the
one the training folds choose (see `choose_threshold`). --write saves the model fitted on all
claims. Needs scikit-learn (the `fit` extra); the service applies the weights with numpy.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.config import Config
from service.core.evidence import MODEL_PATH
from service.core.features import (
    DECISION_FEATURES,
    FEATURES,
    Candidates,
    columns,
    decision_inputs,
    features,
)
from service.core.index import StatementIndex
from service.core.segment import segment
from service.documents.files import expand, read_records
from service.evaluation.run import (
    DEV_SETS,
    fold,
    is_answerable,
    is_unrelated,
    key_matches,
    load_claims,
)
from service.types import IndexData

POOL = 50  # the check's candidate pool (search.CANDIDATES) for top_k 10
# The pool the cache is read at: any pool up to it is the subset of these candidates that are
# among the POOL best by cosine or by BM25 (both lists are whole inside the wider union).
WIDE = 100
KEEP = 0.99  # share of each dev set's answerable claims the threshold must keep
TOP = 10
SETS = DEV_SETS


@dataclass
class Raw:
    """One claim's candidates at the WIDE pool, as cached."""

    dataset: str
    answerable: bool
    unrelated: bool
    gold: int  # gold pairs, for the ideal DCG
    table: Candidates
    y: np.ndarray  # (candidates,) gold or not


@dataclass
class Claim:
    dataset: str
    answerable: bool
    unrelated: bool
    gold: int
    cols: dict[str, np.ndarray]  # every feature by name (service.core.features.columns)
    y: np.ndarray
    fused: np.ndarray  # the hand-set fusion (before this model), to compare rankings


def narrowed(raw: Raw, pool: int) -> Claim:
    """The claim as the check sees it with a candidate pool of `pool` (<= WIDE): the cached
    candidates among the `pool` best by cosine or by BM25."""
    t, y = raw.table, raw.y
    if len(t) and pool < WIDE:
        by_cosine = np.argsort(-t.cosine, kind="stable")[:pool]
        by_bm25 = np.argsort(-t.bm25, kind="stable")[:pool]
        order = np.union1d(by_cosine, by_bm25[t.bm25[by_bm25] > 0])
        t, y = t.subset(order), y[order]
    top_bm25 = float(t.bm25.max()) if len(t) else 0.0
    lex = t.bm25 / top_bm25 if top_bm25 > 0 else np.zeros(len(t))
    fused = 0.6 * np.maximum(t.cosine, 0.9 * t.context) + 0.4 * lex
    cols = columns(t) if len(t) else {}
    return Claim(raw.dataset, raw.answerable, raw.unrelated, raw.gold, cols, y, fused)


def matrix(claim: Claim, names: tuple[str, ...]) -> np.ndarray:
    return features(claim.cols, names) if len(claim.y) else np.zeros((0, len(names)))


def build(shared: Path, name: str, embedder: Any, cache: Path) -> list[Raw]:
    """Candidates and features of every claim of one dev set. Vectors are cached by text
    (cache/<set>-vectors.pkl), so a change of features or segmentation re-embeds little."""
    corpus, claims_file = (shared / part for part in SETS[name])
    records = [r for p in expand([corpus]) for r in read_records(p)]
    vector_file = cache / f"{name}-vectors.pkl"
    known: dict[str, np.ndarray] = (
        pickle.loads(vector_file.read_bytes()) if vector_file.exists() else {}
    )

    def encode(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, embedder().encode(missing), strict=True))
        return np.array([known[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)

    index = StatementIndex(384)
    texts: dict[str, list[str]] = {}
    keys: dict[str, str] = {}
    for number, record in enumerate(records):
        doc = f"doc{number}"
        fields = record.fields
        statements = segment(fields["text"], language=fields.get("language") or "en")
        texts[doc] = [s.text for s in statements]
        keys[doc] = record.key or doc
        vectors = encode(texts[doc]) if texts[doc] else np.zeros((0, 384), dtype=np.float32)
        index.replace(
            doc,
            IndexData(
                texts=texts[doc],
                vectors=vectors,
                source=fields.get("source"),
                published_at=fields.get("published_at"),
                title=fields.get("title"),
            ),
        )
        print(f"\r{name}: {number + 1}/{len(records)} articles", end="", file=sys.stderr)
    print(file=sys.stderr)
    claims = load_claims(claims_file)
    queries = encode([c["claim"] for c in claims])
    vector_file.write_bytes(pickle.dumps(known))
    out = []
    for claim, query in zip(claims, queries, strict=True):
        table = index.candidate_table(query, claim["claim"], WIDE)
        y = np.array(
            [
                any(
                    key_matches(keys[doc], g) and fold(sub) in fold(texts[doc][pos])
                    for g, sub in claim["gold"]
                )
                for doc, pos in table.keys
            ],
            dtype=bool,
        )
        out.append(
            Raw(name, is_answerable(claim), is_unrelated(claim), len(claim["gold"]), table, y)
        )
    return out


def load(shared: Path, cache: Path, refresh: bool) -> list[Raw]:
    cache.mkdir(parents=True, exist_ok=True)
    loaded: list[Any] = []

    def embedder() -> Any:
        if not loaded:
            from service.core.embed import get_embedder

            loaded.append(get_embedder(Config()))
        return loaded[0]

    claims: list[Raw] = []
    for name in SETS:
        path = cache / f"{name}-wide{WIDE}.pkl"
        if path.exists() and not refresh:
            part = pickle.loads(path.read_bytes())
        else:
            part = build(shared, name, embedder, cache)
            path.write_bytes(pickle.dumps(part))
        if part and not hasattr(part[0].table, "window_coverage"):
            raise SystemExit(f"{path} holds other candidate tables: run with --refresh")
        claims.extend(part)
    return claims


@dataclass
class Model:
    rank_weights: np.ndarray
    rank_bias: float
    decision_weights: np.ndarray
    decision_bias: float
    threshold: float
    rank_names: tuple[str, ...] = FEATURES
    decision_names: tuple[str, ...] = DECISION_FEATURES

    def score(self, claim: Claim) -> tuple[np.ndarray, np.ndarray]:
        """(ranking logit, evidence probability) per candidate, as service.core.evidence:
        P(the claim has evidence, judged from this passage) * P(this passage is gold)."""
        logit = matrix(claim, self.rank_names) @ self.rank_weights + self.rank_bias
        z = self.decision_x(claim, logit) @ self.decision_weights + self.decision_bias
        return logit, 1.0 / (1.0 + np.exp(-z)) / (1.0 + np.exp(-logit))

    def decision_x(self, claim: Claim, logit: np.ndarray) -> np.ndarray:
        if not len(claim.y):
            return np.zeros((0, len(self.decision_names)))
        return decision_inputs(claim.cols, logit, self.decision_names)


def _logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """L2 logistic regression on standardised inputs; weights and bias on the raw ones."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit((x - mean) / std, y, sample_weight=w * len(w) / w.sum())
    weights = model.coef_[0] / std
    return weights, float(model.intercept_[0] - (model.coef_[0] * mean / std).sum())


def fit(
    claims: list[Claim],
    c: float = 1.0,
    rank_names: tuple[str, ...] = FEATURES,
    decision_names: tuple[str, ...] = DECISION_FEATURES,
) -> Model:
    """The ranking model on every candidate of the answerable claims (gold or not), then the
    decision model on each claim's top-ranked passage (answerable or not), then the
    threshold. Every dev set weighs the same; within one, every claim (ranking) or each
    class (decision) does."""
    ranked = [k for k in claims if k.answerable and len(k.y)]
    per_set = {name: sum(k.dataset == name for k in ranked) for name in SETS}
    x = np.vstack([matrix(k, rank_names) for k in ranked])
    y = np.concatenate([k.y for k in ranked])
    w = np.concatenate([np.full(len(k.y), 1.0 / (per_set[k.dataset] * len(k.y))) for k in ranked])
    rank_weights, rank_bias = _logistic(x, y, w, c)
    model = Model(
        rank_weights, rank_bias, np.zeros(len(decision_names)), 0.0, 0.0, rank_names,
        decision_names,
    )  # fmt: skip
    tops, labels, groups = [], [], []
    for k in claims:
        if not len(k.y):
            continue
        logit = matrix(k, rank_names) @ rank_weights + rank_bias
        tops.append(model.decision_x(k, logit)[int(np.argmax(logit))])
        labels.append(k.answerable)
        groups.append((k.dataset, k.answerable))
    sizes = {g: groups.count(g) for g in set(groups)}
    weights = np.array([1.0 / sizes[g] for g in groups])
    model.decision_weights, model.decision_bias = _logistic(
        np.array(tops), np.array(labels), weights, c
    )
    model.threshold = choose_threshold(claims, model)
    return model


def best_probability(claim: Claim, model: Model) -> float:
    return float(model.score(claim)[1].max()) if len(claim.y) else 0.0


def choose_threshold(claims: list[Claim], model: Model, keep: float | None = None) -> float:
    """The decision threshold: as high as it can be while every training dev set keeps at
    least `keep` of its answerable claims (a wrong "no evidence" hides what the index has;
    every threshold below it rejects fewer unanswerable claims)."""
    keep = KEEP if keep is None else keep
    best: dict[str, list[float]] = {}
    for k in claims:
        if k.answerable:
            best.setdefault(k.dataset, []).append(best_probability(k, model))
    return min(float(np.quantile(v, 1 - keep, method="lower")) for v in best.values())


def measure(claims: list[Claim], model: Model) -> dict:
    """Per dev set: the top 10 candidates by the ranking model, and the decision;
    `fused` is the hand-set fusion's ranking of the same candidates."""
    out: dict[str, dict[str, Any]] = {}
    for k in claims:
        row = out.setdefault(
            k.dataset,
            {"n": 0, "hit@1": 0.0, "ndcg@10": 0.0, "fused hit@1": 0.0, "fused ndcg@10": 0.0,
             "kept": 0, "answerable": 0, "rejected": 0, "unrelated": 0},
        )  # fmt: skip
        decided = best_probability(k, model) >= model.threshold
        if k.unrelated:
            row["unrelated"] += 1
            row["rejected"] += not decided
        if not k.answerable:
            continue
        row["answerable"] += 1
        row["kept"] += decided
        row["n"] += 1
        logit = model.score(k)[0] if len(k.y) else np.zeros(0)
        for label, ranking in (("", logit), ("fused ", k.fused)):
            order = np.argsort(-ranking, kind="stable")[:TOP]
            relevant = k.y[order]
            row[f"{label}hit@1"] += bool(len(relevant) and relevant[0])
            dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(relevant) if r)
            ideal = sum(1 / math.log2(i + 2) for i in range(min(k.gold, TOP)))
            row[f"{label}ndcg@10"] += dcg / ideal if ideal else 0.0
    for row in out.values():
        for m in ("hit@1", "ndcg@10", "fused hit@1", "fused ndcg@10"):
            row[m] = round(row[m] / max(row["n"], 1), 3)
    return out


def held_out(folds: list[tuple[list[Claim], list[Claim]]], c: float, **names: Any) -> dict:
    """Fit (and choose the threshold) on each training part, measure on its held-out part."""
    merged: dict[str, dict[str, Any]] = {}
    for train, test in folds:
        for name, row in measure(test, fit(train, c, **names)).items():
            acc = merged.setdefault(name, {})
            for key, value in row.items():
                acc[key] = acc.get(key, 0) + (value * row["n"] if "@" in key else value)
    for row in merged.values():
        for key in list(row):
            if "@" in key:
                row[key] = round(row[key] / max(row["n"], 1), 3)
    return merged


def k_fold(claims: list[Claim], k: int = 5, seed: int = 0) -> list[tuple[list[Claim], list[Claim]]]:
    order = np.random.default_rng(seed).permutation(len(claims))
    chunks = np.array_split(order, k)
    folds = []
    for chunk in chunks:
        held = set(chunk.tolist())
        folds.append(
            (
                [c for i, c in enumerate(claims) if i not in held],
                [c for i, c in enumerate(claims) if i in held],
            )
        )
    return folds


def leave_one_set_out(claims: list[Claim]) -> list[tuple[list[Claim], list[Claim]]]:
    return [
        ([c for c in claims if c.dataset != name], [c for c in claims if c.dataset == name])
        for name in SETS
    ]


def table(title: str, rows: dict) -> str:
    lines = [
        f"{title}",
        "| set | hit@1 | nDCG@10 | hand-set hit@1 | hand-set nDCG@10 | kept | rejected |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['hit@1']:.3f} | {r['ndcg@10']:.3f} | {r['fused hit@1']:.3f} | "
            f"{r['fused ndcg@10']:.3f} | {r['kept']}/{r['answerable']} | "
            f"{r['rejected']}/{r['unrelated']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/factcheck/fit")
    parser.add_argument("--refresh", action="store_true", help="recompute the cached features")
    parser.add_argument("--c", type=float, default=0.3, help="inverse L2 strength")
    parser.add_argument("--pool", type=int, default=POOL, help=f"candidate pool (<= {WIDE})")
    parser.add_argument("--write", action="store_true", help=f"save the model to {MODEL_PATH}")
    args = parser.parse_args()
    claims = [narrowed(raw, args.pool) for raw in load(args.shared, args.cache, args.refresh)]
    model = fit(claims, args.c)
    print(table("fitted on every claim (in-sample)", measure(claims, model)))
    print()
    print(table("leave one dev set out", held_out(leave_one_set_out(claims), args.c)))
    print()
    print(table("5-fold by claim", held_out(k_fold(claims), args.c)))
    print()
    saved = {
        "ranking": {
            "features": list(FEATURES),
            "weights": [round(float(v), 6) for v in model.rank_weights],
            "bias": round(model.rank_bias, 6),
        },
        "decision": {
            "features": list(DECISION_FEATURES),
            "weights": [round(float(v), 6) for v in model.decision_weights],
            "bias": round(model.decision_bias, 6),
            "threshold": round(model.threshold, 4),
        },
        "fitted_on": {name: sum(c.dataset == name for c in claims) for name in SETS},
        "c": args.c,
        "keep": KEEP,
    }
    print(json.dumps(saved, indent=2))
    if args.write:
        MODEL_PATH.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
