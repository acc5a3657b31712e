"""Boilerplate that is not reporting: recognise it so it never becomes an indexed statement.

Scraped articles carry page furniture between the paragraphs: donation appeals, ad-blocker and
cookie notices, "watch the latest video at ..." links, bylines, reading times, date lines,
photo credits, language switchers and repeated headlines. Each family is one general pattern
(``service.core.boilerplate_patterns``) with the reason it is safe. The rules are
conservative: a sentence that merely mentions "support", "video" or "subscribers" in
reporting stays; the patterns look for the reader being addressed, or for a whole line that
is nothing but the furniture.

Nothing here rewrites text. The filter decides which sentence spans to keep and how many
characters of a glued-on prefix (or credit suffix) to skip, so offsets stay exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from service.core.boilerplate_patterns import (
    AD_PREFIX,
    APPEALS,
    CORRECTIONS,
    CREDIT_SUFFIX,
    HAS_CREDIT_WORD,
    LABEL_MAX_WORDS,
    LINE_MAX,
    LINE_RULES,
    LINKS,
    QUOTED_OR_REPORTED,
    READER_ADDRESS,
    SENTENCE_END,
    SHORT_TOKENS,
    UI_LABEL,
    UI_LABEL_MAX_WORDS,
    WATCH_PREFIX,
)


def strip_prefix(sentence: str) -> int:
    """How many characters of boilerplate glued to the start of sentence to skip."""
    skip = 0
    while True:
        lead = len(sentence) - skip - len(sentence[skip:].lstrip())
        for rule in (WATCH_PREFIX, AD_PREFIX):
            match = rule.match(sentence, skip + lead)
            if match and match.end() > skip + lead:
                skip = match.end()
                break
        else:
            return skip


def strip_suffix(sentence: str) -> int:
    """How many characters of photo credit at the end of sentence to drop ("... (Getty Images)")."""
    match = CREDIT_SUFFIX.search(sentence)
    if match is None or not HAS_CREDIT_WORD.search(match.group()):
        return 0  # "(AFP)" closing a sentence of reporting is a source, not a photo credit
    if not re.search(r"\w", sentence[: match.start()]):
        return 0
    return len(sentence) - len(sentence[: match.start()].rstrip())


def is_appeal(sentence: str) -> bool:
    """A donation, ad-blocker, subscription, cookie or thank-you appeal to the reader (in the
    site's voice: a quote or reported speech such as "“Support us now,” Zelensky said" is not)."""
    text = sentence.strip()
    return not QUOTED_OR_REPORTED.search(text) and any(rule.search(text) for rule in APPEALS)


def addresses_reader(sentence: str) -> bool:
    """Speaks to the reader in the site's own voice (not a quote, not reported speech)."""
    return bool(READER_ADDRESS.search(sentence)) and not QUOTED_OR_REPORTED.search(sentence)


def is_boilerplate(sentence: str) -> bool:
    """True when the sentence (or a whole line) is page furniture rather than reporting."""
    text = sentence[strip_prefix(sentence) :].strip()
    if not re.search(r"\w", text):
        return bool(sentence.strip())  # it was nothing but a prefix such as a video link
    if is_appeal(text) or CORRECTIONS.search(text) or LINKS.search(text):
        return True
    if len(text) > LINE_MAX:
        return False
    if any(rule.match(text) for rule in LINE_RULES):
        return True
    if SHORT_TOKENS.match(text):
        return True
    return bool(UI_LABEL.match(text)) and len(text.split()) <= UI_LABEL_MAX_WORDS


def is_label(block: str) -> bool:
    """A paragraph that is one short phrase in title case with no sentence end ("Buy
    Tickets", "Teen Mom OG", "Most Viewed"): a menu entry, a section heading or a link label.
    A headline with a lower-case word ("Kallas slams Trump"), one of five or more words, or
    anything ending like a sentence, stays."""
    text = block.strip()
    words = text.split()
    return (
        0 < len(words) <= LABEL_MAX_WORDS
        and not SENTENCE_END.search(text)
        and all(not w[:1].isalpha() or w[:1].isupper() for w in words)
    )


def seen_before(block: str, seen: set[str]) -> bool:
    """True for an exact repeat (up to white space and case) of an earlier block, such as a
    headline printed twice; records the block otherwise, so the first occurrence is kept."""
    key = " ".join(block.split()).casefold()
    if key in seen:
        return True
    seen.add(key)
    return False


def clean_block(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The sentence spans of one paragraph with boilerplate dropped and glued prefixes and
    credit suffixes cut off. Spans index text; the result is a sub-span of each kept span."""
    trimmed = []
    for start, end in spans:
        start += strip_prefix(text[start:end])
        end -= strip_suffix(text[start:end])
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            trimmed.append((start, end))
    sentences = [text[s:e] for s, e in trimmed]
    drop = [is_boilerplate(s) for s in sentences]
    if len(sentences) == 1 and is_label(sentences[0]):
        drop = [True]
    # An appeal takes its reader-addressing neighbours in the paragraph with it.
    for i, sentence in enumerate(sentences):
        if not is_appeal(sentence):
            continue
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(sentences) and addresses_reader(sentences[j]):
                drop[j] = True
                j += step
    return [span for span, dropped in zip(trimmed, drop, strict=True) if not dropped]
