"""Vigil: a self-hosted machine-learning service.

Train models on tables, logs, metrics and requests, keep every trained model as
an immutable version, serve predictions, and watch each version in production.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.client import Client, ClientError

    __version__: str

__all__ = ["Client", "ClientError", "__version__"]


def __getattr__(name: str) -> Any:
    # ``import vigil`` stays cheap for the CLI and workers: the client pulls in httpx,
    # and reading the installed version, importlib.metadata (a tenth of a second).
    if name in ("Client", "ClientError"):
        from vigil import client

        return getattr(client, name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("vigil-ml")
        except PackageNotFoundError:  # running from a source tree that was never installed
            found = "0.0.0"
        globals()["__version__"] = found
        return found
    raise AttributeError(f"module 'vigil' has no attribute {name!r}")
