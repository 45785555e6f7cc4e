"""Loaded models, kept warm and swapped without making a request wait for a load.

When a deployment moves to a version this process has not loaded yet, the
request is answered by the version that answered this model last (if there is
one) while the new one loads in the background; the next requests get the new
version. Only a cold start — nothing loaded for the model at all — loads in
the request.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("vigil.serving.cache")

Key = tuple[str, str, int]


class WouldBlock(Exception):
    """Raised by a call told not to wait (``block=False``) when answering needs a load or a read.

    The caller retries where waiting is allowed (a worker thread rather than
    the event loop).
    """


class ModelCache:
    """An LRU of loaded models keyed by (tenant, model, version), with background loading."""

    def __init__(self, load: Callable[[str, str, int], Any], *, size: int = 32) -> None:
        self._load = load
        self._size = size
        self._models: OrderedDict[Key, Any] = OrderedDict()
        self._last_served: dict[tuple[str, str], int] = {}
        self._loading: dict[Key, Future[Any]] = {}
        self._lock = threading.Lock()
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-model-load")

    def get(self, tenant: str, name: str, version: int) -> Any:
        """Returns the loaded model, loading it now if needed."""
        key = (tenant, name, version)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            pending = self._loading.get(key)
        if pending is not None:
            return pending.result()
        model = self._load(tenant, name, version)
        self._put(key, model)
        return model

    def serve(self, tenant: str, name: str, version: int, *, block: bool = True) -> tuple[int, Any]:
        """Returns (version, model) to answer with: ``version`` if loaded, else the last one served.

        In the second case ``version`` is loading in the background. Only a
        cold start (nothing of the model loaded) waits for a load; with
        ``block=False`` it raises ``WouldBlock`` instead.
        """
        key = (tenant, name, version)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                self._last_served[(tenant, name)] = version
                return version, model
            previous = self._last_served.get((tenant, name))
            fallback = self._models.get((tenant, name, previous)) if previous is not None else None
            if fallback is not None and key not in self._loading:
                self._loading[key] = self._loader.submit(self._load_in_background, key)
        if fallback is not None and previous is not None:
            return previous, fallback
        if not block:
            raise WouldBlock(f"{name} version {version} is not loaded")
        model = self.get(tenant, name, version)
        with self._lock:
            self._last_served[(tenant, name)] = version
        return version, model

    def wait_for_loads(self) -> None:
        """Returns once the background loads under way are finished (tests, shutdown)."""
        with self._lock:
            pending = list(self._loading.values())
        for future in pending:
            future.exception()

    def forget(self, tenant: str, name: str) -> None:
        """Drops every loaded version of a model (after it or a version was deleted)."""
        with self._lock:
            for key in [k for k in self._models if k[0] == tenant and k[1] == name]:
                del self._models[key]
            self._last_served.pop((tenant, name), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def _load_in_background(self, key: Key) -> Any:
        try:
            model = self._load(*key)
            self._put(key, model)
            return model
        except Exception:
            log.exception("loading %s version %d failed", key[1], key[2])
            raise
        finally:
            with self._lock:
                self._loading.pop(key, None)

    def _put(self, key: Key, model: Any) -> None:
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > self._size:
                self._models.popitem(last=False)
