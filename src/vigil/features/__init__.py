"""Turning raw inputs (tables, log events, metric streams, requests) into model features.

- :mod:`~vigil.features.tabular`: the preprocessing fitted with every table model;
- :mod:`~vigil.features.parsers`: raw log lines to events, with a parse report;
- :mod:`~vigil.features.templates`: message templates mined with Drain3;
- :mod:`~vigil.features.logs`: per-event log features;
- :mod:`~vigil.features.sessions`: sessions of log events as feature rows;
- :mod:`~vigil.features.metrics`: causal window features of metric streams;
- :mod:`~vigil.features.requests`: features of HTTP request payloads;
- :mod:`~vigil.features.extractors`: the interface the trainer uses, and
  :func:`make_extractor` to build one per kind (``logs``, ``metrics``, ``requests``);
- :mod:`~vigil.features.fields`: the fields a fitted extractor reads from each
  event (:class:`InputField`), and the check that refuses events it cannot read.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Where each public name lives. They are imported on first use (PEP 562), so that
# importing one light submodule (``vigil.features.kinds``) does not load
# scikit-learn, Drain3 and pandas through the others.
_HOMES = {
    "FEATURE_KINDS": "vigil.features.kinds",
    "Extracted": "vigil.features.extractors",
    "FeatureExtractor": "vigil.features.extractors",
    "Units": "vigil.features.extractors",
    "make_extractor": "vigil.features.extractors",
    "InputField": "vigil.features.fields",
    "LogEventFeatures": "vigil.features.logs",
    "MetricWindowFeatures": "vigil.features.metrics",
    "ParseReport": "vigil.features.parsers",
    "parse_lines": "vigil.features.parsers",
    "RequestFeatures": "vigil.features.requests",
    "SessionFeatures": "vigil.features.sessions",
    "TemplateMiner": "vigil.features.templates",
}


def __getattr__(name: str) -> Any:
    """Returns a public name of the package, importing its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'vigil.features' has no attribute {name!r}")
    return getattr(import_module(home), name)


__all__ = [
    "FEATURE_KINDS",
    "Extracted",
    "FeatureExtractor",
    "InputField",
    "LogEventFeatures",
    "MetricWindowFeatures",
    "ParseReport",
    "RequestFeatures",
    "SessionFeatures",
    "TemplateMiner",
    "Units",
    "make_extractor",
    "parse_lines",
]
