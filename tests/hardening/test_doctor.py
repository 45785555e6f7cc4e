"""``vigil doctor``: findings on the database, every artifact and the secret; exit 1 on damage."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from vigil.cli.main import main
from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.security import Caller
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def healthy_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Returns a home with two versions of a model."""
    home = tmp_path_factory.mktemp("doctor") / "home"
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    churn = load_dataset(EXAMPLES / "churn.csv")
    churn = replace(churn, frame=churn.frame.head(100))
    spec = TrainSpec(target="churned", algorithm="random_forest", params={"n_estimators": 3})
    for _ in range(2):
        service.training.train(Caller(actor="test"), "churn", churn, spec)
    service.store.engine.dispose()
    return home


def _doctor(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    for name in [n for n in os.environ if n.startswith("VIGIL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VIGIL_HOME", str(home))
    capsys.readouterr()
    try:
        main(["doctor", "--json"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(capsys.readouterr().out)


def _artifact(home: Path) -> Path:
    return sorted((home / "artifacts").rglob("*.vigil"))[0]


def _tamper(home: Path) -> None:
    with _artifact(home).open("ab") as handle:
        handle.write(b"!")


def _remove(home: Path) -> None:
    _artifact(home).unlink()


def _new_secret(home: Path) -> None:
    (home / "secret.key").write_text("f" * 64)


def _open_secret(home: Path) -> None:
    (home / "secret.key").chmod(0o644)


def _damage_database(home: Path) -> None:
    with (home / "vigil.db").open("r+b") as handle:
        handle.write(b"\x00" * 100)


CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "tampered artifact": (_tamper, "artifacts", "its sha256 does not match"),
    "missing artifact": (_remove, "artifacts", "is missing from the artifact store"),
    "replaced secret": (_new_secret, "secret", "verifies none of the 2 artifacts' signatures"),
    "readable secret": (_open_secret, "secret", "can be read by other users"),
    "damaged database": (_damage_database, "database", "is not a readable SQLite file"),
}


def test_a_whole_installation_passes(
    healthy_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, found = _doctor(healthy_home, monkeypatch, capsys)
    assert code == 0 and found["ok"] is True
    assert [f["area"] for f in found["findings"]] == ["secret", "database", "artifacts"]
    assert "All 2 versions' artifacts are present" in found["findings"][2]["message"]


@pytest.mark.parametrize("case", list(CASES))
def test_each_kind_of_damage_is_a_finding_and_exit_1(
    case: str,
    healthy_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    damage, area, said = CASES[case]
    home = tmp_path / "home"
    shutil.copytree(healthy_home, home)
    damage(home)
    code, found = _doctor(home, monkeypatch, capsys)
    assert code == 1 and found["ok"] is False
    failed = [f for f in found["findings"] if not f["ok"]]
    assert [f["area"] for f in failed] == [area], failed
    assert said in failed[0]["message"]
    if area == "artifacts":
        assert "model churn version" in failed[0]["message"]
