"""Request payload features: decoding, special characters, entropy, n-grams."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from vigil.errors import InvalidInput
from vigil.features.requests import RequestFeatures, byte_entropy, url_decoded
from vigil.simulate import simulate


def test_url_decoding_undoes_single_and_double_encoding() -> None:
    assert url_decoded(["%3Cscript%3E", "%253Cb%253E", "a+b", "plain"]) == [
        "<script>",
        "<b>",
        "a b",
        "plain",
    ]


def test_entropy_of_known_texts() -> None:
    entropy = byte_entropy(pa.array(["", "aaaa", "ab", "abcd", None]))
    assert entropy.tolist() == pytest.approx([0.0, 0.0, 1.0, 2.0, 0.0])


def test_counts_lengths_and_ratios_on_hand_made_payloads() -> None:
    frame = pd.DataFrame(
        {"payload": ["hello", "1' OR '1'='1' --", "%3Cscript%3Ealert(1)%3C/script%3E", "../../etc"]}
    )
    X = RequestFeatures(max_tfidf_features=0).fit(frame).transform(frame)
    assert X["count=single_quote"].tolist() == [0, 5, 0, 0]
    assert X["count=dash_dash"].tolist() == [0, 1, 0, 0]
    assert X["count=lt"].tolist() == [0, 0, 2, 0]
    assert X["count=dot_dot"].tolist() == [0, 0, 0, 2]
    assert X["percent_encoded"].tolist() == [0, 0, 4, 0]
    assert X["length"].iloc[2] < X["raw_length"].iloc[2]
    assert X["digit_ratio"].iloc[0] == 0.0
    assert X["upper_ratio"].iloc[1] == pytest.approx(2 / 16)


def test_ngrams_are_capped_and_rows_keep_input_order() -> None:
    requests = simulate("requests", 3000, anomaly_rate=0.05, seed=2)
    features = RequestFeatures(max_tfidf_features=50).fit(requests)
    X = features.transform(requests)
    assert features.text_ == "payload"
    assert sum(c.startswith("ngram=") for c in X.columns) == 50
    assert {"status_code", "response_size"} <= set(X.columns)
    order = np.random.default_rng(0).permutation(len(requests))
    assert np.allclose(features.transform(requests.iloc[order]).to_numpy(), X.iloc[order])


def test_attacks_differ_from_normal_values() -> None:
    requests = simulate("requests", 4000, anomaly_rate=0.1, seed=6)
    X = RequestFeatures(max_tfidf_features=0).fit(requests).transform(requests)
    injected = requests["anomaly_type"].isin(["sql_injection", "xss", "command_injection"])
    normal = requests["is_anomaly"] == 0
    specials = X.filter(like="count=").drop(columns=["count=space"]).sum(axis=1)
    assert specials[injected].mean() > 3 * specials[normal].mean()


def test_the_text_column_is_found_or_named() -> None:
    frame = pd.DataFrame({"id": [1, 2], "q": ["a=1", "b=<x>"], "note": ["x", "y"]})
    assert RequestFeatures().fit(frame).text_ == "q"
    assert RequestFeatures(text_column="note").fit(frame).text_ == "note"
    with pytest.raises(InvalidInput, match="'body'"):
        RequestFeatures(text_column="body").fit(frame)
