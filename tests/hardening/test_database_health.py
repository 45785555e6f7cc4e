"""A damaged, truncated or emptied embedded database is refused in one sentence saying why."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from vigil.cli.main import main
from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.security import Caller
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PAGE = 4096


@pytest.fixture(scope="module")
def used_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Returns a home with a model and enough logged predictions to fill many pages."""
    home = tmp_path_factory.mktemp("used") / "home"
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    churn = load_dataset(EXAMPLES / "churn.csv")
    churn = replace(churn, frame=churn.frame.head(150))
    caller = Caller(actor="test:setup")
    spec = TrainSpec(target="churned", algorithm="random_forest", params={"n_estimators": 5})
    service.training.train(caller, "churn", churn, spec, deploy="always")
    rows = churn.frame.drop(columns=["churned"])
    for _ in range(4):
        service.predictions.predict(caller, "churn", rows)
    service.prediction_log.flush()
    service.close()
    service.store.engine.dispose()
    with sqlite3.connect(home / "vigil.db") as db:  # everything into the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return home


def _damage_tail(db: Path) -> None:
    # Random bytes over the last pages, where the newest prediction rows live.
    size = db.stat().st_size
    with db.open("r+b") as handle:
        handle.seek(size - 6 * PAGE)
        handle.write(random.Random(7).randbytes(6 * PAGE))


def _damage_header(db: Path) -> None:
    with db.open("r+b") as handle:
        handle.write(b"\x00" * 100)


def _truncate(db: Path) -> None:
    with db.open("r+b") as handle:
        handle.truncate(db.stat().st_size // 2)


def _empty(db: Path) -> None:
    db.write_bytes(b"")


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "tail": (_damage_tail, "is damaged"),
    "header": (_damage_header, "is not a readable SQLite file"),
    "truncated": (_truncate, "is truncated"),
    "zero bytes": (_empty, "is empty (0 bytes) but the artifact store holds models"),
}


def _damaged_copy(used_home: Path, tmp_path: Path, damage: Callable[[Path], None]) -> Path:
    home = tmp_path / "home"
    shutil.copytree(used_home, home)
    for leftover in ("vigil.db-wal", "vigil.db-shm"):
        (home / leftover).unlink(missing_ok=True)
    damage(home / "vigil.db")
    return home


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_HOME"] = str(home)
    return env


@pytest.mark.parametrize("case", list(DAMAGES))
def test_serve_refuses_to_start_naming_the_file_and_what_to_do(
    case: str, used_home: Path, tmp_path: Path
) -> None:
    damage, said = DAMAGES[case]
    home = _damaged_copy(used_home, tmp_path, damage)
    finished = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "serve", "--port", "0"],
        env=_clean_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1, finished.stderr
    assert "Traceback" not in finished.stderr, finished.stderr
    lines = [line for line in finished.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith(f"error: The database {home / 'vigil.db'} {said}")
    assert "restore it from a backup, or run `vigil doctor`" in lines[0]


@pytest.mark.parametrize("case", ["header", "truncated", "zero bytes"])
def test_a_command_refuses_too_without_a_traceback(
    case: str,
    used_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    damage, said = DAMAGES[case]
    home = _damaged_copy(used_home, tmp_path, damage)
    for name in [n for n in os.environ if n.startswith("VIGIL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VIGIL_HOME", str(home))
    with pytest.raises(SystemExit) as exited:
        main(["models", "list"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: The database {home / 'vigil.db'} {said}"), err


def test_an_empty_database_without_artifacts_is_a_first_start(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    home.mkdir()
    (home / "vigil.db").write_bytes(b"")
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    assert service.store.list_models("default") == []
    service.store.engine.dispose()
