"""Segmentation: exact offsets on any text, and the statement boundaries news copy needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core.segment import MAX_STATEMENT_CHARS, segment
from service.types import Statement
from tests.conftest import SEEDS, requires_seeds

_WORD = re.compile(r"\w")


def check_invariants(text: str, statements: list[Statement], max_chars: int) -> None:
    """What every segmentation must satisfy, whatever the text."""
    assert [s.position for s in statements] == list(range(len(statements)))
    previous_end = 0
    for s in statements:
        assert text[s.start : s.end] == s.text
        assert previous_end <= s.start < s.end, "statements overlap or are out of order"
        previous_end = s.end
        assert _WORD.search(s.text), f"statement without a word character: {s.text!r}"
        assert s.text == s.text.strip(), f"statement with outer white space: {s.text!r}"
        assert len(s.text) <= max_chars
        assert s.context_start <= s.start < s.end <= s.context_end <= len(text)
        assert s.text in text[s.context_start : s.context_end]


# Text that looks like news copy: words, abbreviations, quotes and all kinds of breaks.
_TOKENS = st.sampled_from(
    [
        "The",
        "minister",
        "said",
        "talks",
        "would",
        "resume",
        "U.S.",
        "Dr.",
        "e.g.",
        "Mr.",
        "NATO’s",
        "“We",
        "will”",
        '"not"',
        "(see",
        "below)",
        "1.5",
        "2025",
        "...",
        "—",
        "-",
        "café",
        "Zürich",
        "e\u0301",
        "北京",
        "会谈",
        "😀",
        "!",
        "?",
        "•",
        "",
        "a",
        "i.e.",
        "‘ok’",
    ]
)
_SEPARATORS = st.sampled_from(
    [
        " ",
        " ",
        " ",
        "  ",
        ". ",
        "! ",
        "? ",
        ", ",
        "; ",
        ": ",
        "\n",
        "\r\n",
        "\n\n",
        "\t",
        " \n ",
        "\r",
        "\u00a0",
        "\u2028",
        ".\n",
        "…",
    ]
)
_NEWSY = st.lists(st.tuples(_TOKENS, _SEPARATORS), max_size=80).map(
    lambda parts: "".join(word + sep for word, sep in parts)
)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(), _NEWSY))
def test_offsets_are_exact_on_any_text(text: str) -> None:
    check_invariants(text, segment(text), MAX_STATEMENT_CHARS)


@settings(max_examples=100, deadline=None)
@given(text=_NEWSY, max_chars=st.integers(min_value=3, max_value=60))
def test_long_statements_are_cut_within_the_limit(text: str, max_chars: int) -> None:
    statements = segment(text, max_chars=max_chars)
    check_invariants(text, statements, max_chars)


def texts(text: str) -> list[str]:
    return [s.text for s in segment(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Kallas slams Trump\nNATO is the best guarantee, she said. Others disagree.",
            ["Kallas slams Trump", "NATO is the best guarantee, she said.", "Others disagree."],
            id="headline-without-period",
        ),
        pytest.param(
            "First paragraph here. Second sentence.\nSecond paragraph\nThird one!",
            ["First paragraph here.", "Second sentence.", "Second paragraph", "Third one!"],
            id="one-paragraph-per-line",
        ),
        pytest.param(
            "The minister said that the talks\nwould resume next week in Geneva. Nobody objected.",
            [
                "The minister said that the talks\nwould resume next week in Geneva.",
                "Nobody objected.",
            ],
            id="hard-wrapped-sentence",
        ),
        pytest.param(
            "Officials said the\r\ntalks would resume.\r\nNobody objected.",
            ["Officials said the\r\ntalks would resume.", "Nobody objected."],
            id="hard-wrapped-crlf",
        ),
        pytest.param(
            "The U.S. envoy met Dr. Smith in Washington. They talked for an hour.",
            ["The U.S. envoy met Dr. Smith in Washington.", "They talked for an hour."],
            id="abbreviations",
        ),
        pytest.param(
            "Mr. Jones met Mrs. Brown in St. Louis at 5 p.m. on Monday. Nothing came of it.",
            ["Mr. Jones met Mrs. Brown in St. Louis at 5 p.m. on Monday.", "Nothing came of it."],
            id="more-abbreviations",
        ),
        pytest.param(
            "“The alliance is the best guarantee we have. It has kept the peace for decades.\n"
            "“Anyone who says otherwise is wrong,” Kallas said.",
            [
                "“The alliance is the best guarantee we have.",
                "It has kept the peace for decades.",
                "“Anyone who says otherwise is wrong,” Kallas said.",
            ],
            id="quote-spanning-paragraphs",
        ),
        pytest.param(
            "“We will not accept this deal,\n“and we will say so loudly,” she said.",
            ["“We will not accept this deal,", "“and we will say so loudly,” she said."],
            id="quote-continued-in-lower-case",
        ),
        pytest.param(
            "Headline here\r\nFirst para. Second sentence.\r\n\r\nThird para.\r\n",
            ["Headline here", "First para.", "Second sentence.", "Third para."],
            id="crlf",
        ),
        pytest.param(
            "  Indented headline  \n\n\n   A spaced   paragraph.   \n",
            ["Indented headline", "A spaced   paragraph."],
            id="blank-lines-and-padding",
        ),
        pytest.param("", [], id="empty"),
        pytest.param("  \n\t\r\n \u00a0 ", [], id="white-space-only"),
        pytest.param("... !!! --- • “ ” ?\n— ;", [], id="punctuation-only"),
    ],
)
def test_statement_boundaries(text: str, expected: list[str]) -> None:
    statements = segment(text)
    assert [s.text for s in statements] == expected
    check_invariants(text, statements, MAX_STATEMENT_CHARS)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "“We will not accept this deal, and we will say so,\n“Never,” she added.",
            id="open-quote",
        ),
        pytest.param("Talks resume\nBody text follows here.", id="headline"),
        pytest.param("First line.\r\nSecond line.", id="crlf"),
    ],
)
def test_no_statement_crosses_a_paragraph_break(text: str) -> None:
    statements = segment(text)
    assert len(statements) == 2
    assert not any("\n" in s.text or "\r" in s.text for s in statements)


def test_context_is_the_neighbouring_statements() -> None:
    text = "One is first. Two is second. Three is third."
    one, two, three = segment(text)
    assert text[two.context_start : two.context_end] == text
    assert (one.context_start, one.context_end) == (one.start, two.end)
    assert (three.context_start, three.context_end) == (two.start, three.end)


def test_single_statement_is_its_own_context() -> None:
    [only] = segment("Just one sentence here.")
    assert (only.context_start, only.context_end) == (only.start, only.end)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(" ".join(f"word{i}" for i in range(400)), id="run-on-words"),
        pytest.param("x" * 2500, id="no-spaces"),
        pytest.param("Intro. " + "and then  " * 300 + "the end.", id="double-spaces"),
    ],
)
def test_over_long_sentence_is_cut(text: str) -> None:
    assert len(text) > MAX_STATEMENT_CHARS
    statements = segment(text)
    assert len(statements) >= 2
    assert all(len(s.text) <= MAX_STATEMENT_CHARS for s in statements)
    check_invariants(text, statements, MAX_STATEMENT_CHARS)
    # Nothing is lost: the pieces hold every non-space character of the text, in order.
    assert "".join("".join(s.text.split()) for s in statements) == "".join(text.split())


def test_custom_limit() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa."
    statements = segment(text, max_chars=12)
    assert [s.text for s in statements] == [
        "alpha beta",
        "gamma delta",
        "epsilon",
        "zeta eta",
        "theta iota",
        "kappa.",
    ]


def seed_files() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


@requires_seeds
@pytest.mark.seeds
def test_seed_articles_segment_cleanly() -> None:
    files = seed_files()
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        # The raw segmentation loses nothing; boilerplate removal is tested in test_boilerplate.
        statements = segment(text, clean=False)
        check_invariants(text, statements, MAX_STATEMENT_CHARS)
        assert len(statements) > 10, f"{path.name}: only {len(statements)} statements"
        # Every line with a word on it is covered by some statement.
        covered = "".join(s.text for s in statements)
        for line in text.splitlines():
            words = re.findall(r"\w+", line)
            assert all(w in covered for w in words), f"{path.name}: lost text in {line!r}"


@pytest.mark.parametrize("size", [50, 400])
def test_long_paragraphs_reach_pysbd_in_pieces_cut_at_sentence_ends(size: int) -> None:
    from service.core.segment import _chunks

    block = "The committee met on Monday. It said prices rose by 3.5 per cent in May. " * 40
    pieces = _chunks(block, size)
    assert "".join(piece for _, piece in pieces) == block
    assert all(len(piece) <= size for _, piece in pieces)
    assert all(block[offset : offset + len(piece)] == piece for offset, piece in pieces)
    assert all(piece.endswith(". ") for _, piece in pieces[:-1])
    statements = segment(block)
    assert [s.text for s in statements[:2]] == [
        "The committee met on Monday.",
        "It said prices rose by 3.5 per cent in May.",
    ]
    assert len(statements) == 80
