"""Prometheus metrics of one application: requests, latency, predictions and jobs.

Each app gets its own registry, so two apps in one process (tests, or an
embedding program) never mix their counts. Requests are labelled by the route
template (``/v1/models/{name}``), never by the raw path, which would make one
series per model name and per typo.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

# Finer at the low end: model time is sub-millisecond and the interesting
# differences are between 1 ms and 50 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
CONTENT_TYPE = CONTENT_TYPE_LATEST

log = logging.getLogger("vigil.api")

JobCounts = Callable[[], Mapping[str, int]]
ServingStats = Callable[[], Mapping[str, float] | None]


class _JobsCollector(Collector):
    """Reads the jobs by state from the database at each scrape, so every replica agrees."""

    def __init__(self, job_counts: JobCounts) -> None:
        self._job_counts = job_counts

    def collect(self) -> Iterator[Metric]:
        """Yields the ``vigil_jobs`` gauge, one sample per state."""
        try:
            found = self._job_counts()
        except Exception:
            # A scrape must not fail with the database; the gauge is missing this time.
            log.warning("could not count jobs for /metrics", exc_info=True)
            return
        gauge = GaugeMetricFamily("vigil_jobs", "Jobs by state.", labels=["state"])
        counts = dict.fromkeys(JOB_STATES, 0)
        counts.update(found)
        for state, count in sorted(counts.items()):
            gauge.add_metric([state], count)
        yield gauge

    def describe(self) -> Iterable[Metric]:
        """Returns nothing, so registering does not query the database."""
        return []


class _ServingCollector(Collector):
    """Reads the prediction log's counters at each scrape: nothing it drops goes unseen."""

    def __init__(self, serving_stats: ServingStats) -> None:
        self._serving_stats = serving_stats

    def collect(self) -> Iterator[Metric]:
        """Yields the prediction-log and shadow-scoring series of this process."""
        stats = self._serving_stats()
        if stats is None:
            return
        records = CounterMetricFamily(
            "vigil_prediction_log_records",
            "Predictions written to the log by this process, dropped because the log fell "
            "behind, or lost (accepted by a process that died before writing them: every "
            "process's, counted at the next start).",
            labels=["outcome"],
        )
        records.add_metric(["logged"], stats["logged"])
        records.add_metric(["dropped"], stats["dropped"])
        if "lost" in stats:
            records.add_metric(["lost"], stats["lost"])
        yield records
        yield CounterMetricFamily(
            "vigil_prediction_log_write_errors",
            "Failed batch writes of the prediction log (retried, not lost).",
            value=stats["write_errors"],
        )
        yield GaugeMetricFamily(
            "vigil_prediction_log_pending",
            "Predictions buffered, not yet written.",
            value=stats["pending"],
        )
        yield CounterMetricFamily(
            "vigil_shadow_errors",
            "Shadow scorings that failed (production answers are unaffected).",
            value=stats["shadow_errors"],
        )

    def describe(self) -> Iterable[Metric]:
        """Returns nothing: the series are read at scrape time."""
        return []


class ApiMetrics:
    """The metrics one app records and serves at ``/metrics``."""

    def __init__(
        self, job_counts: JobCounts | None = None, serving_stats: ServingStats | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vigil_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vigil_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "vigil_predictions",
            "Predictions served, by tenant, model and the version that answered.",
            ["tenant", "model", "version"],
            registry=self.registry,
        )
        if job_counts is not None:
            self.registry.register(_JobsCollector(job_counts))
        if serving_stats is not None:
            self.registry.register(_ServingCollector(serving_stats))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Counts one answered request and its duration."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def count_predictions(self, tenant: str, model: str, predictions: Iterable[Any]) -> None:
        """Counts predictions by the version that gave each one."""
        by_version = Tally(str(p.get("version")) for p in predictions if isinstance(p, dict))
        for version, count in by_version.items():
            self.predictions.labels(tenant, model, version).inc(count)

    def render(self) -> bytes:
        """Returns every metric in the Prometheus text format."""
        return generate_latest(self.registry)
