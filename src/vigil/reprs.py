"""Error texts in the caller's words: NumPy scalar reprs written as their values.

NumPy 2 spells a scalar ``np.int64(0)`` in an f-string's ``!r``; the caller
sent ``0``. Messages are built to avoid it; the REST problem handler and the
command line pass every domain error through :func:`plain_reprs` as the net
under them. Light on purpose: the CLI imports it at start.
"""

from __future__ import annotations

import re

_NUMPY_REPR = re.compile(r"\bnp\.(?:u?int\d*|float\d*|bool_?|str_|datetime64)\((.*?)\)")


def plain_reprs(message: str) -> str:
    """Returns ``message`` with NumPy scalar reprs written as their values.

    >>> plain_reprs("row 3 holds np.int64(0), not np.float64(inf)")
    'row 3 holds 0, not inf'
    """
    return _NUMPY_REPR.sub(r"\1", message)
