"""Card transactions of a retail bank's customers, with labelled fraud.

What is simulated: about a month of card payments and cash withdrawals by the
customers of a European bank: timestamp, transaction id, account, merchant,
category, amount, country, channel and hour of day.

Why it resembles real card data:

- Spending follows the day: almost nothing between 2 and 5 in the morning,
  peaks at lunch and in the early evening; a few night-shift customers do
  spend at night, so the hour alone does not give fraud away.
- Accounts differ: how often they pay, how much they usually spend, their
  home country; each keeps going back to a handful of merchants per category.
- Amounts are lognormal around the account's usual level scaled by the
  category (a coffee is not a flight); cash withdrawals are round sums; the
  channel follows the category (online shops online, cash at ATMs, shops by
  chip or contactless); a small share of spending happens abroad on holiday.

Fraud, labelled ``is_anomaly = 1`` with its ``anomaly_type``, comes as
sequences on one account, interleaved in time with everyone else's payments:

- ``card_testing``: many tiny online payments within minutes at varied
  merchants, often abroad, to check a stolen card works;
- ``unusual_amount``: one to four payments of 15-60 times what the account
  usually spends, on electronics, jewellery or travel;
- ``foreign_burst``: a run of withdrawals and purchases in a country the
  customer has never been to, within hours;
- ``night_spend``: online spending between 1 and 5 in the morning on an
  account that sleeps at night.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from vigil.simulate.logs import (
    StrArray,
    as_naive_utc,
    burst_offsets,
    burst_starts,
    clock_seconds,
    join_text,
    labels,
    ordered_frame,
    plan_incidents,
    random_hex,
    to_timestamps,
)
from vigil.simulate.requests import words

SPAN_DAYS = 30
# Relative card spending by hour of day (0-23): a deep night, lunch and evening peaks.
SPENDING_HOURLY_PROFILE = (
    0.15, 0.08, 0.05, 0.04, 0.04, 0.06, 0.20, 0.50, 0.90, 1.10, 1.30, 1.50,
    1.80, 1.70, 1.40, 1.30, 1.40, 1.60, 1.80, 1.70, 1.40, 1.00, 0.60, 0.30,
)  # fmt: skip

CATEGORIES = (
    "grocery",
    "restaurants",
    "transport",
    "fuel",
    "clothing",
    "online_retail",
    "entertainment",
    "travel",
    "electronics",
    "utilities",
    "health",
    "cash_withdrawal",
    "jewellery",
)
CATEGORY_SHARE = np.array(
    [0.26, 0.15, 0.10, 0.07, 0.07, 0.10, 0.05, 0.02, 0.03, 0.05, 0.04, 0.055, 0.005]
)
CATEGORY_SCALE = np.array([1.0, 0.7, 0.3, 1.3, 1.5, 1.1, 0.8, 6.0, 4.0, 1.8, 0.9, 2.0, 5.0])
CATEGORY_SIGMA = np.array([0.5, 0.5, 0.6, 0.3, 0.6, 0.8, 0.6, 0.7, 0.7, 0.4, 0.6, 0.5, 0.8])
MERCHANT_SUFFIXES = (
    ("Market", "Foods", "Super"),
    ("Bistro", "Grill", "Cafe"),
    ("Taxi", "Rail", "Metro"),
    ("Petrol", "Fuel"),
    ("Moda", "Store"),
    ("Shop Online", ".com"),
    ("Cinema", "Arena", "Games"),
    ("Air", "Hotels", "Travel"),
    ("Electro", "Tech"),
    ("Energy", "Telecom"),
    ("Pharmacy", "Clinic"),
    ("ATM",),
    ("Joyeria", "Gold"),
)
MERCHANTS_PER_CATEGORY = 30
CHANNELS = ("pos", "contactless", "online", "atm")
HOME_COUNTRIES = ("ES", "FR", "DE", "IT", "PT", "NL", "BE", "GB")
HOME_SHARE = np.array([0.35, 0.15, 0.15, 0.10, 0.08, 0.07, 0.05, 0.05])
FOREIGN_COUNTRIES = ("BR", "NG", "TH", "US", "RU", "ID", "MX", "VN", "PH", "UA", "CN", "TR")

FRAUD_TYPES = ("card_testing", "unusual_amount", "foreign_burst", "night_spend")
FRAUD_LENGTHS = {
    "card_testing": (8, 40),
    "unusual_amount": (1, 4),
    "foreign_burst": (4, 15),
    "night_spend": (3, 10),
}
FRAUD_GAP_SECONDS = np.array([15.0, 900.0, 1200.0, 240.0])


def _category_index(names: tuple[str, ...]) -> np.ndarray:
    return np.array([CATEGORIES.index(n) for n in names])


def merchant_names(rng: np.random.Generator) -> StrArray:
    """Returns a (category, merchant) table of merchant names: a made-up word and a suffix."""
    rows = len(CATEGORIES) * MERCHANTS_PER_CATEGORY
    category = np.repeat(np.arange(len(CATEGORIES)), MERCHANTS_PER_CATEGORY)
    suffix = np.array([rng.choice(MERCHANT_SUFFIXES[c]) for c in category])
    brand = np.strings.capitalize(words(rng, rows, (2, 3)))
    spaced = np.where(np.strings.startswith(suffix, "."), "", " ")
    return join_text(brand, spaced, suffix).reshape(len(CATEGORIES), MERCHANTS_PER_CATEGORY)


def _channels(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Returns the usual channel for each category: online shops online, cash at ATMs, ..."""
    rows = len(category)
    roll = rng.random(rows)
    channel = np.where(roll < 0.47, 0, np.where(roll < 0.92, 1, 2))
    online_first = np.isin(category, _category_index(("online_retail", "utilities")))
    channel = np.where(online_first & (roll < 0.85), 2, channel)
    channel = np.where(category == CATEGORIES.index("travel"), np.where(roll < 0.7, 2, 0), channel)
    return np.where(category == CATEGORIES.index("cash_withdrawal"), 3, channel)


def _amounts(
    rng: np.random.Generator, usual: np.ndarray, category: np.ndarray, factor: np.ndarray | float
) -> np.ndarray:
    """Returns amounts: the account's usual spend x category scale x lognormal noise x factor."""
    amount = (
        usual * CATEGORY_SCALE[category] * rng.lognormal(0.0, CATEGORY_SIGMA[category]) * factor
    )
    cash = category == CATEGORIES.index("cash_withdrawal")
    rounded = np.maximum(20.0, np.round(amount / 20.0) * 20.0)
    return np.round(np.where(cash, rounded, amount), 2)


def simulate_transactions(
    rows: int, anomaly_rate: float, seed: int, start: datetime | None = None
) -> pd.DataFrame:
    """Returns ``rows`` transactions over about a month, about ``anomaly_rate`` of them fraud.

    Columns: timestamp, transaction_id, account_id, merchant, category,
    amount, country, channel, hour, is_anomaly, anomaly_type.
    """
    rng = np.random.default_rng(seed)
    origin = as_naive_utc(start)
    types, lengths = plan_incidents(rng, round(rows * anomaly_rate), FRAUD_LENGTHS)
    fraud_rows = int(lengths.sum())
    normal_rows = rows - fraud_rows

    accounts = max(20, rows // 60)
    account_names = np.strings.add(
        "acct-", np.strings.zfill(rng.choice(900_000, size=accounts, replace=False).astype(str), 6)
    ).astype(object)
    home = rng.choice(len(HOME_COUNTRIES), size=accounts, p=HOME_SHARE)
    usual_spend = rng.lognormal(np.log(30.0), 0.5, accounts)
    activity = rng.lognormal(0.0, 0.8, accounts)
    night_owl = np.flatnonzero(rng.random(accounts) < 0.04)
    favourite = rng.integers(0, MERCHANTS_PER_CATEGORY, size=(accounts, len(CATEGORIES)))
    merchants = merchant_names(rng).astype(object)

    events_per_hour = max(rows / (SPAN_DAYS * 24.0), 1e-3)
    seconds = clock_seconds(
        np.cumsum(rng.exponential(1.0, normal_rows)),
        events_per_hour,
        origin,
        SPENDING_HOURLY_PROFILE,
        weekend=1.1,
    )
    span = float(seconds[-1]) if normal_rows else 86400.0
    account = rng.choice(accounts, size=normal_rows, p=activity / activity.sum())
    if len(night_owl):
        hour_now = (to_timestamps(origin, seconds).astype("datetime64[h]").astype(np.int64)) % 24
        at_night = np.flatnonzero((hour_now < 5) & (rng.random(normal_rows) < 0.5))
        account[at_night] = night_owl[rng.integers(0, len(night_owl), len(at_night))]
    category = rng.choice(
        len(CATEGORIES), size=normal_rows, p=CATEGORY_SHARE / CATEGORY_SHARE.sum()
    )
    # Each account keeps going back to about four merchants per category.
    merchant = (
        favourite[account, category] + rng.integers(0, 4, normal_rows)
    ) % MERCHANTS_PER_CATEGORY
    abroad = rng.random(normal_rows) < 0.025
    country = np.where(abroad, rng.integers(0, len(HOME_COUNTRIES), normal_rows), home[account])
    amount = _amounts(rng, usual_spend[account], category, 1.0)
    channel = _channels(rng, category)

    # Fraud: sequences on one victim account each, merged by time with the rest.
    incident, offsets = burst_offsets(
        rng, lengths, FRAUD_GAP_SECONDS[types] * rng.uniform(0.5, 2.0, len(types))
    )
    began = burst_starts(rng, incident, offsets, span)
    night = types == FRAUD_TYPES.index("night_spend")
    first_midnight = (
        datetime.combine(origin.date(), datetime.min.time()) + timedelta(days=1) - origin
    ).total_seconds()
    days = max(1, int((span - first_midnight) // 86400))
    began[night] = (
        first_midnight
        + rng.integers(0, days, int(night.sum())) * 86400.0
        + rng.uniform(1.0, 3.0, int(night.sum())) * 3600.0
    )
    fraud_seconds = began[incident] + offsets
    kind = types[incident]
    # Victims are drawn from customers who sleep at night, so night spending is out of character.
    sleepers = np.setdiff1d(np.arange(accounts), night_owl)
    victim = sleepers[rng.integers(0, len(sleepers), len(types))][incident]
    fraud_category = np.zeros(fraud_rows, dtype=np.int64)
    fraud_channel = np.zeros(fraud_rows, dtype=np.int64)
    factor = np.ones(fraud_rows)
    fraud_country = home[victim].copy()

    testing = kind == FRAUD_TYPES.index("card_testing")
    fraud_category[testing] = CATEGORIES.index("online_retail")
    fraud_channel[testing] = CHANNELS.index("online")
    testing_country = rng.integers(0, len(HOME_COUNTRIES) + len(FOREIGN_COUNTRIES), len(types))
    fraud_country[testing] = testing_country[incident[testing]]

    unusual = kind == FRAUD_TYPES.index("unusual_amount")
    big_ticket = _category_index(("electronics", "jewellery", "travel"))
    chosen = big_ticket[rng.integers(0, len(big_ticket), len(types))]
    fraud_category[unusual] = chosen[incident[unusual]]
    fraud_channel[unusual] = np.where(
        rng.random(int(unusual.sum())) < 0.6, CHANNELS.index("online"), CHANNELS.index("pos")
    )

    foreign = kind == FRAUD_TYPES.index("foreign_burst")
    spend_abroad = _category_index(("cash_withdrawal", "electronics", "clothing", "restaurants"))
    fraud_category[foreign] = spend_abroad[rng.integers(0, len(spend_abroad), int(foreign.sum()))]
    fraud_channel[foreign] = _channels(rng, fraud_category[foreign])
    fraud_country[foreign] = (
        len(HOME_COUNTRIES) + rng.integers(0, len(FOREIGN_COUNTRIES), len(types))[incident[foreign]]
    )
    factor[foreign] = 2.0

    late = kind == FRAUD_TYPES.index("night_spend")
    night_shops = _category_index(("electronics", "online_retail", "entertainment"))
    fraud_category[late] = night_shops[rng.integers(0, len(night_shops), int(late.sum()))]
    fraud_channel[late] = CHANNELS.index("online")
    factor[late] = rng.uniform(3.0, 8.0, int(late.sum()))

    fraud_amount = _amounts(rng, usual_spend[victim], fraud_category, factor)
    fraud_amount[testing] = np.round(
        np.where(
            rng.random(int(testing.sum())) < 0.2, 1.0, rng.uniform(0.5, 5.0, int(testing.sum()))
        ),
        2,
    )
    fraud_amount[unusual] = np.round(
        usual_spend[victim[unusual]] * rng.uniform(15.0, 60.0, int(unusual.sum())), 2
    )
    fraud_merchant = rng.integers(0, MERCHANTS_PER_CATEGORY, fraud_rows)

    all_seconds = np.concatenate((seconds, fraud_seconds))
    timestamp = to_timestamps(origin, all_seconds)
    all_category = np.concatenate((category, fraud_category))
    columns = {
        "timestamp": timestamp,
        "transaction_id": random_hex(rng, rows, 16, "tx-").astype(object),
        "account_id": account_names[np.concatenate((account, victim))],
        "merchant": merchants[all_category, np.concatenate((merchant, fraud_merchant))],
        "category": np.array(CATEGORIES, dtype=object)[all_category],
        "amount": np.concatenate((amount, fraud_amount)),
        "country": np.array(HOME_COUNTRIES + FOREIGN_COUNTRIES, dtype=object)[
            np.concatenate((country, fraud_country))
        ],
        "channel": np.array(CHANNELS, dtype=object)[np.concatenate((channel, fraud_channel))],
        "hour": timestamp.astype("datetime64[h]").astype(np.int64) % 24,
        **labels(rows, np.arange(normal_rows, rows), kind, FRAUD_TYPES),
    }
    return ordered_frame(columns, np.argsort(all_seconds, kind="stable"))
