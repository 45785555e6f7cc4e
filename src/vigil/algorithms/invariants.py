"""Invariants of event counts: relations almost every session keeps, and events almost none has.

A unit of work logs its events in fixed proportions: a file opened is
closed once, a block allocated is received by three replicas and three
acknowledgements follow. Invariants Mining (Lou et al., "Mining Invariants
from Console Logs for System Problem Detection", USENIX ATC 2010) learns
such linear relations between the counts of a session's events from
unlabelled sessions and flags a session that breaks one: a failure leaves
its workflow unfinished or repeated, which is what it looks like in a log,
while a normal session that is merely rare (a long one, an unusual but
complete path) keeps every relation. Distance and density detectors cannot
tell these two apart, and anomalies that repeat (the same failure on many
blocks) mask each other for them; neither affects an invariant.

This is the pairwise form of the method, kept small and general:

- a *relation* between columns ``i`` and ``j`` is ``b * x_i == a * x_j``
  with ``(a, b)`` among 1:1, 1:2, 2:1, 1:3, 3:1; it is an *invariant* when
  it holds in at least ``1 - tolerance`` of the training rows where either
  column is non-zero, and at least ``min_rows`` such rows exist;
- a column is *rare* when it is non-zero in fewer than ``tolerance`` of the
  training rows (an event almost no session has, an event never seen);
- the score of a row is the number of invariants it breaks plus the number
  of rare columns it holds; most rows score exactly 0.

Relations are mined among columns holding non-negative whole numbers
(counts); at most ``max_columns`` of them, the most often non-zero, and on
at most ``max_rows`` training rows (a seeded sample), so fitting stays cheap
whatever the size of the data. The catalogue sets ``tolerance`` to the
detector's flagged share (contamination or target_fpr): a relation broken
by more rows than the expected share of anomalies is not an invariant.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from vigil.algorithms.validation import checked_rows

# Small integer ratios between two counts: equal, double, triple (either way).
RATIOS = ((1, 1), (1, 2), (2, 1), (1, 3), (3, 1))


class InvariantsDetector(BaseEstimator):
    """Scores rows by the invariants they break and the rare columns they hold (higher = normal).

    Parameters
    ----------
    tolerance : float
        Share of rows allowed to break an invariant, and below which a
        column's share of non-zero rows makes it rare, in (0, 0.5].
    min_rows : int
        Fewest training rows, with either column non-zero, a relation is judged on.
    max_columns : int
        Most count columns relations are mined among.
    max_rows : int
        Most training rows relations are mined on (a seeded sample beyond).
    random_state : int or None
        Seed of that sample.

    Examples
    --------
    >>> rows = [[1.0, 3.0, 3.0, 0.0]] * 50 + [[1.0, 3.0, 3.0, 1.0]]
    >>> model = InvariantsDetector(tolerance=0.05).fit(np.array(rows))
    >>> [(int(i), int(j), int(a), int(b)) for i, j, a, b in model.invariants_]
    [(0, 1, 1, 3), (0, 2, 1, 3), (1, 2, 1, 1)]
    >>> new = np.array([[1.0, 3.0, 3.0, 0.0], [1.0, 3.0, 2.0, 0.0], [1.0, 3.0, 3.0, 1.0]])
    >>> model.score_samples(new).tolist()
    [-0.0, -2.0, -1.0]
    >>> round(model.broken_share_, 3), model.explains()
    (0.02, True)
    """

    def __init__(
        self,
        tolerance: float = 0.05,
        min_rows: int = 10,
        max_columns: int = 64,
        max_rows: int = 20_000,
        random_state: Any = 0,
    ) -> None:
        self.tolerance = tolerance
        self.min_rows = min_rows
        self.max_columns = max_columns
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> InvariantsDetector:
        """Returns self, with the invariants and the rare columns of ``X`` found."""
        if not 0.0 < float(self.tolerance) <= 0.5:
            raise ValueError(f"tolerance must be in (0, 0.5]; got {self.tolerance!r}.")
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        present = (X != 0).mean(axis=0)
        self.rare_ = np.flatnonzero(present < self.tolerance)
        rows = X
        if X.shape[0] > self.max_rows:
            rng = check_random_state(self.random_state)
            rows = X[np.sort(rng.choice(X.shape[0], self.max_rows, replace=False))]
        counts = np.flatnonzero(((rows >= 0) & (rows == np.round(rows))).all(axis=0))
        counts = counts[present[counts] > 0]
        # The most often non-zero count columns: relations among them carry the workflow.
        counts = counts[np.argsort(-present[counts], kind="stable")][: self.max_columns]
        counts = np.sort(counts)
        found = []
        for p, i in enumerate(counts):
            for j in counts[p + 1 :]:
                relation = self._relation(rows[:, i], rows[:, j])
                if relation is not None:
                    found.append((i, j, *relation))
        self.invariants_ = np.asarray(found, dtype=np.int64).reshape(-1, 4)
        # How well the relations describe the training rows: the share that breaks one.
        self.broken_share_ = float(np.mean(self.score_samples(X) < 0))
        return self

    def explains(self) -> bool:
        """Returns whether relations were found and at most ``tolerance`` of the rows break one.

        Otherwise the rows have no count structure to speak of (sessions of
        independent events, amounts rather than counts), and a score of
        broken relations tells little: another detector should judge them.
        """
        check_is_fitted(self, "broken_share_")
        return len(self.invariants_) > 0 and self.broken_share_ <= float(self.tolerance)

    def _relation(self, xi: np.ndarray, xj: np.ndarray) -> tuple[int, int] | None:
        """Returns the ratio (a, b) with ``b * xi == a * xj`` on enough active rows, else None."""
        active = (xi != 0) | (xj != 0)
        if int(active.sum()) < self.min_rows:
            return None
        xi, xj = xi[active], xj[active]
        best, kept = None, 1.0 - float(self.tolerance)
        for a, b in RATIOS:
            held = float(np.mean(b * xi == a * xj))
            if held >= kept:
                best, kept = (a, b), held
        return best

    def score_samples(self, X: Any) -> np.ndarray:
        """Returns minus the number of broken invariants and rare columns held, per row."""
        check_is_fitted(self, "invariants_")
        X = checked_rows(self, X, dtype=np.float64)
        broken = np.zeros(X.shape[0])
        for i, j, a, b in self.invariants_:
            broken += b * X[:, i] != a * X[:, j]
        broken += (X[:, self.rare_] != 0).sum(axis=1)
        return -broken
