"""Generated rows with extreme and malformed values, to every kind of model, over REST and the CLI.

The answer is always a prediction (200) or a refusal (422 / exit 1) in one
sentence naming where the bad value is; never a 500, never a traceback,
never a NumPy repr such as ``np.float64(inf)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hardening_support import ADMIN_KEY, KindModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from process_support import Server
from vigil.cli.main import main

# JSON cannot carry inf or NaN as numbers: as text they are what callers send.
NASTY_TEXT = st.sampled_from(
    ["inf", "1e999", "-Infinity", "NaN", "nan", "1e200", "-1e308", "", " ", "0x10", "1_000", "∞"]
)
VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e200, -1e308, 3.5e38, -3.5e38, 5e-324]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    NASTY_TEXT,
    st.text(max_size=12),
)
EXPLAIN = st.one_of(st.booleans(), st.sampled_from(["yes", 1, 0, "true", None]))
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
NUMPY_REPRS = ("np.float64(", "np.int64(", "np.bool_(", "np.str_(")


@st.composite
def mangled_rows(draw: st.DrawFn, model: KindModel) -> list[dict[str, Any]]:
    """Returns the model's sample rows with some fields replaced, dropped or added."""
    rows = [dict(r) for r in model.rows]
    columns = sorted(rows[0])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        row = rows[draw(st.integers(min_value=0, max_value=len(rows) - 1))]
        column = draw(st.sampled_from([*columns, "unexpected"]))
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            row.pop(column, None)
        else:
            row[column] = draw(VALUES)
    return rows


def _model(models_home: tuple[Path, list[KindModel]], name: str) -> KindModel:
    return next(m for m in models_home[1] if m.name == name)


KINDS = [
    "classifier",
    "regressor",
    "clusters",
    "outliers",
    "events-metrics",
    "events-requests",
    "events-logs",
]


def assert_refusal_is_one_clear_sentence(text: str) -> None:
    """Checks an error text: no traceback, no NumPy repr, and something it names."""
    assert "Traceback" not in text
    assert not any(r in text for r in NUMPY_REPRS), text


@pytest.mark.slow  # a model of every kind trained, a real server, 25 examples each
@pytest.mark.parametrize("kind", KINDS)
def test_rest_answers_200_or_422_on_any_row(
    kind: str, models_home: tuple[Path, list[KindModel]], kinds_server: Server
) -> None:
    model = _model(models_home, kind)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=kinds_server.url, headers=headers, timeout=60) as http:

        @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=HEALTH)
        @given(rows=mangled_rows(model), explain=EXPLAIN)
        def check(rows: list[dict[str, Any]], explain: Any) -> None:
            body = {"instances": rows, "explain": explain}
            answer = http.post(f"/v1/models/{model.name}/predict", json=body)
            assert answer.status_code in (200, 422), (answer.status_code, answer.text, rows)
            if answer.status_code == 422:
                problem = answer.json()
                assert_refusal_is_one_clear_sentence(problem["detail"])
                assert problem["errors"], problem

        check()
    assert not any("Traceback" in line for line in kinds_server.log_lines()), "\n".join(
        kinds_server.log_lines()[-60:]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_cli_exits_0_or_1_without_a_traceback(
    kind: str,
    models_home: tuple[Path, list[KindModel]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = _model(models_home, kind)
    monkeypatch.setenv("VIGIL_HOME", str(models_home[0]))
    for name in ("VIGIL_DATABASE_URL", "VIGIL_ARTIFACT_URI", "VIGIL_ADMIN_KEY", "VIGIL_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "rows.jsonl"

    @settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=HEALTH)
    @given(rows=mangled_rows(model), explain=st.booleans())
    def check(rows: list[dict[str, Any]], explain: bool) -> None:
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        capsys.readouterr()
        args = ["predict", model.name, str(data), "--json", *(["--explain"] if explain else [])]
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        assert code in (0, 1), (code, out.err, rows)
        assert_refusal_is_one_clear_sentence(out.err)
        if code == 1:
            assert out.err.startswith("error: ") and len(out.err.strip().splitlines()) == 1, out.err

    check()


def test_vigil_debug_shows_the_traceback_of_an_unexpected_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A database URL of an unknown dialect fails deep inside SQLAlchemy: unexpected.
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path))
    monkeypatch.setenv("VIGIL_DATABASE_URL", "nosuchdialect://x")
    monkeypatch.delenv("VIGIL_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["models", "list"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "VIGIL_DEBUG=1" in err and "Traceback" not in err
    monkeypatch.setenv("VIGIL_DEBUG", "1")
    with pytest.raises(Exception) as raised:
        main(["models", "list"])
    assert not isinstance(raised.value, SystemExit)
