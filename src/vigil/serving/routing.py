"""Which version answers a request: production, or the canary for its share of traffic.

With a routing key (a user or session id sent by the client) the choice is
sticky: the same key always lands on the same side for a given canary, so one
user does not flip between versions. Without one, the choice is random.
"""

from __future__ import annotations

import hashlib
import random

from vigil.errors import NotFound
from vigil.registry.entities import ModelRecord

# Buckets per percent point: weights like 12.5% route exactly.
_BUCKETS = 10_000


def choose_version(
    model: ModelRecord, routing_key: str | None = None, rng: random.Random | None = None
) -> int:
    """Returns the version to answer: the canary for its weight of traffic, else production."""
    if model.production_version is None and model.canary_version is None:
        raise NotFound(f"Model {model.name} has no production version; deploy one first.")
    if model.canary_version is None or model.canary_weight <= 0:
        assert model.production_version is not None
        return model.production_version
    if model.production_version is None or model.canary_weight >= 100:
        return model.canary_version
    bucket = _bucket(model, routing_key, rng)
    return (
        model.canary_version
        if bucket < model.canary_weight * _BUCKETS / 100
        else model.production_version
    )


def _bucket(model: ModelRecord, routing_key: str | None, rng: random.Random | None) -> int:
    if routing_key is None:
        return (rng or random).randrange(_BUCKETS)
    # Salted with the canary version so a new canary reshuffles who sees it.
    digest = hashlib.blake2b(
        f"{model.tenant}/{model.name}/{model.canary_version}/{routing_key}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") % _BUCKETS
