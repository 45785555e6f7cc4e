"""Web server access logs (nginx combined format) with 5xx bursts and latency spikes.

What is simulated: the nginx in front of a small web shop. Every row is one
line of nginx's ``combined`` log format followed by ``$request_time`` (the
seconds nginx spent on the request, millisecond resolution), as configured by
``log_format main '$remote_addr - $remote_user [$time_local] "$request"
$status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time'``::

    203.0.113.7 - - [01/Jan/2024:09:15:02 +0000] "GET /api/products/123 HTTP/1.1" 200 5120 \
"https://shop.example.com/" "Mozilla/5.0 (...)" 0.031

Why it resembles real access logs:

- Arrivals follow the daily traffic curve of the other event streams (a
  non-homogeneous Poisson process, quieter at night and at weekends), at one
  second resolution as nginx writes them.
- The request mix is a shop's: static assets answered in a millisecond
  (often ``304 Not Modified``), API reads in tens of milliseconds, logins and
  checkouts in hundreds; sizes and times are lognormal per endpoint. Normal
  traffic carries its own noise: ``404`` for stale links, ``401`` for
  mistyped passwords, ``499`` for clients that gave up, the odd ``500``.
- A few clients (crawlers, monitoring, busy users) send most requests, as in
  any public site's log.

Incidents, labelled ``is_anomaly = 1`` with their ``anomaly_type``, are runs
of consecutive requests to the application (never to static files, which
nginx serves itself):

- ``error_burst``: the upstream fails: mostly one of 500, 502, 503 or 504
  (an upstream that is down answers 502/503 at once, one that hangs gives 504
  after nginx's 60 s read timeout), with nginx's small error pages as bodies;
- ``latency_spike``: the upstream answers 8-25 times slower than usual, with
  normal statuses.

The frame has the raw ``line`` and the labels, so the same rows can be
written as a raw ``.log`` (labels beside it, see :func:`write_access_log`) or
as a table whose ``line`` column the log extractor parses.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from vigil.errors import InvalidInput
from vigil.simulate.labels import ANOMALY_TYPE, IS_ANOMALY
from vigil.simulate.logs import (
    as_naive_utc,
    choose,
    clock_seconds,
    join_text,
    labels,
    place_runs,
    plan_incidents,
    random_ipv4,
    run_positions,
)

LINE = "line"
EVENTS_PER_HOUR = 1800.0
INCIDENT_TYPES = ("error_burst", "latency_spike")
INCIDENT_LENGTHS = {"error_burst": (4, 20), "latency_spike": (5, 25)}
SERVER_ERRORS = np.array([500, 502, 503, 504])
# nginx's own error pages (bytes) for 500, 502, 503, 504.
ERROR_PAGE_BYTES = np.array([579, 559, 599, 569])
UPSTREAM_TIMEOUT_SECONDS = 60.0
SITE = "https://shop.example.com"
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.4.0",
)
USER_AGENT_SHARE = (0.35, 0.17, 0.08, 0.19, 0.14, 0.05, 0.02)
# The load balancer's health checks.
PROBE_AGENT = "kube-probe/1.28"
WORDS = (
    "shoes", "jacket", "lamp", "chair", "mug", "kettle", "scarf", "watch", "desk", "sofa",
    "blanket", "bottle", "camera", "phone", "table", "towel", "bag", "hat", "belt", "pillow",
)  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """One kind of request: how it looks, how often, what it returns and how fast."""

    method: str
    path: str  # {id}, {page}, {word}, {hash} are filled per request
    share: float
    status: tuple[int, ...]
    status_share: tuple[float, ...]
    bytes_median: float
    seconds_median: float
    dynamic: bool  # answered by the application (upstream), not by nginx from disk


# Columns: method, path, share, statuses and their shares, median bytes and seconds, dynamic.
ENDPOINTS = (
    Endpoint("GET", "/", 0.08, (200, 304), (0.85, 0.15), 14_200, 0.018, True),
    Endpoint("GET", "/static/css/app.{hash}.css", 0.07, (200, 304), (.4, .6), 48_000, 0.001, False),
    Endpoint("GET", "/static/js/app.{hash}.js", 0.07, (200, 304), (.4, .6), 181_000, 0.002, False),
    Endpoint(
        "GET", "/static/img/{word}-{id}.jpg", 0.14, (200, 304, 404), (.7, .28, .02), 61_000, 0.002,
        False,
    ),
    Endpoint("GET", "/favicon.ico", 0.03, (200, 304), (0.5, 0.5), 4_286, 0.000, False),
    Endpoint("GET", "/api/products?page={page}", 0.12, (200,), (1.0,), 9_800, 0.045, True),
    Endpoint("GET", "/api/products/{id}", 0.17, (200, 404), (0.97, 0.03), 5_100, 0.031, True),
    Endpoint("GET", "/api/search?q={word}", 0.06, (200,), (1.0,), 7_400, 0.085, True),
    Endpoint("GET", "/api/cart", 0.08, (200,), (1.0,), 1_900, 0.022, True),
    Endpoint("POST", "/api/cart/items", 0.05, (201, 400), (0.97, 0.03), 310, 0.058, True),
    Endpoint("POST", "/api/login", 0.03, (200, 401), (0.88, 0.12), 420, 0.140, True),
    Endpoint("POST", "/api/checkout", 0.02, (200, 402), (0.95, 0.05), 880, 0.260, True),
    Endpoint("GET", "/health", 0.08, (200,), (1.0,), 2, 0.001, True),
)  # fmt: skip
ENDPOINT_SHARE = np.array([e.share for e in ENDPOINTS]) / sum(e.share for e in ENDPOINTS)
HEALTH = next(i for i, e in enumerate(ENDPOINTS) if e.path == "/health")
DYNAMIC = np.array([i for i, e in enumerate(ENDPOINTS) if e.dynamic and e.path != "/health"])
DYNAMIC_SHARE = ENDPOINT_SHARE[DYNAMIC] / ENDPOINT_SHARE[DYNAMIC].sum()
# Normal noise on any request: a client that gave up (499), a rare application error (500).
CLIENT_CLOSED_SHARE = 0.003
STRAY_ERROR_SHARE = 0.002


def simulate_access(
    rows: int, anomaly_rate: float, seed: int, start: datetime | None = None
) -> pd.DataFrame:
    """Returns ``rows`` nginx access log lines in time order, ``anomaly_rate`` of them in incidents.

    Columns: ``line`` (combined format plus request time), ``is_anomaly``,
    ``anomaly_type``.

    Example:
        >>> frame = simulate_access(200, 0.1, seed=3)
        >>> int(frame["is_anomaly"].sum()), sorted(set(frame["anomaly_type"]) - {""})
        (20, ['error_burst', 'latency_spike'])
        >>> frame["line"].iloc[0].split(" [")[1][:26]
        '01/Jan/2024:00:00:07 +0000'
    """
    rng = np.random.default_rng(seed)
    origin = as_naive_utc(start)
    types, lengths = plan_incidents(rng, round(rows * anomaly_rate), INCIDENT_LENGTHS)
    positions, incident = run_positions(place_runs(rng, rows, lengths), lengths)
    row_type = np.full(rows, -1)
    row_type[positions] = types[incident]
    errors = positions[types[incident] == INCIDENT_TYPES.index("error_burst")]
    slow = positions[types[incident] == INCIDENT_TYPES.index("latency_spike")]

    seconds = clock_seconds(np.cumsum(rng.exponential(1.0, rows)), EVENTS_PER_HOUR, origin)
    stamps = np.datetime64(origin, "s") + np.floor(seconds).astype("timedelta64[s]")

    endpoint = rng.choice(len(ENDPOINTS), size=rows, p=ENDPOINT_SHARE)
    endpoint[positions] = DYNAMIC[rng.choice(len(DYNAMIC), size=len(positions), p=DYNAMIC_SHARE)]
    status = np.empty(rows, dtype=np.int64)
    for index, spec in enumerate(ENDPOINTS):
        chosen = np.flatnonzero(endpoint == index)
        status[chosen] = rng.choice(spec.status, size=len(chosen), p=spec.status_share)
    noise = rng.random(rows)
    status = np.where(noise < CLIENT_CLOSED_SHARE, 499, status)
    stray = (noise >= CLIENT_CLOSED_SHARE) & (noise < CLIENT_CLOSED_SHARE + STRAY_ERROR_SHARE)
    status = np.where(stray & np.isin(endpoint, DYNAMIC), 500, status)

    median_bytes = np.array([e.bytes_median for e in ENDPOINTS])[endpoint]
    body = np.round(median_bytes * rng.lognormal(0.0, 0.25, rows)).astype(np.int64)
    body = np.where(status == 304, 0, body)
    median_seconds = np.array([e.seconds_median for e in ENDPOINTS])[endpoint]
    request_time = median_seconds * rng.lognormal(0.0, 0.5, rows)

    # An error burst is one failing upstream: mostly one status, now and then another.
    dominant = SERVER_ERRORS[rng.integers(0, len(SERVER_ERRORS), len(lengths))]
    burst_incident = incident[np.isin(positions, errors)]
    mixed = SERVER_ERRORS[rng.integers(0, len(SERVER_ERRORS), len(errors))]
    status[errors] = np.where(rng.random(len(errors)) < 0.85, dominant[burst_incident], mixed)
    error_index = np.searchsorted(SERVER_ERRORS, status[errors])
    body[errors] = ERROR_PAGE_BYTES[error_index]
    refused = np.isin(status[errors], (502, 503))
    request_time[errors] = np.where(
        refused, rng.uniform(0.0, 0.004, len(errors)), request_time[errors]
    )
    request_time[errors] = np.where(
        status[errors] == 504,
        UPSTREAM_TIMEOUT_SECONDS + rng.uniform(0.0, 0.01, len(errors)),
        request_time[errors],
    )
    slow_incident = incident[np.isin(positions, slow)]
    slowdown = rng.uniform(8.0, 25.0, len(lengths))
    request_time[slow] *= slowdown[slow_incident]

    clients = max(20, rows // 25)
    client_pool = random_ipv4(rng, clients)
    popularity = 1.0 / np.arange(1, clients + 1) ** 1.1
    client = client_pool[rng.choice(clients, size=rows, p=popularity / popularity.sum())]
    agent = choose(rng, USER_AGENTS, rows, USER_AGENT_SHARE)
    agent = np.where(endpoint == HEALTH, PROBE_AGENT, agent)
    referer = np.where(
        rng.random(rows) < 0.35, "-", join_text(SITE, choose(rng, ("/", "/api/cart", "/"), rows))
    )
    request = _requests(rng, endpoint)
    line = join_text(
        client,
        " - - [",
        _time_local(stamps),
        '] "',
        request,
        '" ',
        status.astype(str),
        " ",
        body.astype(str),
        ' "',
        referer,
        '" "',
        agent,
        '" ',
        np.char.mod("%.3f", np.round(request_time, 3)),
    )
    columns = {LINE: line, **labels(rows, positions, types[incident], INCIDENT_TYPES)}
    frame = pd.DataFrame(
        {
            LINE: pd.Series(columns[LINE].astype(object), dtype="str"),
            IS_ANOMALY: columns[IS_ANOMALY],
            ANOMALY_TYPE: pd.Series(columns[ANOMALY_TYPE], dtype="str"),
        }
    )
    return frame


def _requests(rng: np.random.Generator, endpoint: np.ndarray) -> np.ndarray:
    """Returns the request line (method, filled path, protocol) of each row's endpoint."""
    rows = len(endpoint)
    methods = np.array([e.method for e in ENDPOINTS])[endpoint]
    paths = np.array([e.path for e in ENDPOINTS], dtype=object)[endpoint].astype(str)
    paths = np.strings.replace(paths, "{id}", rng.integers(1, 5000, rows).astype(str))
    paths = np.strings.replace(paths, "{page}", rng.integers(1, 30, rows).astype(str))
    paths = np.strings.replace(paths, "{word}", choose(rng, WORDS, rows))
    # One deployment: every client fetches the same asset hashes.
    paths = np.strings.replace(paths, "{hash}", "3f9a1c")
    protocol = choose(rng, ("HTTP/1.1", "HTTP/2.0"), rows, (0.6, 0.4))
    return join_text(methods, " ", paths, " ", protocol)


def _time_local(stamps: np.ndarray) -> np.ndarray:
    """Returns nginx's ``$time_local`` (``01/Jan/2024:09:15:02 +0000``) of UTC second stamps."""
    text = pd.DatetimeIndex(stamps).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return np.asarray(text, dtype=str)


def labels_path(path: Path) -> Path:
    """Returns where the labels of a raw access log at ``path`` go: ``NAME.labels.csv``."""
    return path.with_name(f"{path.stem}.labels.csv")


def write_access_log(frame: pd.DataFrame, path: Path) -> Path:
    """Writes the lines of ``frame`` to ``path`` as a raw log and its labels beside it.

    The labels file (``NAME.labels.csv``: ``line`` as the 1-based line number,
    ``is_anomaly``, ``anomaly_type``) is what Loghub ships beside its raw logs;
    the log itself holds nothing a server would not write. Both files appear
    whole or not at all. Returns the labels path.
    """
    if not path.parent.exists():
        raise InvalidInput(f"Cannot write {path}: folder {path.parent} does not exist.")
    target_labels = labels_path(path)
    answers = pd.DataFrame(
        {
            LINE: np.arange(1, len(frame) + 1),
            IS_ANOMALY: frame[IS_ANOMALY].to_numpy(),
            ANOMALY_TYPE: frame[ANOMALY_TYPE].to_numpy(),
        }
    )
    text = "\n".join(frame[LINE].tolist()) + "\n"
    _atomic_write(path, text)
    _atomic_write(target_labels, answers.to_csv(index=False))
    return target_labels


def _atomic_write(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
