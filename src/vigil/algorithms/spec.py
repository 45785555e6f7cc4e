"""One catalogue entry (``AlgorithmSpec``) and the parameters many entries share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.algorithms.params import Param, resolve_params
from vigil.errors import UsageError

Factory = Callable[[str, dict[str, Any]], Any]

# How an ensemble combines its members' scores (``ensemble.combine_member_scores``): the
# choices of its ``combine`` parameter, kept here so the catalogue lists them without
# importing the estimators.
COMBINATIONS = ("max", "mean", "rank", "zscore")


@dataclass(frozen=True)
class AlgorithmSpec:
    """One catalogue entry.

    ``scale`` says whether numeric inputs are standardised before the estimator
    (distance- and gradient-based models need it; trees do not). ``dense``
    says whether the estimator needs a dense matrix. ``inputs`` says what
    rows it is made for: ``"numbers"`` (any numeric features) or ``"counts"``
    (non-negative whole numbers, such as a log session's event counts, whose
    relations it learns); generic checks on continuous data apply to the first.

    ``test_params`` are the parameters scikit-learn's estimator checks build it
    with, one estimator per mapping: small, so that checking the whole
    catalogue stays fast. ``expected_failed_checks`` names each check the built
    estimators are known to fail, with the reason: the contract test skips it
    for every task of the entry (a reason that concerns one task starts with
    it) and makes sure it still fails. ``not_estimators`` names each task whose
    factory builds no scikit-learn estimator (a forecaster is fitted per series
    by ``vigil.forecast``), with the reason the contract test skips it for.
    ``task_params`` replaces ``params`` for one task, when one name serves two
    tasks with different settings (``auto`` for anomalies and for forecasts).

    >>> spec = AlgorithmSpec(
    ...     "ridge",
    ...     ("regression",),
    ...     (Param("alpha", "float", 1.0, "L2 penalty", 0.0, 1e6),),
    ...     lambda task, p: ("Ridge", p["alpha"]),
    ...     "Ridge regression.",
    ... )
    >>> spec.build("regression", {"alpha": "0.5"})
    (('Ridge', 0.5), {'alpha': 0.5})
    >>> spec.build("clustering", {})
    Traceback (most recent call last):
    ...
    vigil.errors.UsageError: Algorithm ridge does not do clustering; it does regression.
    """

    name: str
    tasks: tuple[str, ...]
    params: tuple[Param, ...]
    factory: Factory
    description: str
    scale: bool = False
    dense: bool = True
    inputs: str = "numbers"
    test_params: tuple[Mapping[str, Any], ...] = field(default=({},), compare=False)
    expected_failed_checks: Mapping[str, str] = field(default_factory=dict, compare=False)
    not_estimators: Mapping[str, str] = field(default_factory=dict, compare=False)
    task_params: Mapping[str, tuple[Param, ...]] = field(default_factory=dict, compare=False)

    def build(self, task: str, params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Returns an unfitted estimator for ``task`` and the resolved parameters."""
        if task not in self.tasks:
            raise UsageError(
                f"Algorithm {self.name} does not do {task}; it does {', '.join(self.tasks)}."
            )
        resolved = resolve_params(self.task_params.get(task, self.params), params, self.name)
        return self.factory(task, resolved), resolved

    def to_json(self) -> dict[str, Any]:
        """Returns the entry as plain JSON (``vigil algorithms --json``)."""
        out: dict[str, Any] = {
            "name": self.name,
            "tasks": list(self.tasks),
            "description": self.description,
            "params": [p.to_json() for p in self.params],
        }
        if self.task_params:
            out["params_by_task"] = {
                task: [p.to_json() for p in params] for task, params in self.task_params.items()
            }
        return out


def seed_param() -> Param:
    """Returns the ``random_state`` parameter of every entry whose fit draws random numbers."""
    return Param("random_state", "int", 0, "seed for reproducible fits", minimum=0)
