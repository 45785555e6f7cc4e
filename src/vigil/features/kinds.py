"""The kinds of feature extraction a model can be trained with (light: no NumPy).

>>> FEATURE_KINDS
('tabular', 'logs', 'metrics', 'requests')
"""

from __future__ import annotations

FEATURE_KINDS = ("tabular", "logs", "metrics", "requests")
