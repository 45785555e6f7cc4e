"""Drift between a reference sample kept from training and the inputs seen in production.

Numbers: the two-sample Kolmogorov-Smirnov test while the reference is small
(its p-value is meaningful there), and the Wasserstein distance normalised by
the reference's spread once it is large (where KS alone flags differences too
small to matter). A large distance on few production rows can be sampling
noise, so the distance must also be significant (KS p-value) to count. PSI
(population stability index over the reference's deciles) is reported for
both. Categories: Jensen-Shannon distance between the category frequencies,
counted as drift when it is large and the chi-squared test finds it
significant. The dataset has drifted when the share
of drifted features reaches ``dataset_share`` (0.5 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

# Below this many reference values the KS test decides; above, the normalised distance does.
KS_MAX_REFERENCE = 1000
KS_P_VALUE = 0.01
WASSERSTEIN_THRESHOLD = 0.1
JS_THRESHOLD = 0.1
PSI_BINS = 10
MIN_CURRENT_ROWS = 30


@dataclass(frozen=True)
class DriftSettings:
    """Thresholds of the drift tests."""

    ks_p_value: float = KS_P_VALUE
    wasserstein: float = WASSERSTEIN_THRESHOLD
    jensen_shannon: float = JS_THRESHOLD
    dataset_share: float = 0.5
    min_rows: int = MIN_CURRENT_ROWS


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Returns the population stability index of ``current`` against ``reference`` deciles."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, PSI_BINS + 1)))
    if len(edges) < 2:
        return 0.0 if np.allclose(current, edges[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    ref = np.histogram(reference, edges)[0] / len(reference)
    cur = np.histogram(current, edges)[0] / len(current)
    # A small floor keeps empty bins from making the index infinite.
    ref, cur = np.clip(ref, 1e-4, None), np.clip(cur, 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def numeric_drift(
    reference: np.ndarray, current: np.ndarray, settings: DriftSettings
) -> dict[str, Any]:
    """Returns the drift report of one numeric feature."""
    reference = reference[~np.isnan(reference)]
    current = current[~np.isnan(current)]
    report: dict[str, Any] = {"kind": "numeric", "psi": psi(reference, current)}
    if len(reference) <= KS_MAX_REFERENCE:
        result = stats.ks_2samp(reference, current)
        report.update(
            test="ks",
            statistic=float(result.statistic),
            p_value=float(result.pvalue),
            drifted=bool(result.pvalue < settings.ks_p_value),
        )
    else:
        spread = float(np.std(reference)) or 1.0
        distance = float(stats.wasserstein_distance(reference, current)) / spread
        # On few production rows a large distance is often sampling noise: it counts
        # only when the KS test also finds the difference significant.
        p_value = float(stats.ks_2samp(reference, current).pvalue)
        report.update(
            test="wasserstein",
            statistic=distance,
            p_value=p_value,
            drifted=distance > settings.wasserstein and p_value < settings.ks_p_value,
        )
    report["reference_mean"] = float(np.mean(reference))
    report["current_mean"] = float(np.mean(current))
    return report


def categorical_drift(
    reference: pd.Series, current: pd.Series, settings: DriftSettings
) -> dict[str, Any]:
    """Returns the drift report of one categorical feature (Jensen-Shannon distance)."""
    ref = reference.dropna().astype(str).value_counts(normalize=True)
    cur = current.dropna().astype(str).value_counts(normalize=True)
    categories = sorted(set(ref.index) | set(cur.index))
    p = np.array([ref.get(c, 0.0) for c in categories])
    q = np.array([cur.get(c, 0.0) for c in categories])
    distance = float(jensenshannon(p, q, base=2)) if len(categories) > 1 else 0.0
    p_value = _chi_squared_p(reference, current, categories)
    return {
        "kind": "categorical",
        "test": "jensen_shannon",
        "statistic": distance,
        "p_value": p_value,
        "drifted": distance > settings.jensen_shannon and p_value < settings.ks_p_value,
        "unseen_categories": sorted(set(cur.index) - set(ref.index))[:10],
    }


def _chi_squared_p(reference: pd.Series, current: pd.Series, categories: list[str]) -> float:
    """Returns the chi-squared p-value that both samples share one category distribution."""
    if len(categories) < 2:
        return 1.0
    ref = reference.dropna().astype(str).value_counts()
    cur = current.dropna().astype(str).value_counts()
    table = np.array([[ref.get(c, 0) for c in categories], [cur.get(c, 0) for c in categories]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table)[1])


def dataset_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, str],
    settings: DriftSettings | None = None,
) -> dict[str, Any]:
    """Returns per-feature drift and whether the dataset as a whole drifted."""
    settings = settings or DriftSettings()
    if len(current) < settings.min_rows:
        return {
            "drifted": False,
            "rows": len(current),
            "reason": f"fewer than {settings.min_rows} production rows to compare",
            "features": {},
        }
    features: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    for column, kind in kinds.items():
        if column not in reference.columns or column not in current.columns:
            continue
        if kind in ("numeric", "boolean"):
            ref = pd.to_numeric(reference[column], errors="coerce").to_numpy(dtype=float)
            cur = pd.to_numeric(current[column], errors="coerce").to_numpy(dtype=float)
            present = int(np.count_nonzero(~np.isnan(cur)))
            if present < settings.min_rows or np.isnan(ref).all():
                # Mostly missing here (a log window without its history at hand): too few
                # values to judge, so the feature is listed but not counted either way.
                skipped[column] = {"kind": "numeric", "drifted": False, "values": present}
                continue
            features[column] = numeric_drift(ref, cur, settings)
        elif kind == "categorical":
            features[column] = categorical_drift(reference[column], current[column], settings)
    drifted = [name for name, report in features.items() if report["drifted"]]
    # One-hot columns of one field (``level=INFO``, ``level=WARN``, ...) are one input:
    # counted as one in the share, drifted when any of its columns is, so a field
    # with many categories does not outvote the others.
    fields = {_field(name) for name in features}
    drifted_fields = {_field(name) for name in drifted}
    share = len(drifted_fields) / len(fields) if fields else 0.0
    return {
        "drifted": bool(features) and share >= settings.dataset_share,
        "share_drifted": share,
        "drifted_fields": sorted(drifted_fields),
        "drifted_features": drifted,
        "rows": len(current),
        "reference_rows": len(reference),
        "features": features,
        "skipped_features": skipped,
    }


def _field(feature: str) -> str:
    """Returns the input field a feature column comes from (``level=INFO`` -> ``level``)."""
    return feature.split("=", 1)[0]
