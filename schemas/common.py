"""Base schema and reusable fields: strict (unknown fields rejected), marshmallow only.

What text may hold, in one place (openapi.yaml states the same rules as patterns, checked by
tests/test_input.py):
- C0 controls but tab and line breaks, and lone surrogates, are refused everywhere;
- C1 controls (U+0080-U+009F) are what Windows-1252 punctuation becomes when a page is
  decoded as Latin-1 ("we\\x92ve", "\\xe2\\x80\\xa6"): a text holding one is repaired by ftfy
  ("we\u2019ve", "\u2026") in every text field, and the few C1 codes Windows-1252 leaves
  undefined are removed. So a claim pasted from a mis-decoded page is checked as it was
  written, and a C1 terminal escape ("\\x9b31m") is never kept as one;
- DEL, the bidi embedding/override/isolate controls and the tag characters
  (U+E0000-U+E007F, invisible: they smuggle hidden text) are refused in short fields (ids,
  titles, outlets, claims): "abc\\u202egnp.exe" displays as "abcexe.png"; article text loses
  them instead (a scraped page may carry a stray one in a long text). The bidi *marks* (LRM,
  RLM, ALM: U+200E, U+200F, U+061C) stay: they reorder no letter, and RTL text needs them;
- one-line fields (titles, outlets, sources) refuse line breaks (CR, LF, U+2028, U+2029);
  a claim may hold one (pasted from a page), an article text many;
- a value of whitespace (and these controls) alone is blank, and refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import ftfy
import ftfy.fixes
import marshmallow as ma

# Character classes, written in the dialect Python's re and ECMAScript (the spec's) share.
C0 = r"\x00-\x08\x0B\x0C\x0E-\x1F"
DISGUISES = r"\x7F\u202A-\u202E\u2066-\u2069"  # DEL and the bidi controls
C1 = r"\x80-\x9F"  # repaired (see above)
INVISIBLE = r"\x7F-\x9F\u202A-\u202E\u2066-\u2069"  # both
# Refused (or removed) with INVISIBLE, but not in the spec's patterns: no escape spells U+E0000
# in both dialects, and written as itself it breaks every ECMAScript regex without the u flag
# (Swagger UI's among them), as a surrogate pair it breaks Python's.
TAGS = "\U000e0000-\U000e007f"
LINE_BREAKS = r"\n\r\u2028\u2029"  # U+0085 and VT/FF are C1 and C0: refused already
# ECMAScript's \s, spelt out: Python's \s differs (U+001C-U+001F, U+0085 in; U+FEFF out).
SPACE = r"\t\n\x0B\x0C\r \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF"
# The patterns openapi.yaml gives these fields (SHORT_TEXT: claims; ONE_LINE: titles, outlets);
# the validators below refuse exactly what they refuse (but name the reason), plus lone
# surrogates and the tag characters, which a spec pattern cannot spell.
SHORT_TEXT = f"^[^{C0}{DISGUISES}]*[^{SPACE}{C0}{INVISIBLE}][^{C0}{DISGUISES}]*$"
ARTICLE_TEXT = f"^[^{C0}]*[^{SPACE}{C0}{INVISIBLE}][^{C0}]*$"  # after INVISIBLE is removed
NOT_ONE_LINE = f"{C0}{DISGUISES}{LINE_BREAKS}"
ONE_LINE = f"^[^{NOT_ONE_LINE}]*[^{SPACE}{NOT_ONE_LINE}{C1}][^{NOT_ONE_LINE}]*$"

_C0_OR_SURROGATE = re.compile(f"[{C0}\ud800-\udfff]")
_INVISIBLE = re.compile(f"[{INVISIBLE}{TAGS}]")
_DISGUISE = re.compile(f"[{DISGUISES}{TAGS}]")
_C1 = re.compile(f"[{C1}]")
_BLANK = re.compile(f"[{SPACE}{INVISIBLE}{TAGS}]*")
_LINE_BREAK = re.compile(f"[{LINE_BREAKS}]")
_NOT_IN_URL = re.compile(f"[{SPACE}{C0}{INVISIBLE}]")


class StrictSchema(ma.Schema):
    """A schema that rejects fields it does not declare."""

    class Meta:
        unknown = ma.RAISE


class Pattern(ma.validate.Validator):
    """A regular expression the whole value must match, as in JSON Schema: Python's `$` also
    matches before a final newline, so `^id$` with re.match would let "id\\n" through."""

    def __init__(self, regex: str, error: str) -> None:
        self.regex = re.compile(regex)
        self.message = error

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self.message)
        return value


def no_control_chars(value: str) -> None:
    """NUL and other C0 controls (except tab and line breaks) never belong in text, nor do
    lone UTF-16 surrogates (JSON can spell them as \\ud800; no encoder can write them)."""
    if _C0_OR_SURROGATE.search(value):
        raise ma.ValidationError("Must not contain control characters or lone surrogates.")


def no_invisible_controls(value: str) -> None:
    """DEL, bidi and tag characters: they make a short text display as something it is not."""
    if _DISGUISE.search(value):
        raise ma.ValidationError(
            "Must not contain DEL, bidirectional control or tag characters "
            "(U+007F, U+202A-U+202E, U+2066-U+2069, U+E0000-U+E007F)."
        )


# Only the mis-decoding repairs: the text is otherwise kept as sent (quotes stay curly, widths,
# ligatures, line breaks, entities and normalisation untouched), so offsets and hashes of
# clean text never change.
_REPAIR = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    fix_surrogates=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)


def repaired(text: str) -> str:
    """A text with C1 controls was decoded with the wrong charset: ftfy undoes that; the C1
    codes Windows-1252 leaves undefined (U+0081, U+008D...) mean nothing and are removed.
    Text without C1 is returned as is (no heuristic runs on clean text)."""
    if not _C1.search(text):
        return text
    return _C1.sub("", ftfy.fix_text(text, _REPAIR))


def as_windows_1252(text: str) -> str:
    """Each C1 control read as its Windows-1252 punctuation, the undefined ones removed: the
    repair that cannot make a valid text invalid (it adds no space, break or control)."""
    return _C1.sub("", ftfy.fixes.fix_c1_controls(text))


class RepairedString(ma.fields.String):
    """A string validated as sent (so the spec's patterns and lengths hold), then repaired.

    ftfy may read the text as a character the field refuses: "\xe2\x80\xae" is UTF-8's
    U+202E read as Latin-1, "\xc0\x80" Java's NUL, "\xe2\x80\x83" a space alone. The spec
    takes such text (letters and C1 controls), so it is taken, but read as Windows-1252."""

    def deserialize(
        self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any
    ) -> Any:
        text = super().deserialize(value, attr, data, **kwargs)
        if not isinstance(text, str):
            return text
        fixed = repaired(text)
        if fixed != text:
            try:
                self._validate(fixed)
            except ma.ValidationError:
                fixed = as_windows_1252(text)
        return fixed


def one_line(value: str) -> None:
    """A title or an outlet is one line: a line break would forge a second one in a log or
    a listing."""
    if _LINE_BREAK.search(value):
        raise ma.ValidationError("Must be one line: no CR, LF, U+2028 or U+2029.")


def not_blank(value: str) -> None:
    if _BLANK.fullmatch(value):
        raise ma.ValidationError("Must not be blank.")


def short_text(max_chars: int, *, lines: bool = False, **kwargs: Any) -> ma.fields.String:
    """A short field: the strict rule above; one line unless `lines` (a claim)."""
    rules: list[Callable[[str], Any]] = [
        ma.validate.Length(min=1, max=max_chars),
        not_blank,
        no_control_chars,
    ]
    rules += [no_invisible_controls] if lines else [no_invisible_controls, one_line]
    return RepairedString(validate=rules, **kwargs)


class ArticleText(RepairedString):
    """An article's text: repaired, then invisible controls removed (offsets count in what is
    stored)."""

    def deserialize(
        self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any
    ) -> Any:
        text = super().deserialize(value, attr, data, **kwargs)
        return _INVISIBLE.sub("", text) if isinstance(text, str) else text


def article_text(**kwargs: Any) -> ArticleText:
    return ArticleText(validate=[not_blank, no_control_chars], **kwargs)


class WholeNumber(ma.fields.Integer):
    """An integer, also as JSON may spell one (46.0: JSON Schema's `integer` includes it)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._validated(value)


# Numbers as the spec spells them. int() and float() also take "1_0", fullwidth "５", "5\n"
# and " 5"; a query string's number is ASCII digits only, and a JSON body's is a number.
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_NUMBER_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class QueryInteger(ma.fields.Integer):
    """An integer in a query string: an optional minus, then ASCII digits."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value) is None:
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class QueryNumber(ma.fields.Float):
    """A number in a query string: a decimal in ASCII digits, with an optional exponent."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value) is None:
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class JsonNumber(ma.fields.Float):
    """A number in a JSON body: "0.5", a string, is not one (the spec says `type: number`)."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


# The spec's pattern for a URL beside `format: uri`: http or https, then a host.
HTTP_URL = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#:@]"
# Every field an answer echoes is bounded, so an answer's size is: an evidence item repeats
# its article's url, and a batch may hold 500 of them (browsers and CDNs cap URLs near 2 kB).
MAX_URL_CHARS = 2048


def http_url(value: str) -> None:
    """An absolute http(s) URL with a host, and nothing a URL cannot hold unescaped (nor a
    lone surrogate, which no encoder can write: stored, it broke every read that echoed it)."""
    no_control_chars(value)
    try:
        parts = urlsplit(value)
        good = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed [IPv6 literal
        good = False
    if not good or _NOT_IN_URL.search(value):
        raise ma.ValidationError("Use an absolute http or https URL with a host.")


_LEAP_SECOND = re.compile(r"(?<=T\d\d:\d\d):60")


class IsoDateTime(ma.fields.String):
    """An ISO 8601 date or date-time, kept as the normalised ISO string. Everything the spec's
    `format: date` / `date-time` (RFC 3339) allows is taken: lower-case t and z, and a leap
    second (read as :59, which Python's datetime cannot hold)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        raw = _LEAP_SECOND.sub(":59", raw.upper())
        try:
            if len(raw) == 10:
                return date.fromisoformat(raw).isoformat()
            parsed = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise ma.ValidationError("Not a valid ISO 8601 date or date-time.") from exc
        text = parsed.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
