"""Which metric decides "better", and which way: light enough for the registry to import.

>>> "rmse" in LOWER_IS_BETTER, PRIMARY_METRIC["classification"]
(True, 'f1')
"""

from __future__ import annotations

# Metrics that measure an error or a cost (smaller is better); everything else is
# higher-is-better. The one list both the registry's best version and the
# "if better" deployment use, so the two can never disagree.
LOWER_IS_BETTER = frozenset(
    {"mse", "rmse", "mae", "mape", "mase", "smape", "davies_bouldin", "log_loss", "fit_seconds"}
)
# The metric that decides "better" for each task when comparing versions.
PRIMARY_METRIC = {
    "classification": "f1",
    "regression": "r2",
    "clustering": "silhouette",
    "anomaly": "roc_auc",
    "forecast": "mase",
}
