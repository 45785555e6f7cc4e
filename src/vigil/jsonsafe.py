"""Values made JSON-friendly: NumPy scalars to Python, non-finite floats to null."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    """Returns ``value`` with NumPy scalars and NaN made JSON-friendly.

    >>> import numpy as np
    >>> json_safe({"n": np.int64(3), "x": [np.float64("nan"), 1.5]})
    {'n': 3, 'x': [None, 1.5]}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    # NumPy scalars (and 0-d arrays) without importing NumPy: the CLI renders with this.
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
