"""Application log events with incidents, and the event-stream machinery every generator shares.

What is simulated: the log of a small web application made of a handful of
services (api, auth, db, cache, payments, search, notifications) running on a
few hosts each. Every event has a timestamp, service, host, level, message,
response time, HTTP status code and request id.

Why it resembles real logs:

- Arrivals follow a non-homogeneous Poisson process whose rate has a daily
  cycle (quiet at night, busy in the afternoon) and quieter weekends, as in
  the timestamps of Loghub's HDFS and BGL logs or any web server's access log.
- Levels keep the proportions seen in production logs (mostly INFO, some
  DEBUG, a few percent WARN, about one percent ERROR), and messages come from
  per-service templates with variable parts (ids, durations, paths, user ids),
  which is the structure log-template miners such as Drain recover.
- Response times are lognormal with a median and spread per service (a cache
  answers in about a millisecond, a payment provider in a few hundred).

Incidents, labelled ``is_anomaly = 1`` with their ``anomaly_type``, span many
consecutive events, as real incidents do:

- ``latency_spike``: one service (often one host) answers 8-25 times slower;
- ``error_burst``: a flood of ERROR events with 5xx status codes from one
  service's error templates;
- ``unseen_template``: messages of kinds that never occur in normal traffic
  (out-of-memory kills, expired certificates, replica lag, ...);
- ``traffic_drop``: the event rate collapses, leaving a gap in which only a
  trickle of events arrives (those events carry the label).

The helpers at the top of this module (incident planning, run placement, the
daily-cycle arrival clock, bursts, random ids) are shared by the other event
streams of :mod:`vigil.simulate`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from vigil.simulate.labels import ANOMALY_TYPE, IS_ANOMALY

DEFAULT_START = datetime(2024, 1, 1)  # a Monday, so weekly cycles start on a week boundary

# Relative traffic of a web application by hour of day (0-23), mean about 1.
WEB_HOURLY_PROFILE = (
    0.35, 0.28, 0.22, 0.20, 0.20, 0.25, 0.40, 0.65, 0.95, 1.20, 1.35, 1.40,
    1.40, 1.38, 1.35, 1.32, 1.30, 1.30, 1.35, 1.40, 1.35, 1.10, 0.80, 0.50,
)  # fmt: skip

StrArray = np.ndarray


# --- shared event-stream machinery -------------------------------------------------------------


def as_naive_utc(start: datetime | None) -> datetime:
    """Returns ``start`` as a naive UTC datetime, or the default start when it is None."""
    if start is None:
        return DEFAULT_START
    if start.tzinfo is not None:
        return start.astimezone(UTC).replace(tzinfo=None)
    return start


def plan_incidents(
    rng: np.random.Generator, total: int, length_ranges: Mapping[str, tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the type index and length of each incident; the lengths sum to exactly ``total``.

    Types are dealt in shuffled rounds, so every type occurs once there are at
    least as many incidents as types. Lengths are log-uniform within each
    type's range (short incidents are common, long ones rare); the last one is
    trimmed so the labelled share matches the requested rate exactly.
    """
    if total <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low = np.array([r[0] for r in length_ranges.values()], dtype=np.float64)
    high = np.array([r[1] for r in length_ranges.values()], dtype=np.float64)
    kinds = len(low)
    count = int(np.ceil(total / low.min()))
    rounds = -(-count // kinds)
    types = np.argsort(rng.random((rounds, kinds)), axis=1).ravel()[:count]
    draws = np.exp(rng.uniform(np.log(low[types]), np.log(high[types] + 1.0)))
    lengths = np.clip(np.floor(draws), low[types], high[types]).astype(np.int64)
    ends = np.cumsum(lengths)
    last = int(np.searchsorted(ends, total))
    lengths = lengths[: last + 1]
    lengths[-1] -= int(ends[last]) - total
    return types[: last + 1], lengths


def place_runs(rng: np.random.Generator, rows: int, lengths: np.ndarray) -> np.ndarray:
    """Returns start positions for non-overlapping runs of ``lengths`` in ``rows`` slots."""
    free = rows - int(lengths.sum())
    gaps = np.sort(rng.integers(0, free + 1, size=len(lengths)))
    return gaps + np.cumsum(lengths) - lengths


def run_positions(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (row position, incident index) for every row covered by the runs."""
    incident = np.repeat(np.arange(len(lengths)), lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts[incident] + within, incident


def burst_offsets(
    rng: np.random.Generator, lengths: np.ndarray, mean_gap_seconds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (incident index, seconds since the incident began) for each event of each burst.

    Every length must be at least one; gaps between events are exponential
    with the incident's mean, so a burst looks like a short, dense Poisson process.
    """
    incident = np.repeat(np.arange(len(lengths)), lengths)
    gaps = rng.exponential(1.0, size=int(lengths.sum())) * mean_gap_seconds[incident]
    first = np.cumsum(lengths) - lengths
    gaps[first] = 0.0
    totals = np.cumsum(gaps)
    return incident, totals - np.repeat(totals[first], lengths)


def traffic_profile(
    times: np.ndarray, hourly: Sequence[float] = WEB_HOURLY_PROFILE, weekend: float = 0.75
) -> np.ndarray:
    """Returns the relative activity at each ``datetime64`` time: daily curve, weekend dip."""
    anchors = np.append(np.asarray(hourly, dtype=np.float64), hourly[0])
    days = times.astype("datetime64[D]")
    hour = (times - days).astype("timedelta64[s]").astype(np.float64) / 3600.0
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return np.interp(hour, np.arange(25), anchors) * np.where(weekday >= 5, weekend, 1.0)


def burst_starts(
    rng: np.random.Generator, incident: np.ndarray, offsets: np.ndarray, span: float
) -> np.ndarray:
    """Returns a random start (seconds) per incident such that each burst ends within ``span``."""
    count = int(incident.max()) + 1 if len(incident) else 0
    durations = np.zeros(count)
    np.maximum.at(durations, incident, offsets)
    return rng.uniform(0.0, 1.0, count) * np.maximum(span - durations, 0.0)


def clock_seconds(
    load: np.ndarray,
    events_per_hour: float,
    start: datetime,
    hourly: Sequence[float] = WEB_HOURLY_PROFILE,
    weekend: float = 0.75,
) -> np.ndarray:
    """Returns, for each cumulative load value, the seconds after ``start`` when it is reached.

    ``load`` is a cumulative sum of unit-mean exponential draws; mapping it
    through the inverse of the cumulative intensity (time-rescaling) turns it
    into the arrival times of a Poisson process whose rate follows the hour of
    day (``hourly``, interpolated) and drops on Saturdays and Sundays.
    """
    if len(load) == 0:
        return np.zeros(0)
    origin = np.datetime64(start, "s")
    per_minute = events_per_hour / 60.0
    minutes = int(np.ceil(float(load[-1]) / per_minute * 1.5)) + 2 * 1440
    while True:
        grid = origin + (np.arange(minutes + 1) * 60).astype("timedelta64[s]")
        rate = traffic_profile(grid, hourly, weekend) * per_minute
        cumulative = np.concatenate(([0.0], np.cumsum(rate[:-1])))
        if cumulative[-1] >= load[-1]:
            break
        minutes *= 2
    return np.asarray(np.interp(load, cumulative, np.arange(minutes + 1) * 60.0))


def to_timestamps(start: datetime, seconds: np.ndarray) -> np.ndarray:
    """Returns ``datetime64[ms]`` timestamps ``seconds`` after ``start``."""
    millis = np.round(np.asarray(seconds, dtype=np.float64) * 1000.0).astype(np.int64)
    return np.datetime64(start, "ms") + millis.astype("timedelta64[ms]")


def random_hex(rng: np.random.Generator, rows: int, digits: int, prefix: str = "") -> StrArray:
    """Returns ``rows`` random lowercase hexadecimal ids of ``digits`` digits after ``prefix``."""
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    codes = alphabet[rng.integers(0, 16, size=(rows, digits))]
    ids = np.ascontiguousarray(codes).view(f"S{digits}").ravel().astype(f"U{digits}")
    return np.strings.add(prefix, ids) if prefix else ids


def join_text(*parts: StrArray | str) -> StrArray:
    """Returns the element-wise concatenation of text arrays and constant strings."""
    joined: StrArray = np.asarray(parts[0])
    for part in parts[1:]:
        joined = np.strings.add(joined, part)
    return joined


def replace_text(values: StrArray, old: str, new: StrArray | str) -> StrArray:
    """Returns ``values`` with ``old`` replaced by ``new`` (element-wise); empty input passes."""
    return np.strings.replace(values, old, new) if np.size(values) else values


def choose(
    rng: np.random.Generator, options: Sequence[str], rows: int, p: Sequence[float] | None = None
) -> StrArray:
    """Returns ``rows`` draws from ``options`` (with probabilities ``p`` when given)."""
    weights = None if p is None else np.asarray(p, dtype=np.float64) / np.sum(p)
    return np.asarray(options)[rng.choice(len(options), size=rows, p=weights)]


PUBLIC_FIRST_OCTETS = np.setdiff1d(np.arange(11, 224), [100, 127, 169, 172, 192])


def random_ipv4(rng: np.random.Generator, rows: int) -> StrArray:
    """Returns ``rows`` random IPv4 addresses outside the private and loopback ranges."""
    first = PUBLIC_FIRST_OCTETS[rng.integers(0, len(PUBLIC_FIRST_OCTETS), rows)].astype(str)
    rest = rng.integers(0, 256, size=(2, rows)).astype(str)
    last = rng.integers(1, 255, rows).astype(str)
    return join_text(first, ".", rest[0], ".", rest[1], ".", last)


def text_column(values: np.ndarray) -> pd.Series:
    """Returns ``values`` as a pandas string column (fast path through an object array)."""
    return pd.Series(np.asarray(values).astype(object), dtype="str")


def labels(
    rows: int, positions: np.ndarray, types: np.ndarray, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Returns ``is_anomaly`` and ``anomaly_type`` arrays for rows at ``positions`` of ``types``."""
    is_anomaly = np.zeros(rows, dtype=np.int64)
    is_anomaly[positions] = 1
    anomaly_type = np.full(rows, "", dtype=object)
    anomaly_type[positions] = np.asarray(names, dtype=object)[types]
    return {IS_ANOMALY: is_anomaly, ANOMALY_TYPE: anomaly_type}


def ordered_frame(columns: dict[str, np.ndarray], order: np.ndarray) -> pd.DataFrame:
    """Returns a DataFrame of ``columns`` with rows taken in ``order``; text becomes ``str``."""
    frame: dict[str, pd.Series] = {}
    for name, values in columns.items():
        taken = np.asarray(values)[order]
        if taken.dtype.kind in "OU":
            frame[name] = text_column(taken)
        else:
            frame[name] = pd.Series(taken)
    return pd.DataFrame(frame)


# --- the log generator -------------------------------------------------------------------------

SERVICES = ("api", "auth", "db", "cache", "payments", "search", "notifications")
SERVICE_SHARE = np.array([0.34, 0.14, 0.16, 0.18, 0.05, 0.09, 0.04])
LATENCY_MEDIAN_MS = np.array([45.0, 30.0, 8.0, 1.2, 180.0, 60.0, 25.0])
LATENCY_SIGMA = np.array([0.6, 0.5, 0.8, 0.5, 0.5, 0.7, 0.6])
HOSTS_PER_SERVICE = np.array([6, 3, 3, 4, 2, 3, 2])
HOST_NAMES = np.array(
    [f"{s}-{k + 1:02d}" for s, n in zip(SERVICES, HOSTS_PER_SERVICE, strict=True) for k in range(n)]
)
HOST_OFFSET = np.cumsum(HOSTS_PER_SERVICE) - HOSTS_PER_SERVICE

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
LEVEL_NAMES = np.array(LEVELS, dtype=object)
LEVEL_SHARE = np.array([0.15, 0.78, 0.055, 0.015])
LEVEL_STATUS: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "DEBUG": ((200, 201, 204, 304), (0.90, 0.04, 0.03, 0.03)),
    "INFO": ((200, 201, 204, 304), (0.90, 0.04, 0.03, 0.03)),
    "WARN": ((400, 401, 403, 404, 409, 429), (0.25, 0.15, 0.10, 0.30, 0.05, 0.15)),
    "ERROR": ((500, 502, 503, 504), (0.55, 0.15, 0.20, 0.10)),
}


@dataclass(frozen=True)
class Template:
    """One kind of log message: who emits it, at which level, and what it does to the request."""

    service: str
    level: str
    text: str
    status: tuple[int, ...] = ()
    latency_factor: float = 1.0


NORMAL_TEMPLATES = (
    Template("api", "INFO", "{method} {path} completed {status} in {ms} ms"),
    Template("api", "INFO", "Request {request_id} from user {user_id} routed to {upstream}"),
    Template("api", "DEBUG", "Parsed {nparams} query parameters for {path}"),
    Template("api", "WARN", "{method} {path} returned {status} for user {user_id}"),
    Template("api", "WARN", "Client {ip} at {pct}% of its rate limit", (200,)),
    Template("api", "ERROR", "{method} {path} failed with {status} after {ms} ms"),
    Template("auth", "INFO", "User {user_id} logged in from {ip}"),
    Template("auth", "INFO", "Issued token for user {user_id}, expires in {ttl} s"),
    Template("auth", "DEBUG", "Validated session {session_id}"),
    Template("auth", "WARN", "Failed login for user {user_id} from {ip}: invalid password", (401,)),
    Template("auth", "ERROR", "Token validation failed for session {session_id}: bad signature"),
    Template("db", "INFO", "Query on table {table} returned {nrows} rows in {ms} ms"),
    Template("db", "DEBUG", "Connection pool: {active} active, {idle} idle"),
    Template("db", "WARN", "Slow query on table {table}: {ms} ms", (200,), 6.0),
    Template("db", "ERROR", "Deadlock detected on table {table}, transaction rolled back", (), 3.0),
    Template("cache", "DEBUG", "Cache hit for key {cache_key}"),
    Template("cache", "INFO", "Cache miss for key {cache_key}, loaded in {ms} ms", (), 4.0),
    Template("cache", "WARN", "Evicted {nkeys} keys, memory at {pct}%", (200,)),
    Template("cache", "ERROR", "Cache node {host} unreachable, falling back to db", (503,)),
    Template("payments", "INFO", "Payment {payment_id} authorised for {amount} {currency}"),
    Template("payments", "DEBUG", "Fraud score for payment {payment_id}: {score}"),
    Template("payments", "INFO", "Refund {payment_id} processed for user {user_id}"),
    Template("payments", "WARN", "Payment {payment_id} declined: insufficient funds", (402,)),
    Template(
        "payments", "ERROR", "Provider timeout for payment {payment_id} after {ms} ms", (504,), 8.0
    ),
    Template("search", "INFO", "Search for user {user_id} returned {nrows} hits in {ms} ms"),
    Template("search", "DEBUG", "Merged index segment {segment}"),
    Template("search", "WARN", "Search query truncated to {nterms} terms", (200,)),
    Template("search", "ERROR", "Index shard {segment} unavailable", (503,)),
    Template("notifications", "INFO", "Sent {channel} notification to user {user_id}"),
    Template("notifications", "DEBUG", "Queue depth {depth}"),
    Template(
        "notifications",
        "WARN",
        "Retrying {channel} notification to user {user_id} (attempt {attempt})",
        (200,),
    ),
    Template(
        "notifications", "ERROR", "Failed to deliver {channel} notification to user {user_id}"
    ),
)

# Message kinds that never occur in normal traffic: the "new template" incidents.
UNSEEN_TEMPLATES = (
    Template("api", "ERROR", "Out of memory: killed worker {pid} ({rss} MB resident)", (502,)),
    Template("api", "WARN", "TLS handshake with {ip} failed: certificate has expired", (495,)),
    Template(
        "api", "INFO", "Configuration reloaded: feature flag {flag} set to {flag_state}", (200,)
    ),
    Template("db", "WARN", "Replica lag of {lag} s on {host} exceeds threshold", (200,)),
    Template("db", "ERROR", "Disk usage on {volume} at {pct}%, writes throttled", (507,), 5.0),
    Template("cache", "WARN", "Clock skew of {skew} ms against NTP server detected", (200,)),
    Template(
        "payments",
        "ERROR",
        "Circuit breaker opened for upstream {upstream} after {attempt}0 failures",
        (503,),
    ),
    Template(
        "search",
        "ERROR",
        "Segmentation fault in native extension, core dumped to /var/crash/core.{pid}",
        (500,),
    ),
    Template(
        "auth", "WARN", "Signing key {session_id} rotated outside the maintenance window", (200,)
    ),
    Template(
        "notifications", "INFO", "Schema migration {version} applied with {depth} warnings", (200,)
    ),
    Template("api", "WARN", "GC pause of {ms} ms in worker {pid}", (200,), 12.0),
)

TEMPLATES = NORMAL_TEMPLATES + UNSEEN_TEMPLATES
TEMPLATE_SERVICE = np.array([SERVICES.index(t.service) for t in TEMPLATES])
TEMPLATE_LEVEL = np.array([LEVELS.index(t.level) for t in TEMPLATES])
TEMPLATE_LATENCY = np.array([t.latency_factor for t in TEMPLATES])
INCIDENT_TYPES = ("latency_spike", "error_burst", "unseen_template", "traffic_drop")
INCIDENT_LENGTHS = {
    "latency_spike": (10, 120),
    "error_burst": (15, 150),
    "unseen_template": (3, 40),
    "traffic_drop": (5, 60),
}
# Mean seconds between consecutive events inside an incident (before per-incident jitter).
INCIDENT_GAP_SECONDS = np.array([0.8, 0.2, 8.0, 0.0])
# Which services incidents hit: the ones with dependencies and state more often than the cache.
INCIDENT_SERVICE_SHARE = np.array([0.30, 0.12, 0.18, 0.10, 0.12, 0.12, 0.06])
SERVER_ERRORS = np.array([500, 502, 503, 504])
EVENTS_PER_HOUR = 1800.0

ROUTES = np.array(
    ["/v1/orders/", "/v1/users/", "/v1/products/", "/v1/cart/", "/v1/invoices/", "/v1/sessions/"]
)
TABLES = np.array(["orders", "users", "products", "payments", "sessions", "inventory", "audit"])
CACHE_ENTITIES = np.array(["user:", "product:", "cart:", "session:", "price:"])


def _templates_by_service_and_level() -> list[np.ndarray]:
    """Returns, for each (service, level) pair in row-major order, its normal templates' indices."""
    return [
        np.array(
            [
                i
                for i, t in enumerate(NORMAL_TEMPLATES)
                if t.service == service and t.level == level
            ],
            dtype=np.int64,
        )
        for service in SERVICES
        for level in LEVELS
    ]


TEMPLATES_BY_SERVICE_LEVEL = _templates_by_service_and_level()
TEMPLATE_PARTS = [list(string.Formatter().parse(t.text)) for t in TEMPLATES]


class _Fields:
    """Per-row values that message templates refer to by name, drawn on demand."""

    def __init__(self, rng: np.random.Generator, row: dict[str, np.ndarray]) -> None:
        self.rng = rng
        self.row = row

    def ints(self, rows: int, low: int, high: int) -> StrArray:
        """Returns ``rows`` random integers in [low, high) as text."""
        return self.rng.integers(low, high, size=rows).astype(str)

    def value(self, name: str, idx: np.ndarray) -> StrArray:
        """Returns the text of field ``name`` for the rows ``idx``."""
        rng, rows = self.rng, len(idx)
        if name in ("status", "request_id", "host"):
            return self.row[name][idx].astype(str)
        if name == "ms":
            return np.round(self.row["response_time"][idx], 1).astype(str)
        if name == "user_id":
            return self.row["user_id"][idx]
        if name == "method":
            return np.array(["GET", "POST", "PUT", "DELETE"])[
                rng.choice(4, size=rows, p=[0.7, 0.2, 0.06, 0.04])
            ]
        if name == "path":
            return np.strings.add(
                ROUTES[rng.integers(0, len(ROUTES), rows)], self.ints(rows, 1, 99999)
            )
        if name == "ip":
            return random_ipv4(rng, rows)
        if name == "upstream":
            return np.array(SERVICES)[rng.integers(1, len(SERVICES), rows)]
        if name in ("session_id", "payment_id"):
            return random_hex(rng, rows, 12, "s-" if name == "session_id" else "pay_")
        if name == "cache_key":
            keys = CACHE_ENTITIES[rng.integers(0, len(CACHE_ENTITIES), rows)]
            return np.strings.add(keys, self.ints(rows, 1, 50000))
        if name == "table":
            return TABLES[rng.integers(0, len(TABLES), rows)]
        if name == "amount":
            return np.round(rng.lognormal(3.5, 0.9, rows), 2).astype(str)
        if name == "score":
            return np.round(rng.beta(1.2, 12.0, rows), 3).astype(str)
        if name == "currency":
            return np.array(["EUR", "USD", "GBP"])[rng.choice(3, size=rows, p=[0.6, 0.3, 0.1])]
        if name == "channel":
            return np.array(["email", "sms", "push"])[rng.integers(0, 3, rows)]
        if name == "ttl":
            return np.array(["900", "1800", "3600"])[rng.integers(0, 3, rows)]
        if name == "nrows":
            return rng.geometric(0.02, rows).astype(str)
        if name == "flag_state":
            return np.array(["on", "off"])[rng.integers(0, 2, rows)]
        if name == "flag":
            return np.strings.add("checkout_v", self.ints(rows, 2, 9))
        if name == "volume":
            return np.strings.add("/dev/nvme", np.strings.add(self.ints(rows, 0, 4), "n1"))
        if name == "version":
            return np.strings.add("2024_", self.ints(rows, 100, 999))
        ranges = {
            "nparams": (1, 9), "pct": (60, 100), "active": (1, 64), "idle": (0, 32),
            "nkeys": (10, 5000), "segment": (0, 64), "nterms": (32, 65), "depth": (0, 400),
            "attempt": (2, 6), "pid": (1000, 65000), "rss": (2048, 16384), "lag": (30, 900),
            "skew": (250, 5000),
        }  # fmt: skip
        low, high = ranges[name]
        return self.ints(rows, low, high)


def render_messages(
    rng: np.random.Generator, template: np.ndarray, row: dict[str, np.ndarray]
) -> np.ndarray:
    """Returns the message text of every row, filling its template's fields with row values."""
    fields = _Fields(rng, row)
    messages = np.empty(len(template), dtype=object)
    for t, parts in enumerate(TEMPLATE_PARTS):
        idx = np.flatnonzero(template == t)
        if len(idx) == 0:
            continue
        text: StrArray = np.full(len(idx), "", dtype="U1")
        for literal, name, _spec, _conversion in parts:
            if literal:
                text = np.strings.add(text, literal)
            if name is not None:
                text = np.strings.add(text, fields.value(name, idx))
        messages[idx] = text.astype(object)
    return messages


def _draw_status(rng: np.random.Generator, template: np.ndarray) -> np.ndarray:
    """Returns a status code per row: the template's own codes, or its level's usual ones."""
    status = np.zeros(len(template), dtype=np.int64)
    for t, spec in enumerate(TEMPLATES):
        idx = np.flatnonzero(template == t)
        if len(idx) == 0:
            continue
        codes, weights = (spec.status, None) if spec.status else LEVEL_STATUS[spec.level]
        status[idx] = np.array(codes)[rng.choice(len(codes), size=len(idx), p=weights)]
    return status


def _pick_normal_templates(
    rng: np.random.Generator, service: np.ndarray, level: np.ndarray
) -> np.ndarray:
    """Returns a normal template per row that matches the row's service and level."""
    template = np.zeros(len(service), dtype=np.int64)
    group = service * len(LEVELS) + level
    for g, choices in enumerate(TEMPLATES_BY_SERVICE_LEVEL):
        idx = np.flatnonzero(group == g)
        if len(idx):
            template[idx] = choices[rng.integers(0, len(choices), len(idx))]
    return template


def _pick_hosts(rng: np.random.Generator, service: np.ndarray) -> np.ndarray:
    """Returns a random host index of each row's service."""
    return HOST_OFFSET[service] + rng.integers(0, HOSTS_PER_SERVICE[service])


def simulate_logs(
    rows: int, anomaly_rate: float, seed: int, start: datetime | None = None
) -> pd.DataFrame:
    """Returns ``rows`` log events in time order, about ``anomaly_rate`` of them in incidents.

    Columns: timestamp, service, host, level, message, response_time (ms),
    status_code, request_id, is_anomaly, anomaly_type.
    """
    rng = np.random.default_rng(seed)
    origin = as_naive_utc(start)
    types, lengths = plan_incidents(rng, round(rows * anomaly_rate), INCIDENT_LENGTHS)
    is_drop = types == INCIDENT_TYPES.index("traffic_drop")
    burst_types, burst_lengths = types[~is_drop], lengths[~is_drop]
    burst_count = int(burst_lengths.sum())
    normal_rows = rows - burst_count

    # Normal traffic; a traffic drop stretches the gaps between a run of its events.
    load_steps = rng.exponential(1.0, size=normal_rows)
    drop_rows, drop_incident = run_positions(
        place_runs(rng, normal_rows, lengths[is_drop]), lengths[is_drop]
    )
    load_steps[drop_rows] *= rng.uniform(15.0, 60.0, size=int(is_drop.sum()))[drop_incident]
    normal_seconds = clock_seconds(np.cumsum(load_steps), EVENTS_PER_HOUR, origin)
    span = float(normal_seconds[-1]) if normal_rows else 3600.0

    # Bursts: extra events, each incident at its own pace, placed at a random time.
    jitter = rng.uniform(0.5, 2.0, size=len(burst_lengths))
    incident, offsets = burst_offsets(
        rng, burst_lengths, INCIDENT_GAP_SECONDS[burst_types] * jitter
    )
    began = burst_starts(rng, incident, offsets, span)
    seconds = np.concatenate((normal_seconds, began[incident] + offsets))
    burst = np.arange(normal_rows, rows)
    event_type = burst_types[incident]
    spike = burst[event_type == INCIDENT_TYPES.index("latency_spike")]
    errors = burst[event_type == INCIDENT_TYPES.index("error_burst")]
    unseen = burst[event_type == INCIDENT_TYPES.index("unseen_template")]

    service = rng.choice(len(SERVICES), size=rows, p=SERVICE_SHARE)
    level = rng.choice(len(LEVELS), size=rows, p=LEVEL_SHARE)
    incident_service = rng.choice(len(SERVICES), size=len(burst_lengths), p=INCIDENT_SERVICE_SHARE)
    service[burst] = incident_service[incident]
    level[burst] = np.where(
        rng.random(burst_count) < 0.4, LEVELS.index("WARN"), LEVELS.index("INFO")
    )
    level[errors] = LEVELS.index("ERROR")
    template = _pick_normal_templates(rng, service, level)
    # Each unseen-template incident repeats one or two message kinds never seen before.
    unseen_pair = rng.integers(0, len(UNSEEN_TEMPLATES), size=(len(burst_lengths), 2))
    unseen_pick = unseen_pair[incident, rng.integers(0, 2, burst_count)] + len(NORMAL_TEMPLATES)
    template[unseen] = unseen_pick[unseen - normal_rows]
    service[unseen] = TEMPLATE_SERVICE[template[unseen]]
    level = TEMPLATE_LEVEL[template]

    host = _pick_hosts(rng, service)
    incident_host = _pick_hosts(rng, incident_service)
    on_one_host = burst[rng.random(len(burst_lengths))[incident] < 0.5]
    on_one_host = on_one_host[np.isin(on_one_host, unseen, invert=True)]
    host[on_one_host] = incident_host[incident[on_one_host - normal_rows]]

    status = _draw_status(rng, template)
    status[spike] = np.where(rng.random(len(spike)) < 0.1, 504, status[spike])
    dominant = SERVER_ERRORS[rng.integers(0, len(SERVER_ERRORS), len(burst_lengths))]
    status[errors] = np.where(
        rng.random(len(errors)) < 0.8,
        dominant[incident[errors - normal_rows]],
        SERVER_ERRORS[rng.integers(0, len(SERVER_ERRORS), len(errors))],
    )
    slowdown = np.ones(rows)
    slowdown[spike] = rng.uniform(8.0, 25.0, len(burst_lengths))[incident[spike - normal_rows]]
    response_time = np.round(
        rng.lognormal(np.log(LATENCY_MEDIAN_MS[service]), LATENCY_SIGMA[service])
        * TEMPLATE_LATENCY[template]
        * slowdown,
        1,
    )

    # A request leaves one to a few consecutive events; every burst event is its own request.
    per_request = rng.geometric(0.45, size=normal_rows)
    request_of_row = np.concatenate(
        (np.repeat(np.arange(normal_rows), per_request)[:normal_rows], np.arange(normal_rows, rows))
    )
    request_id = random_hex(rng, rows, 16, "req-").astype(object)[request_of_row]
    # Squaring a uniform draw makes low user ids more active, as real user activity is skewed.
    user_id = np.strings.add(
        "u", (rng.random(rows) ** 2 * 20000 + 1000).astype(np.int64).astype(str)
    )
    host_name = HOST_NAMES[host]
    message = render_messages(
        rng,
        template,
        {
            "status": status,
            "request_id": request_id,
            "host": host_name,
            "response_time": response_time,
            "user_id": user_id,
        },
    )

    columns = {
        "timestamp": to_timestamps(origin, seconds),
        "service": np.array(SERVICES, dtype=object)[service],
        "host": host_name,
        "level": LEVEL_NAMES[level],
        "message": message,
        "response_time": response_time,
        "status_code": status,
        "request_id": request_id,
        **labels(
            rows,
            np.concatenate((drop_rows, burst)),
            np.concatenate((types[is_drop][drop_incident], event_type)),
            INCIDENT_TYPES,
        ),
    }
    return ordered_frame(columns, np.argsort(seconds, kind="stable"))
