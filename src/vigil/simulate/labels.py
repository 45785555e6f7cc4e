"""The label columns of simulated data: what each generated row truly is, never an input.

Every simulator writes ``is_anomaly`` (0/1) and ``anomaly_type`` (how the
row is anomalous, ``""`` on normal rows); ``users`` also writes the
``segment`` each user truly belongs to. They are answers, not evidence: a
model that reads ``anomaly_type`` while learning ``is_anomaly`` learns
nothing it could use in production. This module is the one place that
names them; the generators write these names and the trainer leaves every
one of them other than the target out of the features unless a caller names
it in ``features``.

Example:
    >>> LABEL_COLUMNS["users"]
    ('segment', 'is_anomaly', 'anomaly_type')
    >>> sorted(ALL_LABEL_COLUMNS)
    ['anomaly_type', 'is_anomaly', 'segment']
"""

from __future__ import annotations

IS_ANOMALY = "is_anomaly"
ANOMALY_TYPE = "anomaly_type"
SEGMENT = "segment"

# Per kind of simulated data, the columns that say what a row truly is.
LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "logs": (IS_ANOMALY, ANOMALY_TYPE),
    "metrics": (IS_ANOMALY, ANOMALY_TYPE),
    "requests": (IS_ANOMALY, ANOMALY_TYPE),
    "transactions": (IS_ANOMALY, ANOMALY_TYPE),
    "users": (SEGMENT, IS_ANOMALY, ANOMALY_TYPE),
    "access": (IS_ANOMALY, ANOMALY_TYPE),
}
ALL_LABEL_COLUMNS = frozenset(name for names in LABEL_COLUMNS.values() for name in names)
