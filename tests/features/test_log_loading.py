"""Raw log files load as one row per line, with the file's fingerprint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vigil.data.loading import load_dataset


def test_a_log_file_becomes_a_table_of_lines(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"first line\r\nsecond \xff line\n\nfourth\n")
    dataset = load_dataset(path)
    assert dataset.format == "lines"
    assert dataset.frame["line"].tolist() == ["first line", "second \ufffd line", "", "fourth"]
    assert dataset.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()


def test_json_lines_can_be_read_as_raw_lines_for_a_log_parser(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\nnot json\n')
    lines = load_dataset(path, lines=True)
    assert lines.format == "lines"
    assert lines.frame["line"].tolist() == ['{"a": 1}', "not json"]


def test_text_files_are_lines_too(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("one\ntwo")
    assert load_dataset(path).frame["line"].tolist() == ["one", "two"]
