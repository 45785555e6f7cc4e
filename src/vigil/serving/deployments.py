"""Each model's deployment as every replica sees it: read from the database, cached briefly.

A deployment change made through any replica reaches the others when their
cached entry expires (``ttl`` seconds, 1 by default), so every replica follows
within the two seconds the serving contract allows, without a message bus.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vigil.registry.entities import ModelRecord
from vigil.registry.store import RegistryStore

DEFAULT_TTL_SECONDS = 1.0


class DeploymentView:
    """A short-lived cache of model records (deployment pointers) per tenant and name."""

    def __init__(
        self,
        store: RegistryStore,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._monotonic = monotonic
        self._entries: dict[tuple[str, str], tuple[float, ModelRecord]] = {}
        self._lock = threading.Lock()

    def get(self, tenant: str, name: str) -> ModelRecord:
        """Returns the model's record, at most ``ttl`` seconds old."""
        key = (tenant, name)
        now = self._monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        record = self._store.get_model(tenant, name)
        with self._lock:
            self._entries[key] = (now, record)
        return record

    def peek(self, tenant: str, name: str) -> ModelRecord | None:
        """Returns the fresh cached record of the model, else None (never reads the store)."""
        entry = self._entries.get((tenant, name))
        if entry is not None and self._monotonic() - entry[0] < self._ttl:
            return entry[1]
        return None

    def forget(self, tenant: str, name: str) -> None:
        """Drops the cached entry so the next read goes to the database (after a local change)."""
        with self._lock:
            self._entries.pop((tenant, name), None)
