"""User behaviour of an online shop's accounts, with true segments and labelled anomalous users.

What is simulated: one row per registered user with a month of aggregated
behaviour - sessions per week, average session length, pages per session,
purchases in the last 30 days, days since the last visit, account age and
main device - and the segment the user truly belongs to.

Why it resembles real product analytics: the population is a mix of
behavioural segments, each with its own skewed distributions (gamma session
rates, lognormal session lengths and page counts, Poisson purchases), so the
segments overlap at the edges as real ones do:

- ``casual``: a couple of short visits a week, rare purchases, mostly mobile;
- ``power``: daily long sessions on desktop, visited today or yesterday;
- ``shopper``: fewer visits but many pages and frequent purchases;
- ``churning``: almost gone - rare, short visits and weeks since the last one.

Anomalous users, labelled ``is_anomaly = 1`` with their ``anomaly_type`` (and
given their own ``segment``), are registered in batches, as automated
sign-ups are, so they sit in runs of consecutive user ids with similar
account ages:

- ``bot``: scrapers - hundreds of sessions a week of a few seconds each,
  hundreds or thousands of pages per session, no purchases, headless or
  unknown devices;
- ``reseller``: scripted buyers - short, direct sessions (few pages) and tens
  to hundreds of purchases a month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vigil.simulate.labels import SEGMENT
from vigil.simulate.logs import labels, ordered_frame, place_runs, plan_incidents, run_positions

SEGMENTS = ("casual", "power", "shopper", "churning")
SEGMENT_SHARE = np.array([0.45, 0.12, 0.25, 0.18])
ANOMALY_TYPES = ("bot", "reseller")
ANOMALY_BATCHES = {"bot": (3, 40), "reseller": (2, 15)}
DEVICES = ("mobile", "desktop", "tablet", "unknown")
# Device mix per segment, then per anomaly type (rows follow SEGMENTS + ANOMALY_TYPES).
DEVICE_SHARE = np.array(
    [
        [0.65, 0.25, 0.10, 0.0],
        [0.40, 0.55, 0.05, 0.0],
        [0.50, 0.40, 0.10, 0.0],
        [0.60, 0.30, 0.10, 0.0],
        [0.00, 0.70, 0.00, 0.30],
        [0.10, 0.90, 0.00, 0.0],
    ]
)
# Per segment: mean sessions per week, median minutes, median pages, mean purchases, mean days away.
SESSIONS_PER_WEEK = np.array([2.5, 14.0, 5.0, 0.4])
SESSION_MINUTES = np.array([5.0, 22.0, 11.0, 3.0])
PAGES_PER_SESSION = np.array([4.0, 14.0, 12.0, 2.5])
PURCHASES = np.array([0.3, 1.5, 4.0, 0.05])
DAYS_AWAY = np.array([4.0, 0.7, 3.0, 35.0])


def simulate_users(rows: int, anomaly_rate: float, seed: int) -> pd.DataFrame:
    """Returns ``rows`` users in sign-up order, about ``anomaly_rate`` of them bots or resellers.

    Columns: user_id, segment, device, account_age_days, sessions_per_week,
    avg_session_minutes, pages_per_session, purchases, days_since_last_visit,
    is_anomaly, anomaly_type.
    """
    rng = np.random.default_rng(seed)
    types, lengths = plan_incidents(rng, round(rows * anomaly_rate), ANOMALY_BATCHES)
    starts = place_runs(rng, rows, lengths)
    positions, batch = run_positions(starts, lengths)
    kind = types[batch]

    segment = rng.choice(len(SEGMENTS), size=rows, p=SEGMENT_SHARE)
    sessions = rng.gamma(2.0, SESSIONS_PER_WEEK[segment] / 2.0)
    minutes = rng.lognormal(np.log(SESSION_MINUTES[segment]), 0.5)
    pages = 1.0 + rng.lognormal(np.log(PAGES_PER_SESSION[segment]), 0.45)
    purchases = rng.poisson(
        PURCHASES[segment] * np.clip(sessions, 0.2, None) / SESSIONS_PER_WEEK[segment]
    )
    away = np.where(
        segment == SEGMENTS.index("churning"),
        14.0 + rng.exponential(DAYS_AWAY[3], rows),
        rng.exponential(DAYS_AWAY[segment]),
    )
    # Users are numbered in sign-up order over three years; a batch signs up on one day.
    age = np.sort(rng.uniform(0.0, 3.0 * 365.0, rows))[::-1]
    age[positions] = age[starts[batch]]
    away = np.minimum(away, age)

    bot = positions[kind == ANOMALY_TYPES.index("bot")]
    sessions[bot] = rng.uniform(50.0, 600.0, len(bot))
    minutes[bot] = rng.uniform(0.02, 0.4, len(bot))
    pages[bot] = np.exp(rng.uniform(np.log(150.0), np.log(3000.0), len(bot)))
    purchases[bot] = 0
    away[bot] = 0.0

    reseller = positions[kind == ANOMALY_TYPES.index("reseller")]
    sessions[reseller] = rng.uniform(10.0, 40.0, len(reseller))
    minutes[reseller] = rng.uniform(1.5, 6.0, len(reseller))
    pages[reseller] = rng.uniform(3.0, 8.0, len(reseller))
    purchases[reseller] = rng.integers(30, 200, len(reseller))
    away[reseller] = rng.uniform(0.0, 1.5, len(reseller))

    group = segment.copy()
    group[positions] = len(SEGMENTS) + kind
    cumulative = np.cumsum(DEVICE_SHARE, axis=1)[group]
    device = np.minimum((rng.random(rows)[:, None] > cumulative).sum(axis=1), len(DEVICES) - 1)

    user_id = np.strings.add("user-", np.strings.zfill((np.arange(rows) + 1).astype(str), 6))
    columns = {
        "user_id": user_id.astype(object),
        SEGMENT: np.array(SEGMENTS + ANOMALY_TYPES, dtype=object)[group],
        "device": np.array(DEVICES, dtype=object)[device],
        "account_age_days": np.floor(age).astype(np.int64),
        "sessions_per_week": np.round(sessions, 1),
        "avg_session_minutes": np.round(minutes, 2),
        "pages_per_session": np.round(pages, 1),
        "purchases": purchases.astype(np.int64),
        "days_since_last_visit": np.floor(away).astype(np.int64),
        **labels(rows, positions, kind, ANOMALY_TYPES),
    }
    return ordered_frame(columns, np.arange(rows))
