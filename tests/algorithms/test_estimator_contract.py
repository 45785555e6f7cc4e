"""scikit-learn's estimator contract, checked on every algorithm of the catalogue.

Each entry carries the parameters it is checked with (``test_params``) and the
checks skipped for it with the reason (``expected_failed_checks``), so an
algorithm is checked the moment it is registered. A skipped check must still
fail for the entry, so that no skip outlives its reason. A task for which an
entry builds no estimator at all (a forecaster) is skipped with the reason
the entry records (``not_estimators``).
"""

from __future__ import annotations

import unittest
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator
from threadpoolctl import threadpool_limits

from vigil.algorithms.catalogue import CATALOGUE, AlgorithmSpec

Check = partial[None]


def _check_name(check: Check) -> str:
    return check.func.__name__


def _check_id(check: Check) -> str:
    options = ",".join(f"{key}={value}" for key, value in check.keywords.items())
    return f"{_check_name(check)}({options})" if options else _check_name(check)


def _estimators(spec: AlgorithmSpec) -> Iterator[tuple[str, Any]]:
    """Returns each estimator the entry's test parameters build, with a label naming it."""
    for task in spec.tasks:
        if task in spec.not_estimators:
            continue
        for index, params in enumerate(spec.test_params):
            estimator = spec.build(task, params)[0]
            # Two test processes share the machine's cores and these fits are tiny:
            # more threads would only wait for each other.
            estimator.set_params(
                **{
                    name: 1
                    for name in estimator.get_params()
                    if name == "n_jobs" or name.endswith("__n_jobs")
                }
            )
            suffix = f"-{index}" if len(spec.test_params) > 1 else ""
            yield f"{spec.name}-{task}{suffix}", estimator


def _checks(spec: AlgorithmSpec) -> Iterator[tuple[str, Any, Check]]:
    """Returns every check scikit-learn runs on the entry's estimators, with its estimator."""
    for label, estimator in _estimators(spec):
        for instance, check in estimator_checks_generator(estimator, mark=None):
            yield label, instance, check


def _run(check: Check, estimator: Any) -> None:
    with threadpool_limits(limits=1):
        check(estimator)


def _cases() -> Iterator[Any]:
    for spec in CATALOGUE.values():
        for task, reason in spec.not_estimators.items():
            # The entry builds no scikit-learn estimator for this task: one skipped case
            # carries its reason, so the report says what is not checked and why.
            yield pytest.param(
                None, None, marks=[pytest.mark.skip(reason=reason)], id=f"{spec.name}-{task}"
            )
        for label, estimator, check in _checks(spec):
            reason = spec.expected_failed_checks.get(_check_name(check))
            yield pytest.param(
                estimator,
                check,
                marks=[] if reason is None else [pytest.mark.skip(reason=reason)],
                id=f"{label}-{_check_id(check)}",
            )


@pytest.mark.parametrize(("estimator", "check"), list(_cases()))
def test_catalogue_estimator_follows_the_scikit_learn_contract(
    estimator: Any, check: Callable[[Any], None]
) -> None:
    _run(check, estimator)


def _fails(check: Check, estimator: Any) -> bool:
    try:
        _run(check, estimator)
    except unittest.SkipTest:  # scikit-learn's way of saying a check does not apply
        return False
    except Exception:
        return True
    return False


@pytest.mark.parametrize(
    "spec",
    [spec for spec in CATALOGUE.values() if spec.expected_failed_checks],
    ids=lambda spec: spec.name,
)
def test_every_skipped_check_still_fails(spec: AlgorithmSpec) -> None:
    failed: dict[str, bool] = dict.fromkeys(spec.expected_failed_checks, False)
    for _, estimator, check in _checks(spec):
        name = _check_name(check)
        if name in failed and not failed[name]:
            failed[name] = _fails(check, estimator)

    passing = sorted(name for name, did in failed.items() if not did)
    assert not passing, (
        f"{spec.name} passes (or never runs) checks it skips: {', '.join(passing)}; "
        "remove them from its expected_failed_checks"
    )
