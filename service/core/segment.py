"""Text -> statements (sentences) with exact [start, end) character offsets and context.

Every statement is a slice of the original text: ``text[start:end] == statement.text``. The
segmenter never rewrites text, so evidence can always be shown exactly where it stands.
"""

from __future__ import annotations

import re
import threading

import pysbd

from service.core import boilerplate
from service.types import Statement

# A statement needs at least one letter or digit: lone punctuation or bullets are not claims.
_WORD = re.compile(r"\w")
_SENTENCE_END = re.compile(r"""[.!?…:;"'”’)\]]\s*$""")
MAX_STATEMENT_CHARS = 1000
# pysbd's time grows about quadratically with its input (200 KB in one paragraph: ~40 s), so
# long paragraphs go to it in pieces cut at a sentence end; each piece stays cheap.
PYSBD_CHUNK_CHARS = 4000
_CHUNK_CUT = re.compile(r"[.!?…][\"'”’)\]]*\s+")


# pysbd's Segmenter keeps the text it is splitting on itself (segment() sets
# self.original_text, then finds each sentence in it): shared by request threads, one thread's
# text replaced another's mid-way and an article was stored with no statements. One a thread.
_local = threading.local()


def _segmenter(language: str) -> pysbd.Segmenter:
    # Keyed by the languages pysbd knows (~20), so that callers' language values cannot grow it.
    segmenters: dict[str, pysbd.Segmenter] = _local.__dict__.setdefault("segmenters", {})
    if language not in segmenters:
        try:
            segmenters[language] = pysbd.Segmenter(language=language, clean=False)
        except ValueError:  # unknown to pysbd: English rules are the safest fallback
            return _segmenter("en")
    return segmenters[language]


def blocks(text: str) -> list[tuple[int, int]]:
    """Split text into paragraph blocks on line breaks, as (start, end) offsets.

    News copy puts one paragraph (or one headline) per line, so a line break ends a block.
    A hard-wrapped line (no sentence end, next line starts in lower case) is joined with the
    next one so that its sentence is not cut in two.
    """
    spans: list[tuple[int, int]] = []
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n\r]+", text)]
    current: tuple[int, int] | None = None
    for start, end in lines:
        line = text[start:end]
        if not line.strip():
            continue
        if current is not None and _continues(text[current[0] : current[1]], line):
            current = (current[0], end)
            continue
        if current is not None:
            spans.append(current)
        current = (start, end)
    if current is not None:
        spans.append(current)
    return spans


def _continues(previous: str, line: str) -> bool:
    first = line.lstrip()[:1]
    return bool(first) and first.islower() and not _SENTENCE_END.search(previous)


def _sentences(block: str, language: str) -> list[str]:
    try:
        return [str(s) for s in _segmenter(language).segment(block)]
    except Exception:  # pysbd can fail on exotic input; a whole block is still a valid span
        return [block]


def _chunks(block: str, size: int = PYSBD_CHUNK_CHARS) -> list[tuple[int, str]]:
    """(offset, piece) pairs covering block, each at most size chars, cut after a sentence
    end where there is one, else at white space."""
    pieces = []
    start = 0
    while len(block) - start > size:
        window = block[start : start + size]
        ends = [m.end() for m in _CHUNK_CUT.finditer(window)]
        cut = ends[-1] if ends and ends[-1] > size // 4 else window.rfind(" ") + 1
        cut = cut if cut > 0 else size
        pieces.append((start, block[start : start + cut]))
        start += cut
    pieces.append((start, block[start:]))
    return pieces


def _locate(block: str, sentence: str, cursor: int) -> tuple[int, int] | None:
    """Find a segmenter sentence inside its block at or after cursor."""
    needle = sentence.strip()
    if not needle:
        return None
    found = block.find(needle, cursor)
    if found >= 0:
        return found, found + len(needle)
    # The segmenter may have normalised white space: match token by token instead.
    tokens = needle.split()
    pattern = re.compile(r"\s*".join(re.escape(t) for t in tokens))
    match = pattern.search(block, cursor)
    return (match.start(), match.end()) if match else None


def _split_long(start: int, end: int, text: str, limit: int) -> list[tuple[int, int]]:
    """Cut an over-long span at white space so that no statement exceeds limit chars."""
    spans = []
    while end - start > limit:
        cut = text.rfind(" ", start + 1, start + limit)
        cut = cut if cut > start else start + limit
        piece_end = cut  # a run of spaces before the cut stays out of the statement
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        spans.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        spans.append((start, end))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def segment(
    text: str, language: str = "en", max_chars: int = MAX_STATEMENT_CHARS, clean: bool = True
) -> list[Statement]:
    """Split text into statements with exact offsets and a context of the neighbouring ones.

    With clean (the default), page furniture that is not reporting (see boilerplate.py) is
    left out, and so is a paragraph that repeats an earlier one; positions and contexts are
    over the statements kept.
    """
    spans: list[tuple[int, int]] = []
    seen: set[str] = set()
    for block_start, block_end in blocks(text):
        if clean and boilerplate.seen_before(text[block_start:block_end], seen):
            continue
        # Line breaks left inside a block join hard-wrapped lines: pysbd would split on them
        # again, so it sees spaces instead (same length, so offsets are unchanged).
        block = re.sub(r"[\r\n]", " ", text[block_start:block_end])
        sentences: list[tuple[int, int]] = []
        for piece_start, piece in _chunks(block):
            cursor = 0
            for sentence in _sentences(piece, language):
                located = _locate(piece, sentence, cursor)
                if located is None:
                    continue
                cursor = located[1]
                offset = block_start + piece_start
                sentences.append(_trim(text, offset + located[0], offset + located[1]))
        if clean:
            sentences = boilerplate.clean_block(text, sentences)
        for start, end in sentences:
            spans.extend(_split_long(start, end, text, max_chars))
    spans = [(s, e) for s, e in spans if e > s and _WORD.search(text, s, e)]
    statements = []
    for i, (start, end) in enumerate(spans):
        context_start = spans[i - 1][0] if i > 0 else start
        context_end = spans[i + 1][1] if i + 1 < len(spans) else end
        statements.append(Statement(i, start, end, text[start:end], context_start, context_end))
    return statements
