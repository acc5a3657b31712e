"""Synthetic newsroom corpora from a template grammar of our own (no third-party text).

Why a grammar: the benchmark needs corpora of any size (10k .. 1M statements) whose words
are distributed like news copy -- a few very common terms, a long tail of names and numbers --
so that BM25 postings and dense neighbourhoods behave as they would on a real archive, while
every sentence is reproducible from a seed and owned by the project.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

_SYLLABLES = [
    "ka",
    "ro",
    "mi",
    "ta",
    "ve",
    "lo",
    "san",
    "dor",
    "el",
    "im",
    "bra",
    "qu",
    "ist",
    "fen",
    "gal",
    "hor",
    "wen",
    "tis",
    "mar",
    "pol",
    "ur",
    "ash",
    "ber",
    "nov",
    "kel",
    "dra",
    "sim",
    "on",
    "ter",
    "vik",
    "lan",
    "zu",
    "ora",
    "pet",
    "myr",
    "cas",
    "hal",
    "bel",
    "rin",
    "gos",
    "ut",
]
_ORG_KINDS = (
    "ministry of health",
    "central bank",
    "national weather service",
    "space agency",
    "port authority",
    "electoral commission",
    "football federation",
    "energy regulator",
    "city council",
    "supreme court",
    "statistics office",
    "transport ministry",
    "university hospital",
    "wildlife trust",
    "mining company",
    "airline",
    "railway operator",
)
_TOPICS = {
    "economy": (
        "inflation",
        "interest rates",
        "unemployment",
        "exports",
        "the budget deficit",
        "fuel prices",
        "wages",
        "public debt",
        "housing costs",
        "factory output",
    ),
    "health": (
        "a measles outbreak",
        "vaccination rates",
        "hospital waiting lists",
        "a new malaria vaccine",
        "childhood obesity",
        "cholera cases",
        "life expectancy",
    ),
    "climate": (
        "record rainfall",
        "a heatwave",
        "sea level rise",
        "wildfires",
        "glacier loss",
        "carbon emissions",
        "drought",
        "coral bleaching",
        "floods",
    ),
    "science": (
        "a lunar probe",
        "a new telescope",
        "a fusion experiment",
        "a comet",
        "a satellite launch",
        "a fossil discovery",
        "a gene therapy trial",
    ),
    "politics": (
        "a snap election",
        "a coalition deal",
        "a tax reform",
        "a border treaty",
        "a corruption inquiry",
        "a referendum",
        "pension reform",
    ),
    "sport": (
        "the league final",
        "a doping case",
        "a marathon record",
        "the world cup bid",
        "a stadium project",
        "a transfer fee",
    ),
}
_VERBS = (
    ("announced", "announce"),
    ("reported", "report"),
    ("confirmed", "confirm"),
    ("denied", "deny"),
    ("investigated", "investigate"),
    ("approved", "approve"),
    ("rejected", "reject"),
    ("launched", "launch"),
    ("postponed", "postpone"),
    ("warned about", "warn about"),
    ("published figures on", "publish figures on"),
    ("cut spending on", "cut spending on"),
    ("raised its forecast for", "raise its forecast for"),
)
_CHANGES = ("rose", "fell", "climbed", "dropped", "doubled", "halved", "stayed flat")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_OUTLETS = tuple(
    f"Bench {d} Desk"
    for d in ("World", "Science", "Climate", "Business", "Sport", "Health", "Politics", "Tech")
)


@dataclass(frozen=True)
class Fact:
    """The slots one sentence was rendered from; a claim paraphrases the same slots."""

    org: str
    place: str
    person: str
    verb: tuple[str, str]
    topic: str
    change: str
    number: int
    unit: str
    day: int
    month: str
    year: int


class Grammar:
    """Renders facts as statements (news register) and as claims (short, plain register)."""

    def __init__(self, seed: int = 5) -> None:
        self.rng = random.Random(seed)
        # A long tail of invented proper names: most appear rarely, as in a real archive.
        self.places = [self._name(2, 3) for _ in range(4000)]
        self.people = [f"{self._name(2, 2)} {self._name(2, 3)}" for _ in range(6000)]

    def _name(self, lo: int, hi: int) -> str:
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(lo, hi))).title()

    def _zipf(self, items: list[str]) -> str:
        # Squaring a uniform draw skews towards the head of the list: a few names dominate.
        return items[int(len(items) * self.rng.random() ** 2)]

    def fact(self) -> Fact:
        r = self.rng
        topic = r.choice(list(_TOPICS))
        return Fact(
            org=r.choice(_ORG_KINDS),
            place=self._zipf(self.places),
            person=self._zipf(self.people),
            verb=r.choice(_VERBS),
            topic=r.choice(_TOPICS[topic]),
            change=r.choice(_CHANGES),
            number=r.choice((2, 3, 5, 7, 12, 15, 20, 25, 40, 60, 150, 300, 1200)),
            unit=r.choice(("percent", "million people", "billion dollars", "cases", "tonnes")),
            day=r.randint(1, 28),
            month=r.choice(_MONTHS),
            year=r.randint(1990, 2026),
        )

    def statement(self, f: Fact) -> str:
        forms = (
            "The {org} of {place} {verb} {topic} on {day} {month} {year}, officials said.",
            "On {day} {month} {year}, {person} of the {place} {org} said {topic} {change} by "
            "{number} {unit}.",
            "According to the {org} in {place}, {topic} {change} by {number} {unit} in {year}.",
            "{person}, who leads the {org} of {place}, {verb} {topic} after a {number}-day review.",
            "Figures released in {month} {year} show that {topic} in {place} {change} by "
            "{number} {unit}.",
            "The {org} {verb} {topic}, a decision {person} called overdue.",
        )
        return self.rng.choice(forms).format(**self._slots(f, f.verb[0]))

    def claim(self, f: Fact) -> str:
        forms = (
            "{place} {org} {verb} {topic} in {year}",
            "{topic} {change} {number} {unit} in {place}",
            "{person} says {topic} {change} in {year}",
            "The {org} of {place} will {verb_base} {topic}",
        )
        slots = self._slots(f, f.verb[0])
        text = self.rng.choice(forms).format(**slots)
        return text[0].upper() + text[1:]

    @staticmethod
    def _slots(f: Fact, verb: str) -> dict[str, object]:
        return {**f.__dict__, "verb": verb, "verb_base": f.verb[1]}


@dataclass(frozen=True)
class BenchArticle:
    """An article as POST /v1/articles takes it, with the facts of its statements."""

    fields: dict[str, object]
    facts: list[Fact]


def articles(total_statements: int, per_article: int = 10, seed: int = 5) -> Iterator[BenchArticle]:
    """Articles of ``per_article`` one-sentence lines until ``total_statements`` are made."""
    grammar = Grammar(seed)
    made = 0
    n = 0
    while made < total_statements:
        count = min(per_article, total_statements - made)
        facts = [grammar.fact() for _ in range(count)]
        lines = [grammar.statement(f) for f in facts]
        yield BenchArticle(
            fields={
                "id": f"bench-{seed}-{n:07d}",
                "title": f"Bench report {n}: {facts[0].topic} in {facts[0].place}",
                "source": _OUTLETS[n % len(_OUTLETS)],
                "published_at": f"{facts[0].year}-{1 + _MONTHS.index(facts[0].month):02d}-"
                f"{facts[0].day:02d}",
                "text": "\n".join(lines),
            },
            facts=facts,
        )
        made += count
        n += 1


def claims(count: int, seed: int = 7) -> list[str]:
    """Short claims in the corpus's vocabulary (their facts need not be in any corpus)."""
    grammar = Grammar(seed)
    # Same name lists as the corpus (seeded alike) so that claims name indexed places/people.
    corpus_names = Grammar(5)
    grammar.places, grammar.people = corpus_names.places, corpus_names.people
    return [grammar.claim(grammar.fact()) for _ in range(count)]
