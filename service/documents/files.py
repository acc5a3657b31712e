"""Read article records from files: .txt (with an optional metadata.jsonl beside them), .json
(one object or a list), .jsonl (one object a line) and .html/.htm (a web page, whose article
is extracted: service/documents/htmlpage.py). Flask-free; used by the CLI and eval."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.documents.charsets import UndecodablePage, decode_page
from service.documents.htmlpage import HTML_SUFFIXES, article_from_html

SUFFIXES = (".txt", ".json", ".jsonl", *HTML_SUFFIXES)
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Record:
    """One article as read from a file, before validation; `origin` says where it came from."""

    fields: dict[str, Any]
    origin: str
    key: str | None = None  # the dataset's own key for the article (eval gold refers to it)


def safe_id(name: str) -> str:
    """Turn a file stem or dataset key into a valid article id."""
    cleaned = _UNSAFE_ID.sub("-", name).strip("-._")[:128]
    return cleaned or "article"


def expand(paths: list[Path]) -> list[Path]:
    """Files named directly, and the ingestible files inside named folders, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.suffix.lower() in SUFFIXES and p.is_file() and p.name != "metadata.jsonl"
            )
        else:
            found.append(path)
    return found


def _sidecar(folder: Path) -> dict[str, dict[str, Any]]:
    """metadata.jsonl rows keyed by their `file` field (title, source, published_at...)."""
    meta = folder / "metadata.jsonl"
    if not meta.exists():
        return {}
    lines = meta.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return {row["file"]: row for row in rows if "file" in row}


def read_records(
    path: Path,
    default_source: str = "unknown",
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[Record]:
    """Yield the article records in one file.

    A bad line of a .jsonl file raises ValueError, unless `on_error` is given: then it is
    called with the line's origin (`path:number`) and the reason, and the rest is read.
    """
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        fields = article_from_html(_html_text(path), default_source=default_source)
        fields.setdefault("title", path.stem)
        yield Record(fields={"id": safe_id(path.stem), **fields}, origin=str(path), key=path.stem)
        return
    if suffix == ".txt":
        text = path.read_text(encoding="utf-8")
        meta = _sidecar(path.parent).get(path.name, {})
        first_line = next((line.strip() for line in text.splitlines() if line.strip()), path.stem)
        yield Record(
            fields={
                "id": safe_id(path.stem),
                "title": meta.get("title") or first_line[:200],
                "source": meta.get("source") or default_source,
                "published_at": meta.get("published_at"),
                "text": text,
            },
            origin=str(path),
            key=path.stem,
        )
        return
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for i, item in enumerate(data if isinstance(data, list) else [data]):
            yield _from_object(item, f"{path}[{i}]", default_source)
        return
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                origin = f"{path}:{number}"
                try:
                    record = _from_object(json.loads(line), origin, default_source)
                except ValueError as exc:  # JSONDecodeError is one
                    if on_error is None:
                        raise
                    on_error(origin, str(exc).removeprefix(f"{origin}: "))
                    continue
                yield record
        return
    raise ValueError(f"unsupported file type {path.suffix!r} (use {', '.join(SUFFIXES)})")


def _html_text(path: Path) -> str:
    """A saved page's text, read as UTF-8 and strictly, as the API reads a page that names no
    charset: a guess turned one Latin-1 byte into "CafĂŠ" (UndecodablePage, a ValueError)."""
    try:
        return decode_page(path.read_bytes())
    except UndecodablePage as exc:
        raise UndecodablePage(
            f"{exc} Pages are read as UTF-8: convert it first (iconv -f windows-1252 -t utf-8)."
        ) from exc


def _from_object(item: Any, origin: str, default_source: str) -> Record:
    if not isinstance(item, dict):
        raise ValueError(f"{origin}: expected a JSON object")
    fields = dict(item)
    key = fields.pop("key", None)
    if key is not None and "id" not in fields:
        fields["id"] = safe_id(str(key))
    fields.setdefault("source", default_source)
    return Record(
        fields=fields, origin=origin, key=str(key) if key is not None else fields.get("id")
    )


def each_record(
    path: Path, default_source: str, reject: Callable[[str, Any], None]
) -> Iterator[Record]:
    """The records of one file for a bulk load: a bad line, or a file that cannot be read at
    all, goes to `reject(origin, reason)` and the load goes on."""
    try:
        yield from read_records(path, default_source, on_error=reject)
    except (ValueError, OSError) as exc:
        reject(str(path), exc)


def count_records(path: Path) -> int:
    """Records a file holds, for a progress bar: a .jsonl's non-blank lines, else one."""
    if path.suffix.lower() != ".jsonl":
        return 1
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return 1
