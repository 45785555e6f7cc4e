"""Anomaly models of log sessions: the default detector, and fitting on known-normal sessions.

Anomaly detection of sessions with a label column (``target``, 1 =
anomaly; a session is anomalous when any of its events is) is
semi-supervised: the label is never a feature, the sessions labelled
anomalous are left out of fitting, and the test part keeps them to score
the model against. With no contamination left to flag, unless
``contamination`` or ``target_fpr`` is given the threshold is
``target_fpr`` = ``CLEAN_TARGET_FPR`` (flag what is rarer than one normal
session in a thousand), and the default detector is ``idf_knn``
(``SESSION_NORMAL_DEFAULT``): a new session is flagged when its mix of
events is unlike every known-normal one (``benchmarks/anomaly/logs.py``
measures why). Models of events and tables use the label to score the test
part only, as before: their labels mark events inside incidents, and the
rows around them are not all clean.

Sessions without labels get ``invariants`` by default (``SESSION_DEFAULT``)
when their event counts follow relations that all but the expected share of
anomalies (contamination) keep: relations broken by an unfinished or
repeated workflow, and events almost no session has. A rare but complete
session keeps them, and repeated failures cannot mask each other as they do
for distance detectors. Sessions without such structure (independent events
per request, say) keep ``auto``, as does ``--algorithm auto``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from vigil.algorithms.catalogue import get_algorithm
from vigil.errors import InvalidInput
from vigil.training.bundle import anomaly_labels

# Trained on rows known to be normal, the share of normal rows allowed above the threshold.
CLEAN_TARGET_FPR = 0.001
# The default detectors for sessions, unlabelled and known-normal (see the module docstring).
SESSION_DEFAULT = "invariants"
SESSION_NORMAL_DEFAULT = "idf_knn"


def session_default(
    task: str, labelled: bool, algorithm: str, X_train: pd.DataFrame, params: Mapping[str, Any]
) -> str:
    """Returns the default detector of an unlabelled session model (see the module docstring).

    ``invariants`` when the event-count relations it mines hold for all but
    the expected share of anomalies among the training sessions ``X_train``,
    else ``algorithm`` (the one already chosen, ``auto``). Labelled sessions
    keep theirs.
    """
    if task != "anomaly" or labelled:
        return algorithm
    from vigil.algorithms.invariants import InvariantsDetector

    given = params.get("contamination")
    if given is None:  # the catalogue's default: the share of anomalies assumed unlabelled
        given = next(
            p.default for p in get_algorithm(SESSION_DEFAULT).params if p.name == "contamination"
        )
    share = float(given)
    X = X_train.apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy(float)
    if len(X) < 2 or not InvariantsDetector(tolerance=share).fit(X).explains():
        return algorithm
    return SESSION_DEFAULT


def known_normal_params(
    task: str, labelled: bool, algorithm: str, params: Mapping[str, Any], *, sessions: bool
) -> Mapping[str, Any]:
    """Returns ``params`` with ``target_fpr`` set for a session detector on known-normal sessions.

    A threshold from ``contamination`` would flag that share of sessions
    known to be normal; with labels the training sessions are clean, so the
    threshold is the false-positive rate to accept (``CLEAN_TARGET_FPR``)
    unless either is given. Models of events and tables are left as they are
    (see the module docstring).
    """
    if task != "anomaly" or not labelled or not sessions:
        return params
    if params.get("contamination") is not None or params.get("target_fpr") is not None:
        return params
    if "target_fpr" not in {p.name for p in get_algorithm(algorithm).params}:
        return params
    return {**params, "target_fpr": CLEAN_TARGET_FPR}


def known_normal_rows(X: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """Returns the rows of ``X`` not labelled anomalous: what a detector is fitted on.

    Raises ``InvalidInput`` when every training row is labelled anomalous.
    """
    normal = anomaly_labels(y) == 0
    if not normal.any():
        raise InvalidInput(
            f"Every training row of {y.name!r} is labelled anomalous; anomaly detection "
            "with a label column is fitted on the rows labelled normal (0), and there are none.",
            errors=[{"loc": ["target"], "msg": "no row labelled normal"}],
        )
    return X[normal]
