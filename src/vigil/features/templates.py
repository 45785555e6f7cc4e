"""Message templates: the constant part of log messages, mined with Drain3.

``Cache miss for key user:19936, loaded in 8.6 ms`` and ``Cache miss for key
product:7, loaded in 1.2 ms`` are one kind of event; a model should see the
kind, not the ids. :class:`TemplateMiner` first masks the variable parts that
any log has (HDFS block ids, and every token holding a digit: numbers, ids,
hex values, IP addresses, paths with ids), collapses runs of the same mask
(a list of ten block ids is one parameter, as in Loghub's reference
templates), then mines the masked messages with
Drain (He et al., ICWS 2017) through the ``drain3`` library, configured here
in code (no ini file).

Fitting is deterministic: the masked messages are fed to Drain once each, in
order of first appearance, and templates are numbered 0, 1, 2… in the order
Drain created them. After fitting, a new message gets the id of the training
template it matches exactly (wildcards match anything), or :data:`UNSEEN`.

Speed comes from the masking: it runs over the whole batch in Arrow's RE2
engine, after which the thousands of distinct messages of a busy service
collapse to a few dozen masked texts, each looked up once per batch in a
cache (masked text → template id).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from drain3.drain import Drain

UNSEEN = -1
# Masks run in order; each replaces matches with its token. The last one
# (any token with a digit) mirrors Drain's own numeric-token rule and covers
# numbers, ids, hex values and IP addresses; block ids keep a name of their
# own because lists of them are collapsed. Each pass is a scan of the whole
# batch, so the list is short (the first character class of the last pattern
# excludes digits, which makes RE2's scan about twice as fast).
DEFAULT_MASKS: tuple[tuple[str, str], ...] = (
    ("<BLK>", r"blk_-?\d+"),
    ("<*>", r"[^\s<>\d]*\d[^\s<>]*"),
)
# Masked texts remembered for prediction; beyond this, new texts are matched
# every time rather than letting a long-running server's memory grow.
_CACHE_LIMIT = 200_000


def mask_messages(
    messages: Sequence[Any] | pd.Series | pa.Array,
    masks: Sequence[tuple[str, str]] = DEFAULT_MASKS,
) -> pa.Array:
    """Returns the messages with their variable parts replaced by mask tokens (Arrow strings).

    Missing messages become empty text.
    """
    array = as_arrow_text(messages)
    for token, pattern in masks:
        array = pc.replace_substring_regex(array, pattern, token)
    for token in dict.fromkeys(token for token, _ in masks if token != "<*>"):
        run = re.escape(token)
        array = pc.replace_substring_regex(array, f"{run}(?:[ ,;]+{run})+", token)
    return pc.utf8_trim_whitespace(array)


def as_arrow_text(values: Sequence[Any] | pd.Series | pa.Array) -> pa.Array:
    """Returns ``values`` as one Arrow string array, missing values as empty text."""
    if isinstance(values, pa.ChunkedArray):
        array: Any = values.combine_chunks()
    elif isinstance(values, pa.Array):
        array = values
    else:
        series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        try:
            array = pa.array(series, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            texts = series.map(lambda v: None if v is None or v is pd.NA or v != v else str(v))
            array = pa.array(texts, type=pa.string(), from_pandas=True)
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    return pc.fill_null(array, "")


class TemplateMiner:
    """Mines message templates with Drain3 and assigns new messages to them.

    Parameters
    ----------
    sim_th : float
        Drain's similarity threshold: the share of equal tokens a message
        needs to join a template.
    depth : int
        Depth of Drain's prefix tree (at least 3).
    max_children : int
        Most children of a tree node.
    masks : sequence of (token, RE2 pattern)
        Applied in order before mining and matching.

    Examples
    --------
    >>> miner = TemplateMiner().fit(["disk 1 full", "disk 22 full", "user 7 logged in"])
    >>> miner.templates_
    ['disk <*> full', 'user <*> logged in']
    >>> miner.transform(["disk 9 full", "kernel panic"]).tolist()
    [0, -1]
    """

    def __init__(
        self,
        sim_th: float = 0.4,
        depth: int = 4,
        max_children: int = 100,
        masks: Sequence[tuple[str, str]] = DEFAULT_MASKS,
    ) -> None:
        self.sim_th = sim_th
        self.depth = depth
        self.max_children = max_children
        self.masks = masks

    def fit(self, messages: Sequence[Any] | pd.Series | pa.Array) -> TemplateMiner:
        """Returns self, having mined the templates of ``messages`` and counted each one."""
        masked = pc.dictionary_encode(mask_messages(messages, self.masks))
        texts: list[str] = masked.dictionary.to_pylist()
        drain = Drain(
            depth=self.depth,
            sim_th=self.sim_th,
            max_children=self.max_children,
            param_str="<*>",
            parametrize_numeric_tokens=True,
        )
        # Drain numbers clusters 1, 2, ... as it creates them; ours start at 0.
        cluster_of_text = np.asarray(
            [drain.add_log_message(text)[0].cluster_id - 1 for text in texts], dtype=np.int64
        )
        self.drain_ = drain
        self.cache_: dict[str, int] = dict(zip(texts, cluster_of_text.tolist(), strict=True))
        codes = masked.indices.to_numpy(zero_copy_only=False)
        ids = cluster_of_text[codes] if len(codes) else np.zeros(0, dtype=np.int64)
        self.n_templates_ = len(drain.id_to_cluster)
        self.templates_ = [
            drain.id_to_cluster[i + 1].get_template() for i in range(self.n_templates_)
        ]
        self.counts_ = np.bincount(ids, minlength=self.n_templates_).astype(np.int64)
        self.n_messages_ = len(ids)
        return self

    def transform(self, messages: Sequence[Any] | pd.Series | pa.Array) -> np.ndarray:
        """Returns the template id of each message (:data:`UNSEEN` for a new kind)."""
        masked = pc.dictionary_encode(mask_messages(messages, self.masks))
        texts: list[str] = masked.dictionary.to_pylist()
        ids = np.fromiter((self._lookup(t) for t in texts), dtype=np.int64, count=len(texts))
        codes = masked.indices.to_numpy(zero_copy_only=False)
        return ids[codes] if len(codes) else np.zeros(0, dtype=np.int64)

    def _lookup(self, text: str) -> int:
        """Returns the template id of one masked text, from the cache or by Drain's match."""
        found = self.cache_.get(text)
        if found is not None:
            return found
        cluster = self.drain_.match(text, full_search_strategy="fallback")
        template = UNSEEN if cluster is None else int(cluster.cluster_id) - 1
        if len(self.cache_) < _CACHE_LIMIT:
            self.cache_[text] = template
        return template

    def rarity(self, ids: np.ndarray) -> np.ndarray:
        """Returns -log of each template's training frequency; unseen ones rarer than any seen.

        An unseen template scores as if it had occurred half a time, so it is
        always the rarest without being infinite.
        """
        total = max(self.n_messages_, 1)
        counts = np.where(ids >= 0, self.counts_[np.maximum(ids, 0)], 0.5).astype(np.float64)
        return -np.log(np.maximum(counts, 0.5) / total)

    def template(self, template_id: int) -> str:
        """Returns the text of a template id (``<unseen>`` for :data:`UNSEEN`)."""
        return "<unseen>" if template_id < 0 else self.templates_[template_id]
