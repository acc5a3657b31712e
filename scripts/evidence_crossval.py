"""The evidence model's fit and its held-out figures, for scripts/fit_evidence.py: logistic
regressions (ranking, then decision) over cached claims, the threshold the training claims
choose, and the measures per dev set (in-sample, leave one set out, 5-fold by claim)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.core.evidence import claim_probability
from service.core.features import DECISION_FEATURES, FEATURES, decision_inputs, features
from service.evaluation.run import DEV_SETS

KEEP = 0.99  # share of each dev set's answerable claims the threshold must keep
# The ranking's weight of a dev set grows with the square root of its claims: equal weights
# let the seeds' 24 claims count as much as Climate-FEVER's 637, equal claims would let
# Climate-FEVER decide alone. Chosen on the held-out figures (docs/quality.md, Round 4).
SET_WEIGHT_POWER = 0.5
TOP = 10
SETS = DEV_SETS


@dataclass
class Claim:
    dataset: str
    answerable: bool
    unrelated: bool
    gold: int
    cols: dict[str, np.ndarray]  # every feature by name (service.core.features.columns)
    y: np.ndarray
    fused: np.ndarray  # the hand-set fusion (before this model), to compare rankings


def matrix(claim: Claim, names: tuple[str, ...]) -> np.ndarray:
    return features(claim.cols, names) if len(claim.y) else np.zeros((0, len(names)))


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
    threshold. In the ranking a claim weighs its set's claims' count to -SET_WEIGHT_POWER
    (so a set its count to 1 - SET_WEIGHT_POWER: at 1 every set weighs the same), in the
    decision every set the same; within one, every claim (ranking) or each class (decision)
    does."""
    ranked = [k for k in claims if k.answerable and len(k.y)]
    per_set = {name: sum(k.dataset == name for k in ranked) for name in SETS}
    x = np.vstack([matrix(k, rank_names) for k in ranked])
    y = np.concatenate([k.y for k in ranked])
    share = {name: count**-SET_WEIGHT_POWER for name, count in per_set.items() if count}
    w = np.concatenate([np.full(len(k.y), share[k.dataset] / len(k.y)) for k in ranked])
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


def evidence_probability(claim: Claim, model: Model) -> float:
    """The claim's evidence probability as the check computes it (claim_probability), except
    that near-copies are not merged: the cache keeps no vectors."""
    return claim_probability(model.score(claim)[1]) if len(claim.y) else 0.0


def choose_threshold(claims: list[Claim], model: Model, keep: float | None = None) -> float:
    """The decision threshold: as high as it can be while every training dev set keeps at
    least `keep` of its answerable claims (a wrong "no evidence" hides what the index has;
    every threshold below it rejects fewer unanswerable claims)."""
    keep = KEEP if keep is None else keep
    best: dict[str, list[float]] = {}
    for k in claims:
        if k.answerable:
            best.setdefault(k.dataset, []).append(evidence_probability(k, model))
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
        decided = evidence_probability(k, model) >= model.threshold
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
