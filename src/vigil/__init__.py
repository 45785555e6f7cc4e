"""Vigil: a self-hosted machine-learning service.

Train models on tables, logs, metrics and requests, keep every trained model as
an immutable version, serve predictions, and watch each version in production.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vigil-ml")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
