"""The answer in words a fact-checker reads: how many passages are likely evidence, and how
many are only on the claim's subject. One wording for the API's `summary`, the check page and
`factcheck check`."""

from __future__ import annotations

from typing import Any

EMPTY_INDEX = "index_empty"
FILTERED_OUT = "no_statement_matches_filters"


def _passages(n: int) -> str:
    return f"{n} passage" if n == 1 else f"{n} passages"


def summary(result: Any) -> str:
    """One sentence for a CheckResult (or anything with its fields)."""
    strong = sum(1 for e in result.evidence if e.is_evidence)
    related = len(result.evidence) - strong
    if not result.evidence:
        if result.reason == EMPTY_INDEX:
            return "The index is empty: nothing to check this claim against yet."
        if result.reason == FILTERED_OUT:
            return "No indexed article matches the filters."
        closest = result.best_probability
        tail = f" (the closest passage is {closest:.0%} likely to be)" if closest else ""
        return f"No passage in the index is likely evidence for or against this claim{tail}."
    if not strong:
        best = max(e.probability for e in result.evidence)
        verb = "is" if related == 1 else "are"
        return (
            f"No passage is more likely evidence than not: {_passages(related)} {verb} on this "
            f"claim's subject (the best is {best:.0%} likely evidence)."
        )
    verb = "is" if strong == 1 else "are"
    text = f"{_passages(strong)} {verb} likely evidence for or against this claim"
    if related:
        more = "is" if related == 1 else "are"
        text += f"; {related} more {more} on its subject but probably not evidence"
    return text + "."
