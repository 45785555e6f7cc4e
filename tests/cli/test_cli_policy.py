"""``vigil models policy``: what ``--json`` prints is a document ``--file`` accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CHURN = Path(__file__).resolve().parents[2] / "examples" / "churn.csv"


@pytest.fixture
def churn(cli: Any) -> str:
    """Returns the name of a trained model whose policy was changed and paused."""
    trained = cli("train", CHURN, "--name", "churn", "--target", "churned", "--json")
    assert trained.code == 0, trained.stderr
    changed = cli(
        "models",
        "policy",
        "churn",
        "--set",
        "rollback.enabled=true",
        "--set",
        "min_feedback=20",
        "--pause",
        "--json",
    )
    assert changed.code == 0, changed.stderr
    return "churn"


def test_policy_file_takes_what_policy_json_printed_and_changes_nothing(
    cli: Any, churn: str, tmp_path: Path
) -> None:
    shown = cli("models", "policy", churn, "--json").json()
    document = tmp_path / "policy.json"
    document.write_text(json.dumps(shown))

    replaced = cli("models", "policy", churn, "--file", document, "--json")

    assert replaced.code == 0, replaced.stderr
    after = cli("models", "policy", churn, "--json").json()
    assert after["policy"] == shown["policy"]
    assert after["policy"]["rollback"]["enabled"] is True and after["policy"]["min_feedback"] == 20
    assert (after["paused"], after["next_run_at"]) == (shown["paused"], shown["next_run_at"])


def test_policy_file_still_takes_a_bare_policy(cli: Any, churn: str, tmp_path: Path) -> None:
    policy = cli("models", "policy", churn, "--json").json()["policy"]
    policy["min_feedback"] = 30
    document = tmp_path / "policy.json"
    document.write_text(json.dumps(policy))

    replaced = cli("models", "policy", churn, "--file", document, "--json")

    assert replaced.code == 0, replaced.stderr
    assert replaced.json()["policy"] == policy


def test_policy_file_refuses_a_field_beside_the_policy_that_json_never_prints(
    cli: Any, churn: str, tmp_path: Path
) -> None:
    shown = cli("models", "policy", churn, "--json").json()
    document = tmp_path / "policy.json"
    document.write_text(json.dumps({**shown, "colour": "red"}))

    refused = cli("models", "policy", churn, "--file", document)

    assert refused.code == 1
    assert refused.stderr.strip() == "error: Policy field colour is not a policy field."
    assert cli("models", "policy", churn, "--json").json()["policy"] == shown["policy"]
