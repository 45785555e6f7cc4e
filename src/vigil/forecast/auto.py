"""How ``auto`` weighs its members per series, and the honest backtest of that choice.

Each member's backtest gives its MASE per window. ``select`` puts all the
weight on the member with the lowest MASE, ``weighted`` spreads it in
inverse proportion to MASE. The choice kept for forecasting uses every
window; the backtest score of ``auto`` itself is computed as it would have
happened in production: window k is forecast with the weights learnt from
windows before k (equal weights for the first window), so the choice never
sees the window it is scored on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vigil.forecast import backtest as bt
from vigil.forecast.model import combine

# Below this many backtest errors a series' own conformal ratios are too few;
# it borrows those of every series the model holds.
MIN_RATIOS = 20
# Half-widths are floored so a zero-width native interval still gives a finite ratio.
TINY = 1e-9


def window_mase(paths: Sequence[bt.Path], actual: np.ndarray, scale: float) -> np.ndarray:
    """Returns the MASE of each window's path, shape (windows,)."""
    return np.array(
        [np.mean(np.abs(actual[k] - path.mean)) / scale for k, path in enumerate(paths)]
    )


def weights(scores: np.ndarray, combine_rule: str) -> np.ndarray:
    """Returns member weights (summing to 1) from their MASE, lower being better.

    >>> weights(np.array([2.0, 1.0, 4.0]), "select").tolist()
    [0.0, 1.0, 0.0]
    >>> weights(np.array([2.0, 1.0, 4.0]), "weighted").round(3).tolist()
    [0.286, 0.571, 0.143]
    """
    scores = np.where(np.isfinite(scores), scores, np.inf)
    if combine_rule == "select" or not np.isfinite(scores).any():
        out = np.zeros(scores.size)
        out[int(np.argmin(scores))] = 1.0
        return out
    inverse = 1.0 / np.maximum(scores, TINY)
    return inverse / inverse.sum()


def ratios(paths: Sequence[bt.Path], actual: np.ndarray) -> np.ndarray:
    """Returns |error| / half-width of every backtest step, sorted (the conformal scores)."""
    if not paths:
        return np.empty(0)
    errors = np.abs(actual[: len(paths)] - np.stack([p.mean for p in paths]))
    halves = np.maximum(np.stack([p.half for p in paths]), TINY)
    out = (errors / halves).ravel()
    return np.sort(out[np.isfinite(out)])


def honest_backtest(
    member_paths: Sequence[Sequence[bt.Path]],
    actual: np.ndarray,
    scale: float,
    combine_rule: str,
) -> tuple[list[bt.Path], np.ndarray]:
    """Returns the combined path of each window (weights from earlier windows) and final weights."""
    n_members, cv = len(member_paths), actual.shape[0]
    if n_members == 1:
        return list(member_paths[0]), np.ones(1)
    scores = np.stack([window_mase(paths, actual, scale) for paths in member_paths])
    combined = []
    for k in range(cv):
        w = (
            np.full(n_members, 1.0 / n_members)
            if k == 0
            else weights(scores[:, :k].mean(axis=1), combine_rule)
        )
        combined.append(combine([paths[k] for paths in member_paths], w))
    return combined, weights(scores.mean(axis=1), combine_rule)
