"""Deciding the task from the target column."""

from __future__ import annotations

import pandas as pd

from vigil.algorithms.catalogue import TASKS
from vigil.errors import InvalidInput, UsageError

# An integer target with this few distinct values is read as classes, not amounts.
_MAX_INTEGER_CLASSES = 20


def detect_task(target: pd.Series | None, algorithm: str | None = None) -> str:
    """Returns the task implied by the target (or, without one, by the algorithm).

    Strings, booleans and integers with few distinct values mean
    classification; other numbers mean regression. Without a target the task
    is the algorithm's own when it does exactly one, else anomaly detection.

    >>> detect_task(pd.Series(["spam", "ham"])), detect_task(pd.Series([0, 1, 1, 2]))
    ('classification', 'classification')
    >>> detect_task(pd.Series([0.5, 1.25, 3.0])), detect_task(pd.Series(range(100)))
    ('regression', 'regression')
    >>> detect_task(None), detect_task(None, "kmeans")
    ('anomaly', 'clustering')
    """
    if target is None:
        if algorithm is not None:
            from vigil.algorithms.catalogue import get_algorithm

            tasks = get_algorithm(algorithm).tasks
            unsupervised = [t for t in tasks if t in ("clustering", "anomaly")]
            if unsupervised:
                return unsupervised[0]
            raise InvalidInput(
                f"Algorithm {algorithm} needs a target column (--target) for {tasks[0]}."
            )
        return "anomaly"
    values = target.dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "classification"
    whole = pd.api.types.is_integer_dtype(values) or (values % 1 == 0).all()
    if whole and values.nunique() <= _MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


def check_task(task: str) -> str:
    """Returns ``task`` if it is known, else raises naming the known tasks."""
    if task not in TASKS:
        raise UsageError(f"Unknown task {task!r}; use auto or one of {', '.join(TASKS)}.")
    return task
