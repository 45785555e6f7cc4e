"""Vigil: a self-hosted machine-learning service.

Train models on tables, logs, metrics and requests, keep every trained model as
an immutable version, serve predictions, and watch each version in production.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("vigil-ml")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from vigil.client import Client, ClientError

__all__ = ["Client", "ClientError", "__version__"]


def __getattr__(name: str) -> Any:
    # The client pulls in httpx; ``import vigil`` stays cheap for the CLI and workers.
    if name in ("Client", "ClientError"):
        from vigil import client

        return getattr(client, name)
    raise AttributeError(f"module 'vigil' has no attribute {name!r}")
