"""Hyperparameter schemas: defaults, coercion and refusals that name what is allowed."""

from __future__ import annotations

import pytest

from vigil.algorithms.catalogue import CATALOGUE, get_algorithm
from vigil.algorithms.params import Param, resolve_params
from vigil.errors import UsageError


def test_defaults_are_used_when_nothing_is_given() -> None:
    schema = [Param("n", "int", 3, minimum=1), Param("rate", "float", 0.5)]
    assert resolve_params(schema, {}, "algo") == {"n": 3, "rate": 0.5}


def test_strings_from_the_command_line_are_coerced() -> None:
    schema = [
        Param("n", "int", 3, minimum=1),
        Param("flag", "bool", False),
        Param("kind", "choice", "a", choices=("a", "b", True)),
        Param("depth", "int", None, minimum=1, nullable=True),
    ]
    resolved = resolve_params(
        schema, {"n": "7", "flag": "true", "kind": "True", "depth": "none"}, "algo"
    )
    assert resolved == {"n": 7, "flag": True, "kind": True, "depth": None}


def test_unknown_parameter_is_refused_with_the_accepted_names() -> None:
    with pytest.raises(
        UsageError, match=r"Unknown parameter 'n_trees' for random_forest.*n_estimators"
    ):
        get_algorithm("random_forest").build("classification", {"n_trees": 10})


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0", r"in \[1, 5000\]"),
        ("5001", r"in \[1, 5000\]"),
        ("2.5", "an integer"),
        ("x", "an integer"),
    ],
)
def test_out_of_range_value_names_parameter_and_range(value: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=rf"'n_estimators' of random_forest must be .*{fragment}"):
        get_algorithm("random_forest").build("classification", {"n_estimators": value})


def test_exclusive_minimum_is_refused_at_the_bound() -> None:
    with pytest.raises(UsageError, match=r"\(0, 1e\+06\]"):
        get_algorithm("logistic_regression").build("classification", {"C": 0})


def test_choice_lists_the_choices() -> None:
    with pytest.raises(UsageError, match="one of 'gini', 'entropy'"):
        get_algorithm("scratch_tree").build("classification", {"criterion": "mse"})


def test_unknown_algorithm_lists_known_ones() -> None:
    with pytest.raises(UsageError, match=r"known algorithms: .*isolation_forest"):
        get_algorithm("deep_magic")


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_default_satisfies_its_own_schema(name: str) -> None:
    spec = CATALOGUE[name]
    for param in spec.params:
        if param.default is not None:
            assert param.coerce(param.default, name) == param.default
    for task in spec.tasks:
        params = spec.task_params.get(task, spec.params)
        for param in params:
            if param.default is not None:
                assert param.coerce(param.default, name) == param.default
        estimator, resolved = spec.build(task, {})
        assert set(resolved) == {p.name for p in params}
        # A forecaster is fitted per series by vigil.forecast, not as one estimator.
        assert hasattr(estimator, "fit") or task in spec.not_estimators
