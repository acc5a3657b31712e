"""Who says it: outlet identity and the wire or interview an article credits.

Two ideas, kept apart as a fact-checker would:
- the *outlet* publishing an article. Two cuts of one outlet's story are one outlet when
  their source names designate one organisation ("Daily Bugle", "a rewrite of a Daily Bugle
  report", "DB" for "Daily Bugle");
- the *origin* an article credits for its material ("told AFP", "in an interview with Agence
  France-Presse", a "(Reuters) -" dateline). Two outlets carrying one wire interview are two
  outlets but one origin.

Nothing here names an outlet: names are compared by their words and by their initials.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from typing import TypeVar

# A proper name: an acronym, or one to five capitalised words (hyphens join parts of a word).
_CAPITALISED = r"[A-Z][\w'’]*(?:-[A-Z][\w'’]*)*"
_NAME = rf"(?:[A-Z]{{2,6}}\b|{_CAPITALISED}(?: {_CAPITALISED}){{0,4}})"
# Phrases by which an article credits where its material comes from.
_CREDIT_PATTERNS = [
    re.compile(rf"\btold (?:the )?({_NAME})"),
    re.compile(rf"\b(?:an?|the) (?:exclusive |joint )?interview (?:with|to) (?:the )?({_NAME})"),
    re.compile(rf"\(({_NAME})\)\s*[-–—]"),  # a wire dateline: "KYIV (AP) —"
    re.compile(rf"\b(?:reported by|according to|via) (?:the )?({_NAME})"),
]
_WORD = re.compile(r"[^\W_]+")

T = TypeVar("T")


def words(name: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(name)]


def initials(name: str) -> str:
    """ "Agence France-Presse" -> "afp": the acronym a multi-word name is cited by."""
    return "".join(w[0] for w in words(name))


def _contains(longer: list[str], shorter: list[str]) -> bool:
    n = len(shorter)
    return any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


@lru_cache(maxsize=65536)  # a check compares ~140 pairs, mostly the same outlets again
def same_name(a: str, b: str) -> bool:
    """Do two names designate one organisation? Equal words; the shorter's words (two or
    more) standing in the longer in order; or one is an acronym of the other's initials."""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return False
    if wa == wb:
        return True
    short, long_ = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    if len(short) >= 2 and _contains(long_, short):
        return True
    for acronym, other in ((a, b), (b, a)):
        if _is_acronym(acronym) and len(words(other)) >= 2 and initials(other) == acronym.lower():
            return True
    return False


def _is_acronym(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Z]{2,6}", name.strip()))


def same_outlet(source_a: str, source_b: str) -> bool:
    """One outlet: the source names designate one organisation. (Links are not compared: an
    aggregator's or syndicator's site carries many outlets.)"""
    return same_name(source_a, source_b)


def credits(text: str) -> list[str]:
    """The organisations an article's text credits for its material, in order of mention."""
    found: dict[str, str] = {}
    for pattern in _CREDIT_PATTERNS:
        for match in pattern.finditer(text):
            name = match.group(1).strip()
            found.setdefault(name.casefold(), name)
    return list(found.values())


def shared_origin(credits_a: Sequence[str], credits_b: Sequence[str]) -> str | None:
    """A name both articles credit (as written in the first), or None."""
    for a in credits_a:
        if any(same_name(a, b) for b in credits_b):
            return a
    return None


def count_groups(
    items: Sequence[T], same: Callable[[T, T], bool], key: Callable[[T], Hashable] | None = None
) -> int:
    """How many groups the items form when any two that are ``same`` are joined.

    ``key``, when given, is all that ``same`` reads of an item: of the items of one key that
    are ``same`` as themselves only one is compared (a check's ~30 corroborators come from a
    handful of outlets).
    """
    if key is not None:
        first: dict[Hashable, T] = {}
        rest: list[T] = []
        for item in items:
            k = key(item)
            if k not in first:
                first[k] = item
            elif not same(first[k], first[k]):
                rest.append(item)  # not joined even to its own kind: keep it apart
        items = [*first.values(), *rest]
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if root(i) != root(j) and same(items[i], items[j]):
                parent[root(j)] = root(i)
    return len({root(i) for i in range(len(items))})
