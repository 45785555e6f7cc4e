"""Loads a benchmark script (benchmarks/anomaly/*.py is not a package) as a module for its tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_benchmark(filename: str) -> ModuleType:
    """Returns benchmarks/anomaly/``filename`` imported as a module."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "anomaly" / filename
    name = f"{path.stem}_benchmark"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
