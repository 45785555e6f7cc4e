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

from vigil.features.extractors import (
    FEATURE_KINDS,
    Extracted,
    FeatureExtractor,
    Units,
    make_extractor,
)
from vigil.features.fields import InputField
from vigil.features.logs import LogEventFeatures
from vigil.features.metrics import MetricWindowFeatures
from vigil.features.parsers import ParseReport, parse_lines
from vigil.features.requests import RequestFeatures
from vigil.features.sessions import SessionFeatures
from vigil.features.templates import TemplateMiner

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
