"""Outlet identity and credited origins (service.core.outlets), on made-up names."""

from __future__ import annotations

import random
import sys
import threading

import numpy as np
import pytest

from service.core import provenance
from service.core.outlets import count_groups, credits, same_name, same_outlet, shared_origin
from service.store import Store
from service.types import Article, Hit, Statement


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Daily Bugle", "daily bugle", True),
        ("Daily Bugle", "Rewrite of a Daily Bugle Digital report (outlet unnamed)", True),
        ("WNP", "Wire News Press", True),  # an acronym of the other's initials
        ("Wire News Press", "WNP", True),
        ("Wire-News Press", "WNP", True),  # hyphens join words, each keeps its initial
        ("Daily Bugle", "Daily Planet", False),
        ("News", "Daily News", False),  # one shared word is not one organisation
        ("WNP", "Wire Press", False),
        ("Daily Bugle", "", False),
    ],
)
def test_same_name(a: str, b: str, same: bool) -> None:
    assert same_name(a, b) is same


def test_same_outlet_is_by_name_not_by_site() -> None:
    assert same_outlet("Daily Bugle", "A Daily Bugle Digital report")
    assert not same_outlet("Daily Bugle", "Evening Post")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The minister told WNP on Monday that talks would resume.", ["WNP"]),
        ("In an interview with Wire News Press, she said so.", ["Wire News Press"]),
        ("PORTVILLE (WNP) — Floods closed the port.", ["WNP"]),
        ("The mayor spoke at length, according to the Harbour Gazette.", ["Harbour Gazette"]),
        ("She told reporters the plan was final.", []),  # no proper name: nothing credited
        ("He told WNP and later told WNP again.", ["WNP"]),
    ],
)
def test_credits(text: str, expected: list[str]) -> None:
    assert credits(text) == expected


def test_shared_origin_matches_an_acronym_with_its_name() -> None:
    assert shared_origin(["WNP"], ["Harbour Gazette", "Wire News Press"]) == "WNP"
    assert shared_origin(["WNP"], ["Harbour Gazette"]) is None
    assert shared_origin([], ["WNP"]) is None


@pytest.mark.parametrize(
    ("items", "groups"),
    [([], 0), (["a"], 1), (["a", "A", "b"], 2), (["a", "b", "c"], 3), (["a", "A", "a"], 1)],
)
def test_count_groups(items: list[str], groups: int) -> None:
    assert count_groups(items, lambda x, y: x.casefold() == y.casefold()) == groups


def test_the_credit_cache_takes_many_threads_evicting_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under load a worker's threads read credits at once; with a tiny cache every read evicts,
    # and unlocked evictions of the same oldest key raised KeyError (a 500 to the caller).
    now = "2026-01-01T00:00:00Z"
    texts = {
        f"wire-{i}": f"In an interview with Wire News Press, mayor {i} said so." for i in range(40)
    }
    for article_id, text in texts.items():
        article = Article(article_id, article_id, "Desk", article_id, 1, now, now, text=text)
        statement = Statement(0, 0, len(text), text, 0, len(text))
        store.put_article(article, [statement], np.ones((1, 384), np.float32))
    monkeypatch.setattr(provenance, "CREDIT_CACHE_SIZE", 2)
    monkeypatch.setattr(provenance, "_credit_cache", {})
    articles = [store.get_article(article_id, with_text=False) for article_id in texts]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def read(offset: int) -> None:
        start.wait()
        try:
            for _ in range(300):
                for article in articles[offset::8]:
                    assert article is not None
                    assert provenance._credits(store, article) == ("Wire News Press",)
        except BaseException as exc:  # any error in a thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(k,)) for k in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(provenance._credit_cache) <= 2


@pytest.mark.parametrize("seed", range(20))
def test_count_groups_by_key_counts_as_every_pair(seed: int) -> None:
    """Collapsing items of one key (empty names are not one outlet, even with themselves)
    counts the same groups as comparing every pair."""
    rng = random.Random(seed)
    names = ["Reuters", "reuters", "Agence France-Presse", "AFP", "", "BBC News", "BBC", "  "]
    items = [rng.choice(names) for _ in range(rng.randint(0, 30))]
    assert count_groups(items, same_outlet, key=lambda s: s) == count_groups(items, same_outlet)


@pytest.mark.parametrize("seed", range(20))
def test_independent_origins_by_key_counts_as_every_pair(seed: int) -> None:
    """provenance() collapses corroborators of one (source, credits): the count is the one
    that comparing every pair of articles gives."""
    rng = random.Random(seed)
    sources = ["Reuters", "reuters", "AFP", "Agence France-Presse", "", "Harbour Gazette"]
    credit_sets = [(), ("WNP",), ("Wire News Press",), ("AFP",), ("WNP", "BBC")]
    now = "2026-01-01T00:00:00Z"
    statement = Statement(0, 0, 4, "text", 0, 4)

    def hit(i: int) -> Hit:
        article = Article(
            f"a{i}", "t", rng.choice(sources), f"h{i}", 1, now, now,
            credits=rng.choice(credit_sets),
        )  # fmt: skip
        return Hit(article, statement, "text")

    hits = [hit(i) for i in range(rng.randint(1, 30))]
    articles = [h.article for h in hits]

    def joined(a: Article, b: Article) -> bool:
        return same_outlet(a.source, b.source) or (
            shared_origin(a.credits or (), b.credits or ()) is not None
        )

    found = provenance.provenance(hits[0], [(h, 0.9) for h in hits[1:]], store=None)  # type: ignore[arg-type]
    assert found["independent_origins"] == count_groups(articles, joined)
