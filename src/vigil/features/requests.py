"""Features of HTTP requests and payloads, for spotting injections and probes.

:class:`RequestFeatures` reads one text field per request (a query value, a
body, a path) and gives one feature row per request, in input order:

- ``length`` and ``raw_length``: the text after and before URL-decoding
  (decoding first, up to twice, so ``%3Cscript%3E`` and ``<script>`` look
  alike; the gap between the two lengths counts as a signal of its own,
  as does ``percent_encoded``, the number of ``%XX`` escapes);
- ``count=<c>``: how often each character or sequence that attacks lean on
  occurs: quotes, ``<`` ``>``, ``;``, ``--``, ``/``, ``..``, ``%``, ``=``,
  parentheses, ``|``, ``&``, ``$``, backtick, braces, brackets, backslash,
  ``*``, ``#``, ``+``, ``!``, ``:``, ``,`` and spaces;
- ``entropy``: Shannon entropy of the bytes (random tokens and encoded
  shellcode are high, words are middling, repeated characters low);
- ``digit_ratio``, ``upper_ratio``, ``alpha_ratio``, ``non_ascii_ratio``;
- ``ngram=<g>``: character n-gram TF-IDF of the decoded, lower-cased text,
  capped at ``max_tfidf_features`` terms;
- the numeric fields given (status code, response size…) as they are.

Counting runs in Arrow (vectorised C++); decoding runs once per distinct text.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote_plus

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.feature_extraction.text import TfidfVectorizer

from vigil.errors import InvalidInput
from vigil.features.fields import InputField, observed_field
from vigil.features.templates import as_arrow_text

TEXT_CANDIDATES = (
    "payload",
    "request",
    "body",
    "query",
    "param_value",
    "value",
    "url",
    "uri",
    "path",
    "text",
)
NUMERIC_CANDIDATES = ("status_code", "status", "response_size", "bytes", "response_time")
# Characters and sequences that injections, traversals and scripts need.
SPECIALS: dict[str, str] = {
    "single_quote": "'",
    "double_quote": '"',
    "lt": "<",
    "gt": ">",
    "semicolon": ";",
    "dash_dash": "--",
    "slash": "/",
    "dot_dot": "..",
    "percent": "%",
    "equals": "=",
    "open_paren": "(",
    "close_paren": ")",
    "pipe": "|",
    "ampersand": "&",
    "dollar": "$",
    "backtick": "`",
    "open_brace": "{",
    "close_brace": "}",
    "open_bracket": "[",
    "close_bracket": "]",
    "backslash": "\\",
    "star": "*",
    "hash": "#",
    "plus": "+",
    "bang": "!",
    "colon": ":",
    "comma": ",",
    "space": " ",
}


def url_decoded(texts: Sequence[str]) -> list[str]:
    """Returns each text URL-decoded up to twice (double encoding is a common evasion)."""
    decoded = []
    for text in texts:
        once = unquote_plus(text) if "%" in text or "+" in text else text
        decoded.append(unquote_plus(once) if "%" in once else once)
    return decoded


def byte_entropy(texts: pa.Array) -> np.ndarray:
    """Returns the Shannon entropy (bits per byte) of each text, computed without a Python loop."""
    rows = len(texts)
    if rows == 0:
        return np.zeros(0)
    binary = pc.fill_null(texts, "").cast(pa.binary())
    _, offset_buffer, data_buffer = binary.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int32)[binary.offset : binary.offset + rows + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0)
    data = data[int(offsets[0]) : int(offsets[-1])]
    lengths = np.diff(offsets).astype(np.int64)
    owner = np.repeat(np.arange(rows, dtype=np.int64), lengths)
    pairs, counts = np.unique(owner * 256 + data.astype(np.int64), return_counts=True)
    text_of_pair = pairs // 256
    totals = lengths[text_of_pair].astype(np.float64)
    share = counts / totals
    entropy = np.zeros(rows)
    np.add.at(entropy, text_of_pair, -share * np.log2(share))
    return entropy


class RequestFeatures:
    """Turns request texts into numeric features (see the module docstring).

    Parameters
    ----------
    text_column : str, optional
        The field to read; ``None`` looks for ``payload``, ``request``,
        ``body``, ``query``… and else takes the text column with the longest values.
    numeric_columns : sequence of str, optional
        Numeric fields to use as they are; default the known ones that exist
        (``status_code``, ``response_size``…).
    ngram_range : tuple of int
        Lengths of the character n-grams.
    max_tfidf_features : int
        Most n-gram terms kept (0: none).
    """

    def __init__(
        self,
        text_column: str | None = None,
        numeric_columns: Sequence[str] | None = None,
        ngram_range: tuple[int, int] = (1, 3),
        max_tfidf_features: int = 200,
    ) -> None:
        self.text_column = text_column
        self.numeric_columns = numeric_columns
        self.ngram_range = ngram_range
        self.max_tfidf_features = max_tfidf_features

    def fit(self, frame: pd.DataFrame) -> RequestFeatures:
        """Returns self, having chosen the text field and fitted the n-gram vocabulary."""
        self.text_ = self._text_column(frame)
        self.numeric_ = self._numeric_columns(frame)
        self.vectorizer_: TfidfVectorizer | None = None
        if self.max_tfidf_features > 0 and len(frame):
            uniques, _ = self._decoded(frame)
            vectorizer = TfidfVectorizer(
                analyzer="char",
                ngram_range=tuple(self.ngram_range),
                max_features=self.max_tfidf_features,
                lowercase=True,
                sublinear_tf=True,
                dtype=np.float32,
            )
            try:
                vectorizer.fit(uniques)
                self.vectorizer_ = vectorizer
            except ValueError:  # only empty texts: nothing to learn a vocabulary from
                self.vectorizer_ = None
        self.feature_names_ = list(self._features(frame.head(0)).columns)
        return self

    def input_fields(self, frame: pd.DataFrame | None = None) -> list[InputField]:
        """Returns the request fields the fitted features read, required as in training ``frame``.

        The text field is required when every training request had it;
        numbers are optional (a missing one is imputed).
        """
        fields = {self.text_: observed_field(frame, self.text_, "text")}
        for name in self.numeric_:
            fields.setdefault(name, InputField(name, "number", required=False))
        return list(fields.values())

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Returns the feature rows of ``frame``, one per request in input order."""
        return self._features(frame)[self.feature_names_]

    def _text_column(self, frame: pd.DataFrame) -> str:
        if self.text_column is not None:
            if self.text_column not in frame.columns:
                raise InvalidInput(
                    f"Text column {self.text_column!r} does not exist; columns are: "
                    + ", ".join(map(str, frame.columns))
                    + "."
                )
            return self.text_column
        lowered = {str(c).lower(): str(c) for c in frame.columns}
        for name in TEXT_CANDIDATES:
            if name in lowered and not pd.api.types.is_numeric_dtype(frame[lowered[name]]):
                return lowered[name]
        texts = [
            str(c)
            for c in frame.columns
            if pd.api.types.is_string_dtype(frame[c]) or frame[c].dtype == object
        ]
        if not texts:
            raise InvalidInput(
                "Request features need a text column (payload, request, body…); name it with "
                "--text-column."
            )
        lengths = {c: frame[c].astype("string").str.len().mean() for c in texts}
        return max(texts, key=lambda c: lengths[c] if pd.notna(lengths[c]) else -1.0)

    def _numeric_columns(self, frame: pd.DataFrame) -> list[str]:
        if self.numeric_columns is not None:
            missing = [c for c in self.numeric_columns if c not in frame.columns]
            if missing:
                raise InvalidInput(f"Numeric column {missing[0]!r} does not exist.")
            return list(self.numeric_columns)
        lowered = {str(c).lower(): str(c) for c in frame.columns}
        return [
            lowered[n]
            for n in NUMERIC_CANDIDATES
            if n in lowered and pd.api.types.is_numeric_dtype(frame[lowered[n]])
        ]

    def _decoded(self, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """Returns the distinct decoded texts and each row's index among them."""
        raw = pc.dictionary_encode(as_arrow_text(frame[self.text_]))
        return url_decoded(raw.dictionary.to_pylist()), raw.indices.to_numpy(zero_copy_only=False)

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        rows = len(frame)
        raw = pc.dictionary_encode(
            as_arrow_text(frame[self.text_] if self.text_ in frame.columns else [""] * rows)
        )
        raw_uniques = raw.dictionary
        codes = raw.indices.to_numpy(zero_copy_only=False)
        decoded_list = url_decoded(raw_uniques.to_pylist())
        decoded = pa.array(decoded_list, type=pa.string())
        per_unique: dict[str, np.ndarray] = {
            "length": pc.utf8_length(decoded).to_numpy(zero_copy_only=False),
            "raw_length": pc.utf8_length(raw_uniques).to_numpy(zero_copy_only=False),
            "percent_encoded": pc.count_substring_regex(raw_uniques, r"%[0-9A-Fa-f]{2}").to_numpy(
                zero_copy_only=False
            ),
        }
        for name, needle in SPECIALS.items():
            per_unique[f"count={name}"] = pc.count_substring(decoded, needle).to_numpy(
                zero_copy_only=False
            )
        per_unique["entropy"] = byte_entropy(decoded)
        length = np.maximum(per_unique["length"].astype(np.float64), 1.0)
        for name, pattern in (
            ("digit_ratio", r"[0-9]"),
            ("upper_ratio", r"[A-Z]"),
            ("alpha_ratio", r"[A-Za-z]"),
            ("non_ascii_ratio", r"[^\x00-\x7F]"),
        ):
            found = pc.count_substring_regex(decoded, pattern).to_numpy(zero_copy_only=False)
            per_unique[name] = found / length
        if self.vectorizer_ is not None:
            terms = self.vectorizer_.get_feature_names_out()
            matrix = (
                self.vectorizer_.transform(decoded_list).toarray()
                if decoded_list
                else np.zeros((0, len(terms)))
            )
            for i, term in enumerate(terms):
                per_unique[f"ngram={term}"] = matrix[:, i]
        columns = {
            name: np.asarray(values, dtype=np.float64)[codes] if rows else np.zeros(0)
            for name, values in per_unique.items()
        }
        for name in self.numeric_:
            values = frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index)
            columns[name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        return pd.DataFrame(columns, index=pd.RangeIndex(rows))
