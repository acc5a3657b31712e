"""The evidence model: how candidate passages rank, and how likely each is evidence.

Two logistic regressions over service.core.features, fitted on the dev sets by
scripts/fit_evidence.py (cross-validated figures in docs/quality.md): a ranking model of "this
passage is a gold passage" over every feature (the fitted fusion of the signals), and the
decision model of "the index holds evidence for this claim", read from one passage at a time
(DECISION_FEATURES). A passage's probability of being evidence is the product of the two
(the claim has evidence, and this passage is it); a claim has evidence when the chance that
one of its most likely passages is evidence (``claim_probability``) reaches the fitted
threshold. The weights ship beside this file, one file per
embedding backend whose vectors they were fitted on (`model_for`), and are applied with numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from service.core.features import (
    DECISION_FEATURES,
    FEATURES,
    Candidates,
    columns,
    decision_inputs,
    features,
)

MODEL_PATH = Path(__file__).with_name("evidence_model.json")
# The int8 model moves cosines by up to ~1%, enough to move a claim across the decision's
# threshold: its features get weights fitted on them (scripts/fit_evidence.py with
# FACTCHECK_EMBED_BACKEND=onnx-int8). Any other backend computes the float model's vectors.
MODEL_PATHS = {"onnx-int8": Path(__file__).with_name("evidence_model-int8.json")}


def model_path(backend: str) -> Path:
    """The weights fitted on `backend`'s vectors (the float model's for torch and onnx)."""
    return MODEL_PATHS.get(backend, MODEL_PATH)


def model_for(backend: str) -> EvidenceModel:
    return load_model(model_path(backend))


# The decision reads a claim's CLAIM_PASSAGES most likely passages, not only its best one:
# fitted on the best one alone, Climate-FEVER's answerable claims (several gold sentences,
# none sure) sat at the bar with WiCE's unanswerable ones (docs/quality.md, "Round 4").
CLAIM_PASSAGES = 10


def claim_probability(probabilities: Sequence[float] | np.ndarray) -> float:
    """P(some passage is evidence for the claim) from its passages' probabilities, the
    CLAIM_PASSAGES most likely taken as independent (noisy-OR): what the decision compares
    with its threshold (min_probability)."""
    p = np.sort(np.asarray(probabilities, dtype=np.float64))[::-1][:CLAIM_PASSAGES]
    return float(1.0 - np.prod(1.0 - p))


@dataclass(frozen=True)
class EvidenceModel:
    rank_weights: np.ndarray
    rank_bias: float
    decision_weights: np.ndarray
    decision_bias: float
    threshold: float

    def score(self, candidates: Candidates) -> tuple[np.ndarray, np.ndarray]:
        """(ranking logit, probability of being evidence), one of each per candidate."""
        cols = columns(candidates)
        logit = features(cols) @ self.rank_weights + self.rank_bias
        z = decision_inputs(cols, logit) @ self.decision_weights + self.decision_bias
        return logit, _sigmoid(z) * _sigmoid(logit)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> EvidenceModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    rank, decision = data["ranking"], data["decision"]
    if tuple(rank["features"]) != FEATURES or tuple(decision["features"]) != DECISION_FEATURES:
        raise ValueError(f"{path} was fitted on other features: rerun scripts/fit_evidence.py")
    if decision.get("claim_passages") != CLAIM_PASSAGES:  # its threshold is for another rule
        raise ValueError(f"{path} was fitted for another decision: rerun scripts/fit_evidence.py")
    return EvidenceModel(
        rank_weights=np.array(rank["weights"], dtype=np.float64),
        rank_bias=float(rank["bias"]),
        decision_weights=np.array(decision["weights"], dtype=np.float64),
        decision_bias=float(decision["bias"]),
        threshold=float(decision["threshold"]),
    )
