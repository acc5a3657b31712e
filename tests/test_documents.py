"""service/documents/files.py: the file readers behind `factcheck ingest` and `factcheck eval`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.articles import ARTICLE_ID
from service.documents.files import Record, expand, read_records, safe_id


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows: list[Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def read(path: Path, default_source: str = "unknown") -> list[Record]:
    return list(read_records(path, default_source))


# --- safe_id ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("apollo-11_moon.1969", "apollo-11_moon.1969"),
        ("Reuters/2020 #1", "Reuters-2020-1"),
        ("  padded  ", "padded"),
        ("..hidden_", "hidden"),
        ("café au lait", "caf-au-lait"),
        ("000_ab11285a845dc367", "000_ab11285a845dc367"),
        ("", "article"),
        ("///", "article"),
        ("ééé", "article"),
        ("x" * 300, "x" * 128),
    ],
)
def test_safe_id(name: str, expected: str) -> None:
    assert safe_id(name) == expected


@given(st.text(max_size=300))
def test_safe_id_is_always_a_valid_article_id(name: str) -> None:
    assert re.match(ARTICLE_ID, safe_id(name))


# --- .txt ----------------------------------------------------------------------------------


def test_txt_without_sidecar_takes_title_from_first_line(tmp_path: Path) -> None:
    text = "\n\n  Honey never spoils  \nEdible honey was found in Egyptian tombs.\n"
    path = write(tmp_path / "honey jar.txt", text)
    [record] = read(path, default_source="Kitchen Desk")
    assert record.fields == {
        "id": "honey-jar",
        "title": "Honey never spoils",
        "source": "Kitchen Desk",
        "published_at": None,
        "text": text,
    }
    assert record.key == "honey jar"
    assert record.origin == str(path)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("", "notes"),  # nothing to take a title from: the file stem
        (" \n\t\n", "notes"),
        ("A" * 250 + "\nsecond line", "A" * 200),  # long first lines are cut
    ],
)
def test_txt_title_fallbacks(tmp_path: Path, text: str, title: str) -> None:
    [record] = read(write(tmp_path / "notes.txt", text))
    assert record.fields["title"] == title
    assert record.fields["text"] == text


def test_txt_with_sidecar_takes_its_row(tmp_path: Path) -> None:
    write(
        tmp_path / "metadata.jsonl",
        jsonl(
            [
                {
                    "file": "eiffel.txt",
                    "title": "Eiffel Tower history",
                    "source": "Paris Desk",
                    "published_at": "2020-01-02",
                },
                {"file": "other.txt", "title": "Not this one", "source": "Elsewhere"},
            ]
        )
        + "\n  \n",  # blank and whitespace-only lines in the sidecar are skipped
    )
    path = write(tmp_path / "eiffel.txt", "The tower was completed in 1889.\n")
    [record] = read(path, default_source="fallback")
    assert record.fields["title"] == "Eiffel Tower history"
    assert record.fields["source"] == "Paris Desk"
    assert record.fields["published_at"] == "2020-01-02"
    assert record.fields["id"] == "eiffel"


@pytest.mark.parametrize(
    ("row", "title", "source"),
    [
        ({"file": "a.txt", "title": None, "source": None}, "First line", "fallback"),
        ({"file": "a.txt", "published_at": "2025-02-28"}, "First line", "fallback"),
        ({"file": "b.txt", "title": "Other file"}, "First line", "fallback"),
        ({"title": "No file field"}, "First line", "fallback"),
    ],
)
def test_txt_sidecar_gaps_fall_back(
    tmp_path: Path, row: dict[str, Any], title: str, source: str
) -> None:
    write(tmp_path / "metadata.jsonl", jsonl([row]))
    [record] = read(write(tmp_path / "a.txt", "First line\nSecond line\n"), "fallback")
    assert (record.fields["title"], record.fields["source"]) == (title, source)
    expected_date = row.get("published_at") if row.get("file") == "a.txt" else None
    assert record.fields["published_at"] == expected_date


# --- .json ----------------------------------------------------------------------------------


def test_json_object_is_one_record(tmp_path: Path) -> None:
    article = {"id": "a1", "title": "T", "text": "Octopuses have three hearts."}
    path = write(tmp_path / "one.json", json.dumps(article))
    [record] = read(path, default_source="Desk")
    assert record.fields == {**article, "source": "Desk"}
    assert record.origin == f"{path}[0]"
    assert record.key == "a1"


def test_json_list_keeps_order_and_own_sources(tmp_path: Path) -> None:
    articles = [
        {"title": "A", "text": "First.", "source": "Own Desk"},
        {"title": "B", "text": "Second."},
    ]
    path = write(tmp_path / "many.json", json.dumps(articles))
    records = read(path, default_source="Default Desk")
    assert [r.fields["title"] for r in records] == ["A", "B"]
    assert [r.fields["source"] for r in records] == ["Own Desk", "Default Desk"]
    assert [r.origin for r in records] == [f"{path}[0]", f"{path}[1]"]
    assert [r.key for r in records] == [None, None]  # no id, no key: the content hash decides


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("scalar.json", '"just a string"', "expected a JSON object"),
        ("mixed.json", '[{"title": "A", "text": "x"}, 3]', "expected a JSON object"),
        ("broken.json", '{"title": ', "Expecting value"),
        ("broken.jsonl", '{"title": "A", "text": "x"}\n{nope}\n', "Expecting property name"),
        ("list-line.jsonl", '["not", "an", "object"]\n', "expected a JSON object"),
    ],
)
def test_malformed_files_raise_value_error(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        read(write(tmp_path / name, content))


# --- .jsonl --------------------------------------------------------------------------------


def test_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path: Path) -> None:
    rows = [
        {"id": "c1", "title": "C1", "text": "One."},
        {"id": "c2", "title": "C2", "text": "Two."},
    ]
    path = write(
        tmp_path / "c.jsonl", "\n" + json.dumps(rows[0]) + "\n  \n\n" + json.dumps(rows[1])
    )
    records = read(path)
    assert [r.fields["id"] for r in records] == ["c1", "c2"]
    assert [r.origin for r in records] == [f"{path}:2", f"{path}:5"]


@pytest.mark.parametrize(
    ("row", "expected_id", "expected_key"),
    [
        ({"key": "Reuters/2020 #1"}, "Reuters-2020-1", "Reuters/2020 #1"),
        ({"key": 42}, "42", "42"),
        ({"key": "dataset-key", "id": "own-id"}, "own-id", "dataset-key"),
        ({"id": "only-id"}, "only-id", "only-id"),
    ],
)
def test_key_becomes_a_safe_id_and_leaves_the_fields(
    tmp_path: Path, row: dict[str, Any], expected_id: str, expected_key: str
) -> None:
    path = write(tmp_path / "k.jsonl", jsonl([{**row, "title": "T", "text": "Body."}]))
    [record] = read(path)
    assert record.fields["id"] == expected_id
    assert record.key == expected_key
    assert "key" not in record.fields  # the API's strict schema would reject it


# --- unsupported files and expand --------------------------------------------------------


@pytest.mark.parametrize("name", ["notes.csv", "README.md", "corpus.jsonl.gz", "noext"])
def test_unsupported_suffix_raises(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "whatever\n")
    with pytest.raises(ValueError, match="unsupported file type") as info:
        read(path)
    assert repr(path.suffix) in str(info.value)  # the caller names the file


def test_suffixes_are_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path / "LOUD.TXT", "Headline\nA statement here.\n")
    [record] = read(path)
    assert record.fields["id"] == "LOUD"
    assert expand([tmp_path]) == [path]


def test_expand_takes_ingestible_files_from_folders(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    for name in [
        "b.txt",
        "a.json",
        "c.jsonl",
        "metadata.jsonl",
        "README.md",
        "notes.csv",
        "sub/d.txt",
        "sub/metadata.jsonl",
    ]:
        write(folder / name, "{}\n")
    (folder / "folder.txt").mkdir()  # a folder with an ingestible suffix is not a file
    assert expand([folder]) == [
        folder / "a.json",
        folder / "b.txt",
        folder / "c.jsonl",
        folder / "sub" / "d.txt",
    ]


def test_expand_keeps_named_files_in_order_even_unsupported(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write(folder / "x.txt", "x\n")
    named = [tmp_path / "z.jsonl", tmp_path / "notes.csv", tmp_path / "missing.json"]
    # Files named directly are passed on as they are, for read_records to accept or report.
    assert expand([named[0], folder, *named[1:]]) == [named[0], folder / "x.txt", *named[1:]]
