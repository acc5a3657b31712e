"""Which articles a check may draw evidence from, and the date helpers the filters use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Filters:
    """Which articles a check may draw evidence from."""

    sources: tuple[str, ...] | None = None
    published_after: float | None = None  # POSIX seconds, inclusive
    published_before: float | None = None
    # Bare-date bounds (YYYY-MM-DD, inclusive) compare with the date an article was published
    # on where it was published, not with a UTC instant.
    after_day: str | None = None
    before_day: str | None = None

    @property
    def empty(self) -> bool:
        bounds = (self.published_after, self.published_before, self.after_day, self.before_day)
        return self.sources is None and all(b is None for b in bounds)


def local_day(value: str | None) -> str:
    """The calendar date an ISO 8601 date or date-time names, in its own time zone."""
    return value[:10] if value and len(value) >= 10 else ""


def timestamp(value: str | None) -> float:
    """POSIX seconds of an ISO 8601 date or date-time (dates at 00:00 UTC); NaN if none."""
    if not value:
        return float("nan")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return float("nan")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
