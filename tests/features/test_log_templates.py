"""Message templates: masking, stable ids, unseen detection, rarity, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa

from vigil.features.templates import UNSEEN, TemplateMiner, mask_messages
from vigil.simulate import simulate


def test_masking_hides_ids_numbers_hex_addresses_and_block_ids() -> None:
    masked = mask_messages(
        [
            "Received block blk_-6952295868487656571 of size 67108864 from /10.251.73.220",
            "User u11404 logged in from 47.127.121.206:443",
            "Fault at 0x1f3a, retry 3",
            "ask 10.0.0.1:50010 to delete blk_1 blk_2 blk_3",
            None,
        ]
    ).to_pylist()
    assert masked == [
        "Received block <BLK> of size <*> from <*>",
        "User <*> logged in from <*>",
        "Fault at <*> retry <*>",
        "ask <*> to delete <BLK>",
        "",
    ]


def test_template_ids_are_stable_and_follow_first_appearance() -> None:
    messages = ["disk 1 full", "user 7 logged in", "disk 22 full", "user 9 logged in"]
    first = TemplateMiner().fit(messages)
    second = TemplateMiner().fit(list(messages))
    assert first.templates_ == second.templates_ == ["disk <*> full", "user <*> logged in"]
    assert first.transform(messages).tolist() == [0, 1, 0, 1]
    assert first.counts_.tolist() == [2, 2]


def test_new_messages_of_known_kinds_match_and_new_kinds_are_unseen() -> None:
    miner = TemplateMiner().fit(["disk 1 full", "cache hit for key k1"])
    ids = miner.transform(["disk 99 full", "kernel panic: out of memory", "cache hit for key z9"])
    assert ids.tolist() == [0, UNSEEN, 1]
    assert miner.template(UNSEEN) == "<unseen>"


def test_rarity_ranks_unseen_above_rare_above_common() -> None:
    miner = TemplateMiner().fit(["common 1"] * 98 + ["rare event 1", "rare event 2"])
    rarity = miner.rarity(np.array([0, 1, UNSEEN]))
    assert rarity[0] < rarity[1] < rarity[2]
    assert np.isfinite(rarity).all()


def test_repeated_messages_are_answered_from_the_cache() -> None:
    miner = TemplateMiner().fit(["job 1 done", "job 2 done"])
    miner.transform(["job 3 failed badly"])
    assert miner.cache_["job <*> failed badly"] == UNSEEN
    assert miner.transform(pa.array(["job 4 failed badly"])).tolist() == [UNSEEN]


def test_a_fitted_miner_pickles_and_gives_the_same_ids() -> None:
    logs = simulate("logs", 3000, seed=4)
    miner = TemplateMiner().fit(logs["message"].iloc[:2000])
    restored = pickle.loads(pickle.dumps(miner))
    tail = logs["message"].iloc[2000:]
    assert np.array_equal(miner.transform(tail), restored.transform(tail))


def test_simulated_log_templates_are_few_and_unseen_ones_come_from_incidents() -> None:
    logs = simulate("logs", 6000, anomaly_rate=0.05, seed=3)
    normal = logs[logs["is_anomaly"] == 0]
    miner = TemplateMiner().fit(normal["message"])
    # About 40 kinds of normal message, not thousands of distinct texts.
    assert 20 <= miner.n_templates_ <= 80
    unseen = miner.transform(logs["message"]) == UNSEEN
    assert unseen.any()
    assert logs.loc[unseen, "anomaly_type"].eq("unseen_template").all()
