"""How one check is run (list length, decision, filters, the claim's date), from a request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.config import Config
from service.core.evidence import EvidenceModel, load_model, model_for
from service.core.index import Filters, timestamp

# A passage below the evidence decision is still listed, as related, when its cosine
# similarity reaches this (docs/quality.md).
DEFAULT_MIN_SCORE = 0.3


@dataclass(frozen=True)
class Options:
    """How one check is run: list length, the decision, the bar for related passages,
    filters and the claim's date."""

    top_k: int = 5
    min_score: float = DEFAULT_MIN_SCORE
    # None: the fitted threshold. A claim has evidence only when its evidence probability
    # (selection.evidence_probability) reaches it; 0 lists passages on min_score alone.
    min_probability: float | None = None
    filters: Filters = field(default_factory=Filters)
    claim_date: float | None = None  # POSIX seconds; evidence published later is flagged
    claim_day: str | None = None  # or a bare date: evidence from a later day is flagged
    # The evidence model fitted on the vectors the embedder computes (options_from picks it).
    model: EvidenceModel = field(default_factory=load_model, compare=False, repr=False)

    @property
    def decision(self) -> float:
        return self.model.threshold if self.min_probability is None else self.min_probability


def options_from(params: Mapping[str, Any], config: Config, backend: str) -> Options:
    """Validated check parameters -> search options, with the configured defaults and caps,
    and the evidence model fitted on `backend`'s vectors: the embedder's own (Embedder.backend),
    not the one configured, which falls back to torch when ONNX is unavailable.

    A bare date is a calendar day (inclusive), compared with the article's own date; a
    date-time is an instant.
    """
    top_k = min(params.get("top_k") or config.default_top_k, config.max_top_k)
    min_score = params.get("min_score")
    after, before = params.get("published_after"), params.get("published_before")
    claim = params.get("claim_date")
    sources = params.get("sources")
    return Options(
        top_k=top_k,
        min_score=config.min_score if min_score is None else min_score,
        min_probability=_probability(params.get("min_probability"), config),
        filters=Filters(
            sources=tuple(sources) if sources else None,
            published_after=_instant(after),
            published_before=_instant(before),
            after_day=_day(after),
            before_day=_day(before),
        ),
        claim_date=_instant(claim),
        claim_day=_day(claim),
        model=model_for(backend),
    )


def _day(value: str | None) -> str | None:
    return value if value is not None and len(value) == 10 else None


def _instant(value: str | None) -> float | None:
    return timestamp(value) if value is not None and len(value) > 10 else None


def _probability(value: float | None, config: Config) -> float | None:
    if value is not None:
        return value
    return config.min_probability if config.min_probability >= 0 else None
