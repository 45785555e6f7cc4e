"""``vigil serve`` refuses bad usage before starting anything."""

from __future__ import annotations

import pytest

from vigil.cli.main import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--port", "70000"], "--port must be between 0 and 65535"),
    ],
)
def test_bad_usage_exits_2_with_one_sentence(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", *args])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_bad_limit_in_the_environment_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_MAX_INSTANCES", "many")
    with pytest.raises(SystemExit) as exited:
        main(["serve"])
    assert exited.value.code == 2
    assert "VIGIL_MAX_INSTANCES" in capsys.readouterr().err
