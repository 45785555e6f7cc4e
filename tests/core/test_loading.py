"""Reading data files: formats, fingerprints and clear refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from vigil.data.loading import load_dataset
from vigil.data.writing import write_table
from vigil.errors import InvalidInput

FRAME = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_each_format_round_trips(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    write_table(FRAME, path)
    dataset = load_dataset(path)
    assert dataset.frame["a"].tolist() == [1, 2, 3]
    assert dataset.frame["b"].tolist() == ["x", "y", "z"]
    assert dataset.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_content_same_fingerprint(tmp_path: Path) -> None:
    first, second = tmp_path / "one.csv", tmp_path / "two.csv"
    write_table(FRAME, first)
    write_table(FRAME, second)
    assert load_dataset(first).fingerprint == load_dataset(second).fingerprint


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_dataset(tmp_path / "nope.csv")


def test_unknown_format_lists_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(InvalidInput, match=r"Unknown data format '\.xlsx'.*\.csv"):
        load_dataset(path)


def test_unreadable_content_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(InvalidInput, match="is not valid parquet"):
        load_dataset(path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("")
    with pytest.raises(InvalidInput, match="is empty"):
        load_dataset(path)


def test_a_folder_is_not_a_data_file(tmp_path: Path) -> None:
    folder = tmp_path / "data.csv"
    folder.mkdir()
    with pytest.raises(InvalidInput, match="is not a file"):
        load_dataset(folder)


def test_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a\n1\n")

    # Tests run as root in CI, where chmod 000 does not stop a read; fail the read itself.
    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InvalidInput, match="cannot be read: Permission denied"):
        load_dataset(path)


def test_write_refuses_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown suffix"):
        write_table(FRAME, tmp_path / "out.xls")
    assert list(tmp_path.iterdir()) == []
