"""Limits and switches of the HTTP layer, read from the environment.

The names beyond DESIGN.md's configuration table are the API's own; each is
checked at start so a typo fails the server at once instead of serving with a
limit nobody meant.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from vigil.api.ratelimit import DEFAULT_BURST, DEFAULT_RATE

MIB = 1024 * 1024


@dataclass(frozen=True)
class ApiSettings:
    """How much one request may carry, how fast one key may call, and what is logged."""

    max_body_bytes: int = 32 * MIB
    max_instances: int = 10_000
    # Requests per second each key may sustain, and the burst it may spend at once;
    # a rate of 0 turns rate limiting off (benchmarks, trusted single-user setups).
    rate_limit: float = DEFAULT_RATE
    rate_burst: int = DEFAULT_BURST
    log_level: str = "INFO"
    # Threads running training jobs inside each API process; 0 when `vigil worker`
    # processes do the jobs (scale mode) so API replicas only serve.
    job_threads: int = 2
    # /metrics names models of every tenant, so it needs an admin or `metrics` key;
    # VIGIL_METRICS_REQUIRE_KEY=0 opens it where only the scraper reaches the port.
    metrics_require_key: bool = True
    # Each process runs the policy scheduler; only the lease holder acts, so this is
    # off only where a process must never act (tests driving ticks by hand).
    scheduler: bool = True

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError("VIGIL_MAX_BODY_BYTES must be a positive number of bytes.")
        if self.max_instances < 1:
            raise ValueError("VIGIL_MAX_INSTANCES must be a positive number of rows.")
        if self.rate_limit < 0:
            raise ValueError("VIGIL_RATE_LIMIT must be >= 0 (0 turns rate limiting off).")
        if self.rate_limit > 0 and self.rate_burst < 1:
            raise ValueError("VIGIL_RATE_BURST must be at least 1.")
        if self.job_threads < 0:
            raise ValueError("VIGIL_JOB_THREADS must be >= 0 (0 leaves jobs to `vigil worker`).")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Returns the settings from ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            max_body_bytes=_int(env, "VIGIL_MAX_BODY_BYTES", default.max_body_bytes),
            max_instances=_int(env, "VIGIL_MAX_INSTANCES", default.max_instances),
            rate_limit=_float(env, "VIGIL_RATE_LIMIT", default.rate_limit),
            rate_burst=_int(env, "VIGIL_RATE_BURST", default.rate_burst),
            log_level=(env.get("VIGIL_LOG_LEVEL") or default.log_level).upper(),
            job_threads=_int(env, "VIGIL_JOB_THREADS", default.job_threads),
            metrics_require_key=_bool(
                env, "VIGIL_METRICS_REQUIRE_KEY", default.metrics_require_key
            ),
            scheduler=_bool(env, "VIGIL_SCHEDULER", default.scheduler),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}.") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}.") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {text!r}.")
