"""`factcheck check`'s readable answer: one block per passage, the passage highlighted inside
its context, with its outlet, title, date, link, whether it is likely evidence or only related
(and how likely), and the sources that corroborate it."""

from __future__ import annotations

import os
import textwrap
from typing import Any, TextIO

WIDTH = 100
INDENT = "   "
# Stand-ins for the highlight while wrapping (one column each, never in article text after
# validation, which refuses control characters), swapped for the real marks afterwards.
_OPEN, _CLOSE = "\x01", "\x02"
BOLD_YELLOW, RESET = "\x1b[1;30;43m", "\x1b[0m"
PLAIN_MARKS = ("»", "«")


def use_colour(choice: str, stream: TextIO) -> bool:
    """--color auto: colour on a terminal, unless NO_COLOR is set (no-color.org)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    return stream.isatty() and not os.environ.get("NO_COLOR")


def table(result: Any, colour: bool = False) -> str:
    """The check result as text: the answer in a sentence, then `rank. [evidence 93%]
    statement` (or `[related 12%]`) and where it stands."""
    lines = [f"claim: {result.claim}", "", result.summary, ""]
    if not result.evidence:
        # The decision compares the claim's evidence probability with min_probability.
        likely = result.evidence_probability
        if result.best_score is None or likely is None:
            lines.append(f"({result.reason}; nothing to compare)")
        elif likely >= result.min_probability:  # min_probability 0: the decision is off
            lines.append(
                f"({result.reason}; best similarity {result.best_score:.3f}, none reaches "
                f"min_score {result.min_score})"
            )
        else:
            lines.append(
                f"({result.reason}; best similarity {result.best_score:.3f}, the claim's "
                f"evidence probability {likely:.1%} under the {result.min_probability:.1%} "
                "needed)"
            )
    for rank, item in enumerate(result.evidence, start=1):
        lines += _passage(rank, item, colour)
    lines.append("")
    lines.append(
        f"{result.index.statements} statements in {result.index.articles} articles; "
        f"{result.took_ms:.1f} ms"
    )
    return "\n".join(lines)


def _passage(rank: int, item: Any, colour: bool) -> list[str]:
    hit = item.hit
    article, statement = hit.article, hit.statement
    date = (article.published_at or "undated")[:10]
    lines = [
        f"{rank}. [{'evidence' if item.is_evidence else 'related'} {item.probability:.0%}] "
        f"{statement.text}",
        f"{INDENT}{article.source} | {article.title} | {date} | "
        f"{article.id} chars {statement.start}-{statement.end}",
    ]
    lines += highlight(hit.context, statement.start - statement.context_start,
                       statement.end - statement.context_start, colour)  # fmt: skip
    if article.url:
        lines.append(f"{INDENT}{article.url}")
    if item.corroborated_by:
        others = "; ".join(f"{c.hit.article.source} ({c.similarity:.2f})"
                           for c in item.corroborated_by)  # fmt: skip
        lines += textwrap.wrap(f"corroborated by: {others}", WIDTH,
                               initial_indent=INDENT, subsequent_indent=INDENT)  # fmt: skip
    sources = item.independent_sources
    lines.append(f"{INDENT}{sources} independent source{'s' if sources != 1 else ''}")
    lines.append("")
    return lines


def highlight(context: str, start: int, end: int, colour: bool) -> list[str]:
    """The context wrapped to WIDTH with context[start:end] marked: reverse yellow on a
    terminal, »…« otherwise (so that a pipe or a log still shows where the passage is)."""
    marked = f"{context[:start]}{_OPEN}{context[start:end]}{_CLOSE}{context[end:]}"
    marked = " ".join(marked.split())  # the context's own line breaks would break the layout
    wrapped = textwrap.wrap(marked, WIDTH, initial_indent=INDENT, subsequent_indent=INDENT)
    opening, closing = (BOLD_YELLOW, RESET) if colour else PLAIN_MARKS
    out = []
    inside = False
    for line in wrapped:
        # On a terminal the colour is closed at each line end and reopened on the next line,
        # so that the indent is never painted.
        if colour and inside:
            line = line.replace(INDENT, INDENT + opening, 1)
        inside = (inside or _OPEN in line) and _CLOSE not in line
        line = line.replace(_OPEN, opening).replace(_CLOSE, closing)
        out.append(line + (RESET if colour and inside else ""))
    return out
