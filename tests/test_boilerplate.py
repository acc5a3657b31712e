"""Boilerplate removal: page furniture never becomes a statement; reporting always stays."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core.boilerplate import (
    is_appeal,
    is_boilerplate,
    is_label,
    strip_prefix,
    strip_suffix,
)
from service.core.segment import MAX_STATEMENT_CHARS, segment
from service.types import Statement
from tests.conftest import SEEDS, requires_seeds
from tests.test_segment import check_invariants

# One family per group; each positive is furniture, each negative is reporting that looks close.
BOILERPLATE = {
    "donation": [
        "Support us on Patreon",
        "date 2025-02-28 Support us on Patreon",
        "Become a patron or see other ways to support.",
        "Become a Patron!",
        "Please donate today to keep our newsroom running.",
        "Support independent journalism with a monthly gift.",
        "Buy us a coffee",
        "Our work depends on readers like you.",
    ],
    "ad-blocker": [
        "Therefore, we kindly ask for your support by disabling your ad blocker.",
        "Please disable your adblocker to continue.",
        "Turn off your ad-blocker and reload the page.",
        "Ad blocker detected",
    ],
    "subscription": [
        "Please contact us for subscription options.",
        "The website contains only a portion of the news stories offered to subscribers.",
        "Subscribe to our newsletter for the latest updates.",
        "Sign up for the Morning Brief newsletter",
        "Subscribe now",
    ],
    "cookies": [
        "We use cookies to improve your experience.",
        "This website uses cookies.",
        "Accept all cookies",
        "Manage cookie preferences",
    ],
    "corrections": [
        "To suggest a correction or clarification, write to us here",
        "You can also highlight the text and press Ctrl + Enter",
        "Please leave your suggestions or corrections here",
    ],
    "links": [
        "Related:",
        "Related coverage: EU ministers meet in Brussels",
        "Read more: Kallas warns of Russian threat",
        "Read more",
        "Click here to read the full report.",
        "Share this article",
        "Share on Facebook",
        "Follow us on Telegram for updates.",
        "Story continues below advertisement",
        "© 2025 Reuters. All rights reserved.",
        "Watch the latest video at foxnews.com",
        "Watch the full video:",
    ],
    "navigation": [
        "Eng",
        "Esp",
        "Menu",
        "Log in",
        "Home | World | Business | Sport",
        "Skip to content",
        "Ask me anything",
        "Explore related questions",
        "No Comments",
        "LONDON",
        "NEW YORK",
    ],
    # Widget headings and comment/sign-in furniture of news templates (pages as scraped).
    "widgets": [
        "Most Viewed",
        "Popular on Example Daily",
        "More From Our Brands",
        "Previous Article",
        "Loading comments...",
        "Reuse this content",
        "Contact Us",
        "Search for:",
        "Leave a Reply Cancel reply",
        "You must be logged in to post a comment.",
        "Please fill out this field with a valid email address.",
        "Sign in to comment",
        "Follow Jane Doe on Twitter @janedoe",
        "Email: jdoe@example.com Twitter: @jdoe",
        "Rating:8.5Comments:0",
    ],
    "byline": [
        "By Jane Doe",
        "byYuri Zoria",
        "BY JOHN SMITH AND ANA LOPEZ",
        "By Jane Doe and John Smith",
        "By Anne-Marie van der Berg, Reuters",
        "Written by Jane Doe",
        "By AFP",
        "Reporting by Jane Doe; Editing by John Smith",
    ],
    "reading-time": [
        "2 minute read",
        "5 min read",
        "3-minute read",
        "Reading time: 4 minutes",
        "10 mins",
    ],
    "date": [
        "28/02/2025",
        "2025-02-28",
        "February 28, 2025 10:32am EST",
        "28 February 2025",
        "Updated: Fri, March 1, 2025 at 9:15 AM GMT",
        "March 1, 2025 by No Comments",
        "Published 12.03.2025 | 14:05",
    ],
    "credit": [
        "Screenshot from broadcast",
        "Photo: Reuters",
        "(Getty Images)",
        "(AP Photo/Evan Vucci)",
        "(Reuters)",
        "Image courtesy of the ministry",
        "Photograph: Jane Doe/AFP",
        "File photo via Reuters",
    ],
}

REPORTING = {
    "donation": [
        "Kallas said the EU would support Ukraine.",
        "The billionaire pledged to donate $1bn to rebuild the school.",
        "Ukraine hopes to become a member of NATO within a decade.",
        "He urged allies to support us in this fight, Zelensky told parliament.",
        "“Support us with weapons now,” Zelensky told parliament.",
        "Supporters of the bill rallied outside parliament on Monday.",
    ],
    "ad-blocker": [
        "Sales of ad blockers rose 30 percent last year, the report said.",
        "Google said it would pause ad blocker support in Chrome.",
    ],
    "subscription": [
        "The streaming service said the film is available to subscribers in 40 countries.",
        "More than a million people subscribed to the newspaper last year.",
        "The feature is for subscribers only, the company said.",
    ],
    "cookies": ["The regulator said the company's cookie policy broke EU law."],
    "corrections": ["The newspaper later published a correction."],
    "links": [
        "The video showed troops crossing the border.",
        "Video from the scene showed troops crossing the border.",
        "Share prices fell sharply on Monday.",
        "Watch officials said the footage was authentic.",
        "Related charges were filed against two officials in Kyiv.",
        "Readers of the report will find few surprises.",
    ],
    "navigation": [
        "Kallas slams Trump",
        "Kallas slams Trump over Russia talks in Washington",
        "EU Diplomat: Putin Uninterested in Peace as Trump, Zelenskyy Plan Deal",
        "Russia Insists the U.S. Had Promised NATO Would Not Expand After the Cold War",
        "Why are we in NATO?",
        "No.",
        "Talks resume",
        "Read the statement, she told reporters, and decide for yourself.",
    ],
    "widgets": [
        "Most viewed clips came from the border crossing.",
        "Popular support for the treaty fell to 40 percent.",
        "Contact with the crew was lost at 9 pm.",
        "Search teams found the hikers on Sunday.",
        "She signed in at the embassy before the talks.",
        "Follow-up talks on Twitter's sale are planned.",
        "The rating agency cut the bonds to junk.",
    ],
    "byline": [
        "By the time he arrived, the talks had collapsed.",
        "By March 2025, prices had doubled.",
        "By Thursday, the ceasefire had collapsed.",
        "BYD unveils a new electric car in Berlin.",
        "Bystanders said the convoy never stopped.",
    ],
    "reading-time": [
        "It took a 2 minute read of the memo to see the problem.",
        "The meeting lasted 45 minutes.",
    ],
    "date": [
        "On February 28, 2025 the talks collapsed.",
        "February 28, 2025 was the day the talks collapsed.",
        "March on Washington draws thousands",
        "Russia annexed four regions in September 2022.",
    ],
    "credit": [
        "Kaja Kallas speaking at the European Defense Agency.",
        "Images from the drone showed the bridge had collapsed, officials said.",
        "Photo evidence was presented to the court on Monday.",
        "(Kallas declined to comment)",
        "(The talks resume on Friday.)",
    ],
}


def cases(table: dict[str, list[str]]) -> list[object]:
    return [pytest.param(s, id=f"{family}:{s[:40]}") for family, ss in table.items() for s in ss]


@pytest.mark.parametrize("sentence", cases(BOILERPLATE))
def test_boilerplate_is_recognised(sentence: str) -> None:
    assert is_boilerplate(sentence)


@pytest.mark.parametrize("sentence", cases(REPORTING))
def test_reporting_is_kept(sentence: str) -> None:
    assert not is_boilerplate(sentence)
    assert strip_prefix(sentence) == 0
    assert segment(sentence) != []


@pytest.mark.parametrize(
    ("sentence", "kept"),
    [
        pytest.param(
            'Watch the latest video at foxnews.com"[Russia] … wants us to wait," she said.',
            '"[Russia] … wants us to wait," she said.',
            id="video-link-glued-to-quote",
        ),
        pytest.param(
            "Watch the latest video at www.example.co.uk/world  The talks resumed on Monday.",
            "The talks resumed on Monday.",
            id="video-link-with-path",
        ),
        pytest.param(
            "AdvertisementThe minister resigned on Friday.",
            "The minister resigned on Friday.",
            id="advertisement-glued",
        ),
        pytest.param(
            "Advertisement spending rose 5% last year.",
            "Advertisement spending rose 5% last year.",
            id="advertisement-as-a-word",
        ),
        pytest.param(
            "Watch videos of the attack circulated online.",
            "Watch videos of the attack circulated online.",
            id="watch-videos-as-words",
        ),
    ],
)
def test_glued_prefix_is_cut_off(sentence: str, kept: str) -> None:
    assert sentence[strip_prefix(sentence) :] == kept
    [statement] = segment(sentence)
    assert statement.text == kept
    assert sentence[statement.start : statement.end] == kept


def test_credit_suffix_is_cut_off() -> None:
    sentence = "Kallas arrives at the summit in Brussels (Getty Images)"
    assert sentence[: len(sentence) - strip_suffix(sentence)] == (
        "Kallas arrives at the summit in Brussels"
    )
    assert strip_suffix("Kallas told Agence France-Presse (AFP) it was false.") == 0
    assert strip_suffix("(Getty Images)") == 0  # a bare credit is dropped whole instead
    assert strip_suffix("She met the minister (photos of the meeting were not released)") == 0
    sentence = "Kallas in Kyiv on Monday (AP Photo/Evan Vucci)"
    assert sentence[: len(sentence) - strip_suffix(sentence)] == "Kallas in Kyiv on Monday"
    [statement] = segment(sentence)
    assert statement.text == "Kallas in Kyiv on Monday"


def test_appeal_takes_its_reader_addressing_paragraph_with_it() -> None:
    text = (
        "The ministers met on Monday. They agreed on sanctions.\n"
        "You could close this page. Or you could join our community. "
        "We keep our reporting free. Become a patron!\n"
        "We are an independent outlet. Please disable your ad blocker. Thank you!\n"
        "Kallas said: “We will support Ukraine.” Talks resume on Friday."
    )
    statements = segment(text)
    check_invariants(text, statements, MAX_STATEMENT_CHARS)
    assert [s.text for s in statements] == [
        "The ministers met on Monday.",
        "They agreed on sanctions.",
        "Kallas said: “We will support Ukraine.”",
        "Talks resume on Friday.",
    ]


def test_appeal_does_not_take_reported_speech_in_the_same_paragraph() -> None:
    text = '"We will not give up," she said. Subscribe to our newsletter. The talks ended.'
    assert [s.text for s in segment(text)] == [
        '"We will not give up," she said.',
        "The talks ended.",
    ]


def test_repeated_line_keeps_its_first_occurrence() -> None:
    text = (
        "Kallas slams Trump over talks\nByline goes here. The story starts.\n"
        "Kallas  slams Trump over talks\nThe story goes on."
    )
    statements = segment(text)
    check_invariants(text, statements, MAX_STATEMENT_CHARS)
    texts = [s.text for s in statements]
    assert texts.count("Kallas slams Trump over talks") == 1
    assert statements[0].start == 0
    assert "Kallas  slams" not in " ".join(texts)
    # Positions are renumbered and contexts are over the kept statements.
    assert [s.position for s in statements] == list(range(len(statements)))
    assert statements[-1].context_start == statements[-2].start


def test_repeated_sentences_inside_a_paragraph_are_not_repeats() -> None:
    text = "Prices rose. Prices rose. Prices rose."
    assert len(segment(text)) == 3


def test_raw_segmentation_is_still_available() -> None:
    text = "Eng\nEsp\nThe talks resumed on Monday.\n2 minute read"
    assert [s.text for s in segment(text, clean=False)] == [
        "Eng",
        "Esp",
        "The talks resumed on Monday.",
        "2 minute read",
    ]
    assert [s.text for s in segment(text)] == ["The talks resumed on Monday."]


@pytest.mark.parametrize(
    "text",
    [
        "Москва отвергла предложение. Переговоры продолжатся в пятницу.",
        "北京会谈将于周五继续。双方未达成协议。",
        "مذاکرات روز جمعه ادامه خواهد یافت.",
        "Die Gespräche werden am Freitag fortgesetzt. Von Anna Schmidt",
    ],
)
def test_non_english_text_is_kept(text: str) -> None:
    statements = segment(text, language="xx")
    check_invariants(text, statements, MAX_STATEMENT_CHARS)
    assert statements
    assert all(not is_boilerplate(s.text) for s in statements)


# Boilerplate fragments mixed into news-like text, glued and separated in every way: offsets
# must stay exact whatever is cut.
_FRAGMENTS = st.sampled_from(
    [
        "Watch the latest video at foxnews.com",
        "Advertisement",
        "byYuri Zoria",
        "2 minute read",
        "(Getty Images)",
        "Eng",
        "Support us on Patreon",
        "Please disable your ad blocker.",
        "Related:",
        "28/02/2025",
        '"[Russia] wants us to wait,"',
        "The minister said talks would resume.",
        "Kallas slams Trump",
        "You could close this page.",
        "Thank you!",
        "“We",
        "北京",
        "…",
    ]
)
_GLUE = st.sampled_from(["", " ", "\n", "\n\n", ". ", "\r\n", "  ", "\u00a0"])
_MIXED = st.lists(st.tuples(_FRAGMENTS, _GLUE), max_size=30).map(
    lambda parts: "".join(f + g for f, g in parts)
)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(_MIXED, st.text()))
def test_offsets_stay_exact_when_boilerplate_is_cut(text: str) -> None:
    statements = segment(text)
    check_invariants(text, statements, MAX_STATEMENT_CHARS)
    assert all(not is_boilerplate(s.text) for s in statements)


# --- the seed articles ------------------------------------------------------------------------

FORBIDDEN = re.compile(
    r"patreon|ad[\s-]?blocker|watch the latest video|minute read|byYuri|"
    r"subscription options|ctrl \+ enter|^(?:eng|esp|related:)$",
    re.IGNORECASE,
)


def seed_texts() -> list[tuple[str, str]]:
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(SEEDS.glob("*.txt"))]


@requires_seeds
@pytest.mark.seeds
def test_seed_statements_hold_no_boilerplate() -> None:
    texts = seed_texts()
    assert len(texts) >= 5
    # The files really hold the furniture this test looks for.
    assert sum(len(FORBIDDEN.findall(text)) for _, text in texts) >= 6
    for name, text in texts:
        statements = segment(text)
        check_invariants(text, statements, MAX_STATEMENT_CHARS)
        for s in statements:
            assert not FORBIDDEN.search(s.text), f"{name}: boilerplate kept: {s.text!r}"


@requires_seeds
@pytest.mark.seeds
def test_seed_quote_after_video_link_is_kept_from_the_quote() -> None:
    found = []
    for _, text in seed_texts():
        for match in re.finditer(r"Watch the latest video at \S+?\.com", text):
            quote_start = match.end()
            [statement] = [s for s in segment(text) if s.start <= quote_start < s.end]
            assert statement.start == quote_start
            assert statement.text.startswith('"[Russia]')
            assert text[statement.start : statement.end] == statement.text
            found.append(statement)
    assert found, "the seeds no longer carry a video link glued to a quote"


@requires_seeds
@pytest.mark.seeds
def test_seed_statement_count_drops_only_by_boilerplate() -> None:
    for name, text in seed_texts():
        raw = segment(text, clean=False)
        clean = segment(text)
        by_end = {s.end: s for s in clean}
        dropped = 0
        for s in raw:
            kept = by_end.get(s.end)
            if kept is not None and kept.start >= s.start:
                # Kept whole, or kept from where a glued boilerplate prefix ends.
                assert kept.start == s.start or is_boilerplate(text[s.start : kept.start])
                continue
            dropped += 1
            assert _is_furniture(s, text), f"{name}: reporting lost: {s.text!r}"
        assert len(clean) == len(raw) - dropped
        assert len(clean) > 10, f"{name}: only {len(clean)} statements left"


def _is_furniture(statement: Statement, text: str) -> bool:
    """Boilerplate itself, a line that is a lone label (an outlet's name, a menu entry), a
    repeat of an earlier line, or in one paragraph with an appeal."""
    if is_boilerplate(statement.text):
        return True
    if statement.text in [line.strip() for line in text.splitlines()] and is_label(statement.text):
        return True
    lines = [line.strip() for line in text.splitlines()]
    if lines.count(statement.text) > 1 and text.index(statement.text) < statement.start:
        return True
    [paragraph] = [line for line in text.splitlines() if statement.text in line]
    return any(is_appeal(part) for part in re.split(r"(?<=[.!?])\s+", paragraph))


@pytest.mark.parametrize(
    ("line", "dropped"),
    [
        ("Buy Tickets", True),
        ("Teen Mom OG", True),
        ("Greenhouse Gas Emissions", True),
        ("Wilson Qualifies For Guangzhou", True),
        ("Kallas slams Trump", False),  # a headline: a lower-case word
        ("Talks resume", False),
        ("Putin Meets Xi In Beijing Today", False),  # five words or more
        ("Definitely Not.", False),  # ends like a sentence
        ("THANK YOU!", False),
    ],
)
def test_a_lone_title_case_phrase_is_a_label(line: str, dropped: bool) -> None:
    """A paragraph of one short title-case phrase is a menu entry or heading; the same words
    inside a paragraph of reporting stay."""
    text = f"The summit opened on Monday.\n{line}\nTalks went on until late."
    kept = [s.text for s in segment(text)]
    assert (line not in kept) is dropped, kept
    assert kept[0] == "The summit opened on Monday." and kept[-1] == "Talks went on until late."
    inline = f"The summit opened on Monday and {line.rstrip('.!')} was heard."
    assert [s.text for s in segment(inline)] == [inline]


def test_a_scraped_page_keeps_its_reporting_and_drops_its_furniture() -> None:
    """A news page as a scraper returns it, written here: every line of menu, widget and
    comment furniture goes, every sentence of the report stays."""
    furniture = [
        "Skip to content",
        "News",
        "Most Viewed",
        "Sign in",
        "Search Jobs",
        "Popular on Example Daily",
        "Loading comments...",
        "You must be logged in to post a comment.",
        "Reuse this content",
        "Follow Ana Silva on Twitter @anasilva",
    ]
    report = [
        "Tidal power plant opens in Brittany",
        "The barrage on the river estuary began feeding the grid on Tuesday.",
        "Its operator said the turbines would supply 40,000 homes.",
        "Fishermen had opposed the project for a decade.",
    ]
    page = "\n".join(furniture[:6] + report[:2] + furniture[6:8] + report[2:] + furniture[8:])
    assert [s.text for s in segment(page)] == report
