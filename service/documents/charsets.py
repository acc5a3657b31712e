"""Which charsets a page may name, and how its bytes become text: the WHATWG Encoding
Standard's labels (what a browser would read), each mapped to the Python codec that decodes
it. Anything else (punycode, unicode_escape, base64, rot13...) is no text encoding a page can
be in: `unicode_escape` would even let a page spell any code point as "\\ud800". Flask-free;
used by POST /v1/articles (text/html) and `factcheck ingest` (.html files)."""

from __future__ import annotations

# Python codec -> its WHATWG labels, space-separated (https://encoding.spec.whatwg.org/#names-and-labels).
# As in browsers, "iso-8859-1", "latin1" and "us-ascii" are windows-1252, "gb2312" is read
# as gb18030, "shift_jis" as windows-31j.
_LABELS: dict[str, str] = {
    "utf-8": "utf-8 utf8 unicode-1-1-utf-8 unicode11utf8 unicode20utf8",
    "cp866": "ibm866 866 cp866 csibm866",
    "iso8859_2": "iso-8859-2 iso8859-2 iso88592 iso_8859-2 latin2 l2",
    "iso8859_3": "iso-8859-3 iso8859-3 iso88593 iso_8859-3 latin3 l3",
    "iso8859_4": "iso-8859-4 iso8859-4 iso88594 iso_8859-4 latin4 l4",
    "iso8859_5": "iso-8859-5 iso8859-5 iso88595 iso_8859-5 cyrillic",
    "iso8859_6": "iso-8859-6 iso8859-6 iso88596 iso_8859-6 arabic",
    "iso8859_7": "iso-8859-7 iso8859-7 iso88597 iso_8859-7 greek greek8",
    "iso8859_8": "iso-8859-8 iso8859-8 iso88598 iso_8859-8 hebrew visual iso-8859-8-i logical",
    "iso8859_10": "iso-8859-10 iso8859-10 iso885910 latin6 l6",
    "iso8859_13": "iso-8859-13 iso8859-13 iso885913",
    "iso8859_14": "iso-8859-14 iso8859-14 iso885914",
    "iso8859_15": "iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
    "iso8859_16": "iso-8859-16",
    "koi8_r": "koi8-r koi8_r koi koi8 cskoi8r",
    "koi8_u": "koi8-u koi8-ru",
    "mac_roman": "macintosh mac csmacintosh x-mac-roman",
    "cp874": "windows-874 dos-874 iso-8859-11 iso8859-11 iso885911 tis-620",
    "cp1250": "windows-1250 cp1250 x-cp1250",
    "cp1251": "windows-1251 cp1251 x-cp1251",
    "cp1252": (
        "windows-1252 cp1252 x-cp1252 iso-8859-1 iso8859-1 iso88591 iso_8859-1 "
        "latin1 l1 cp819 ibm819 us-ascii ascii csisolatin1"
    ),
    "cp1253": "windows-1253 cp1253 x-cp1253",
    "cp1254": "windows-1254 cp1254 x-cp1254 iso-8859-9 iso8859-9 latin5",
    "cp1255": "windows-1255 cp1255 x-cp1255",
    "cp1256": "windows-1256 cp1256 x-cp1256",
    "cp1257": "windows-1257 cp1257 x-cp1257",
    "cp1258": "windows-1258 cp1258 x-cp1258",
    "mac_cyrillic": "x-mac-cyrillic x-mac-ukrainian",
    "gb18030": "gb18030 gbk x-gbk gb2312 gb_2312 gb_2312-80 chinese",
    "big5hkscs": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
    "euc_jp": "euc-jp x-euc-jp cseucpkdfmtjapanese",
    "iso2022_jp": "iso-2022-jp csiso2022jp",
    "cp932": "shift_jis shift-jis sjis ms932 ms_kanji windows-31j x-sjis",
    "cp949": "euc-kr cseuckr korean ks_c_5601-1987 ksc5601 windows-949",
    "utf-16-be": "utf-16be unicodefffe",
    "utf-16-le": "utf-16le utf-16 unicode ucs-2 csunicode unicodefeff",
}
CODECS = {label: codec for codec, labels in _LABELS.items() for label in labels.split()}
DEFAULT = "utf-8"


class UndecodablePage(ValueError):
    """The page names a charset that is not a text encoding, or its bytes are not valid in
    the one it names (or in UTF-8, when it names none)."""


def decode_page(data: bytes, charset: str | None = None) -> str:
    """A page's text: in `charset` (a WHATWG label), else UTF-8; strict, never a guess."""
    label = (charset or DEFAULT).strip().lower()
    codec = CODECS.get(label)
    if codec is None:
        raise UndecodablePage(
            f"The charset {charset!r} is not a text encoding this service reads; send UTF-8 "
            "or name a WHATWG charset such as windows-1252 or shift_jis."
        )
    try:
        return data.decode(codec)
    except UnicodeError as exc:  # UnicodeDecodeError, and the plain UnicodeError of a few
        raise UndecodablePage(f"The page is not valid {label} text.") from exc
