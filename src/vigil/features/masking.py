"""A few log messages masked in Python, as ``templates.mask_messages`` masks them in Arrow.

``mask_messages`` runs each mask over a whole batch in Arrow's RE2 engine:
the fast way for thousands of messages, but four Arrow calls of some 100 µs
each for the one message of a single streamed event. For printable ASCII
messages and the default masks, Python's ``re`` (ASCII classes) matches as
RE2 does and strips the same spaces, so :func:`masked_texts` gives the same
texts; any other message or mask list answers None and the caller takes the
Arrow path (tests/streams/test_incremental_features.py compares the two).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vigil.features.templates import DEFAULT_MASKS


class _Literal:
    """A replacement for ``re.sub`` that is its text as it is."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, match: re.Match[str]) -> str:
        return self.text


_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_STEPS = [(re.compile(pattern, re.ASCII), _Literal(token)) for token, pattern in DEFAULT_MASKS] + [
    (re.compile(f"{re.escape(token)}(?:[ ,;]+{re.escape(token)})+", re.ASCII), _Literal(token))
    for token in dict.fromkeys(token for token, _ in DEFAULT_MASKS if token != "<*>")
]


def masked_texts(messages: Sequence[str], masks: Sequence[tuple[str, str]]) -> list[str] | None:
    """Returns ``mask_messages(messages, masks)`` as texts, or None when it cannot tell.

    >>> masked_texts(["Served blk_-12 and blk_7, blk_9 in 31 ms "], DEFAULT_MASKS)
    ['Served <BLK> and <BLK> in <*> ms']
    """
    if tuple(masks) != DEFAULT_MASKS:
        return None
    out = []
    for message in messages:
        if _PRINTABLE.fullmatch(message) is None:
            return None
        text = message
        for pattern, token in _STEPS:
            text = pattern.sub(token, text)
        out.append(text.strip(" "))
    return out
