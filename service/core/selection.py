"""Which scored passages a check lists: the evidence decision, the bar for related passages,
and the other articles' passages that corroborate each one (near-copies take no slot)."""

from __future__ import annotations

import numpy as np

from service.core.evidence import CLAIM_PASSAGES, claim_probability
from service.core.index import Key
from service.core.options import Options
from service.core.scoring import Scores

# Statements of other articles at least this similar to an evidence passage corroborate it;
# from this similarity on they are near-copies, listed as corroboration, not given a slot.
CORROBORATION_MIN = 0.75
NEAR_COPY_MIN = 0.97
# A listed passage is called evidence when it is more likely evidence than not; the others
# are related (the decision's threshold is far lower: it only says the index holds some).
LIKELY = 0.5


def evidence_probability(ranked: list[tuple[Key, Scores]], similarity: np.ndarray) -> float:
    """The claim's evidence probability (service.core.evidence.claim_probability) over its
    ranked passages, a near-copy of a more likely one left out: wire copies of one sentence
    are one piece of evidence, not independent ones."""
    order = sorted(range(len(ranked)), key=lambda i: -ranked[i][1].probability)
    counted: list[int] = []
    for i in order:
        if len(counted) == CLAIM_PASSAGES:
            break
        if not counted or similarity[i, counted].max() < NEAR_COPY_MIN:
            counted.append(i)
    return claim_probability([ranked[i][1].probability for i in counted])


def select(
    ranked: list[tuple[Key, Scores]], similarity: np.ndarray, options: Options, likely: float
) -> list[tuple[int, bool, list[tuple[int, float]]]]:
    """Pick up to top_k passages, best first, each with whether it is likely evidence and
    the indices of the other articles' candidates that corroborate it; near-copies take no
    slot. ``similarity`` holds the passages' cosines with each other, ``likely`` the claim's
    evidence probability (``evidence_probability``).

    The decision: a claim gets evidence only if its evidence probability reaches
    min_probability. Then the list holds its most likely passage, the passages whose own
    probability reaches min_probability, and those whose cosine reaches min_score or, when
    their words carry them (fused score >= min_score), half of it: a passage found by its
    words can be listed, a word match unlike the claim not. min_probability 0 turns the
    decision off: the passages that reach min_score are listed, and only they.
    """
    decision = options.decision
    if not ranked or likely < decision:
        return []
    # Several passages, none at the bar alone, can carry the claim over it: the claim has
    # evidence, so its most likely passage is listed (an empty answer would say otherwise).
    # At 0 the decision is off: every probability reaches it, min_score alone lists.
    top = max(range(len(ranked)), key=lambda i: ranked[i][1].probability) if decision > 0 else -1
    chosen: list[tuple[int, bool, list[tuple[int, float]]]] = []
    covered: set[int] = set()
    for i, (key, scores) in enumerate(ranked):
        if len(chosen) == options.top_k:
            break
        if i in covered:
            continue
        at_bar = i == top or (decision > 0 and scores.probability >= decision)
        if not at_bar and not qualifies(scores, options.min_score):
            continue
        group = [
            (j, float(similarity[i, j]))
            for j, (other, _) in enumerate(ranked)
            if other[0] != key[0] and similarity[i, j] >= CORROBORATION_MIN
        ]
        group.sort(key=lambda item: -item[1])
        covered.update(j for j, sim in group if sim >= NEAR_COPY_MIN)
        chosen.append((i, scores.probability >= LIKELY, group))
    return chosen


def qualifies(scores: Scores, min_score: float) -> bool:
    """Listed as related below the decision: cosine at min_score, or words that carry it."""
    if scores.dense >= min_score:
        return True
    floor = min_score / 2 if min_score > 0 else min_score
    return scores.fused >= min_score and scores.dense >= floor
