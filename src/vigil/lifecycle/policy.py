"""A model's policy: when to retrain, when to promote, roll back, step a canary, forget versions.

The policy is a JSON document users read and replace whole (``GET``/``PUT
/v1/models/{name}/policy``, ``vigil models policy``). Every field has a
default, so ``{}`` is a valid policy that only watches (alerts on drift and
degradation) and never acts. Parsing checks every field and names the one
that is wrong with its allowed range, so a bad policy is refused before it is
stored rather than failing later inside the scheduler.

Schedules are APScheduler triggers (a crontab line or an interval); the
scheduler stores the next fire time in the database, so whichever replica
holds the scheduler lease fires each run exactly once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from vigil.errors import InvalidInput

# Bounds that keep a typo from becoming a retraining storm or a silent no-op.
MIN_INTERVAL_MINUTES = 1
MAX_INTERVAL_MINUTES = 60 * 24 * 366


@dataclass(frozen=True)
class Schedule:
    """A retraining schedule: a crontab line (UTC) or an interval in minutes."""

    cron: str | None = None
    interval_minutes: int | None = None

    def trigger(self, start: datetime) -> CronTrigger | IntervalTrigger:
        """Returns the APScheduler trigger of this schedule (intervals counted from ``start``)."""
        if self.cron is not None:
            return cron_trigger(self.cron)
        assert self.interval_minutes is not None
        return IntervalTrigger(minutes=self.interval_minutes, start_date=start, timezone=UTC)

    def next_after(self, previous: datetime | None, now: datetime) -> datetime | None:
        """Returns the first fire time after ``now`` (``previous`` the last one, if any)."""
        trigger = self.trigger(previous or now)
        # The first fire time at or after ``now`` (an interval counted from ``previous``),
        # found at once however many runs were missed since ``previous``.
        when = trigger.get_next_fire_time(None, now)
        # An interval trigger starting at ``now`` fires at ``now``; the first run is one
        # interval later, not at the moment the schedule is set.
        while when is not None and when <= now:
            when = trigger.get_next_fire_time(when, when + timedelta(microseconds=1))
        return when.astimezone(UTC) if when is not None else None


@dataclass(frozen=True)
class Triggers:
    """What starts a retraining besides the schedule (None or False: that trigger is off)."""

    feedback_count: int | None = None
    metric_drop: float | None = None
    drift: bool = False


@dataclass(frozen=True)
class Promotion:
    """A challenger replaces the champion only if it beats it by ``margin`` on the same data."""

    # Above zero by default: a retraining on unchanged data must not swap versions on noise.
    margin: float = 0.01


@dataclass(frozen=True)
class Rollback:
    """Roll production back when its live metric falls this far below its trained one."""

    enabled: bool = False
    metric_drop: float = 0.1


@dataclass(frozen=True)
class Canary:
    """Traffic percentages a promoted challenger goes through while healthy ([] = at once)."""

    steps: tuple[float, ...] = ()
    min_predictions: int = 100


@dataclass(frozen=True)
class Retention:
    """Keep the last ``keep_last`` versions and any younger than ``keep_days`` (None: keep all)."""

    keep_last: int | None = None
    keep_days: float | None = None


@dataclass(frozen=True)
class Policy:
    """A model's whole policy; ``Policy()`` watches and never acts."""

    schedule: Schedule | None = None
    triggers: Triggers = field(default_factory=Triggers)
    promotion: Promotion = field(default_factory=Promotion)
    rollback: Rollback = field(default_factory=Rollback)
    canary: Canary = field(default_factory=Canary)
    retention: Retention = field(default_factory=Retention)
    # The metric watched, compared and promoted on (None: the task's primary metric).
    metric: str | None = None
    # Live metrics are judged only once this many predictions have feedback.
    min_feedback: int = 50
    # Alerts: a drop of the live metric this large raises a degradation alert.
    degradation_drop: float = 0.05
    webhook_url: str | None = None
    # Retraining reads labelled predictions of the last ``recent_days``.
    recent_days: float = 7.0
    # The inputs drifted when this share of their features drifted.
    drift_share: float = 0.5

    def to_json(self) -> dict[str, Any]:
        """Returns the policy as the JSON document users edit."""
        document = asdict(self)
        document["canary"]["steps"] = list(self.canary.steps)
        return document

    @property
    def acts(self) -> bool:
        """Returns whether the policy ever retrains, rolls back or deletes on its own."""
        t = self.triggers
        return bool(
            self.schedule
            or t.feedback_count
            or t.metric_drop is not None
            or t.drift
            or self.rollback.enabled
            or self.retention.keep_last is not None
            or self.retention.keep_days is not None
        )


def parse_policy(document: Any) -> Policy:
    """Returns the policy a JSON document describes; InvalidInput names any wrong field."""
    reader = _Reader(document, ())
    schedule_doc = reader.section("schedule", optional=True)
    policy = Policy(
        schedule=_schedule(schedule_doc) if schedule_doc is not None else None,
        triggers=_triggers(reader.section("triggers")),
        promotion=_promotion(reader.section("promotion")),
        rollback=_rollback(reader.section("rollback")),
        canary=_canary(reader.section("canary")),
        retention=_retention(reader.section("retention")),
        metric=reader.text("metric", None),
        min_feedback=reader.integer("min_feedback", 50, 1, 10_000_000),
        degradation_drop=reader.number("degradation_drop", 0.05, 0.0, 1e6),
        webhook_url=_webhook(reader),
        recent_days=reader.number("recent_days", 7.0, 0.0, 3650.0),
        drift_share=reader.number("drift_share", 0.5, 0.01, 1.0),
    )
    reader.done()
    return policy


def _schedule(reader: _Reader) -> Schedule:
    cron = reader.text("cron", None)
    interval = reader.integer("interval_minutes", None, MIN_INTERVAL_MINUTES, MAX_INTERVAL_MINUTES)
    reader.done()
    if (cron is None) == (interval is None):
        raise InvalidInput(
            "Policy field schedule needs exactly one of cron or interval_minutes.",
            errors=[{"loc": ["schedule"], "msg": "one of cron or interval_minutes"}],
        )
    if cron is not None:
        try:
            trigger = cron_trigger(cron)
        except ValueError as exc:
            raise reader.error(
                "cron", f"is not a crontab line (minute hour day month weekday): {exc}"
            ) from None
        # A day that never comes (30 February) would leave a schedule that silently never runs.
        if trigger.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise reader.error("cron", "never fires (no such day)")
    return Schedule(cron=cron, interval_minutes=interval)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(line: str) -> CronTrigger:
    """Returns the trigger of a standard crontab line, in UTC.

    APScheduler 3 numbers weekdays from Monday = 0, where crontab counts from
    Sunday = 0 (and 7), so ``1-5`` would mean Tuesday to Saturday: the weekday
    field is rewritten as day names, which both read alike.
    """
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"Wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(weekday),
        timezone=UTC,
    )


def _weekday_names(text: str) -> str:
    """Returns a crontab weekday field (``1-5``, ``0,6``, ``*/2``, ``mon-fri``) as day names."""
    if text == "*":
        return text
    days: set[int] = set()
    for part in text.split(","):
        span, slash, step_text = part.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) == 0):
            raise ValueError(f"weekday step {step_text!r} is not a positive whole number")
        step = int(step_text) if slash else 1
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, high = span.split("-", 1)
            first, last = _weekday(low), _weekday(high)
        else:
            first = _weekday(span)
            last = 6 if slash else first
        if first > last:
            raise ValueError(f"weekday range {span!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday(text: str) -> int:
    name = text.strip().lower()
    if name in _WEEKDAYS:
        return _WEEKDAYS.index(name)
    if name.isdigit() and int(name) <= 7:
        return int(name)
    raise ValueError(f"weekday {text!r} is not 0-7 (0 and 7 are Sunday) or sun-sat")


def _triggers(reader: _Reader) -> Triggers:
    triggers = Triggers(
        feedback_count=reader.integer("feedback_count", None, 1, 100_000_000),
        metric_drop=reader.number("metric_drop", None, 0.0, 1e6),
        drift=reader.boolean("drift", False),
    )
    reader.done()
    return triggers


def _promotion(reader: _Reader) -> Promotion:
    promotion = Promotion(margin=reader.number("margin", Promotion.margin, 0.0, 1e6))
    reader.done()
    return promotion


def _rollback(reader: _Reader) -> Rollback:
    rollback = Rollback(
        enabled=reader.boolean("enabled", False),
        metric_drop=reader.number("metric_drop", 0.1, 0.0, 1e6),
    )
    reader.done()
    return rollback


def _canary(reader: _Reader) -> Canary:
    steps = reader.value("steps", [])
    if not isinstance(steps, list) or not all(
        isinstance(s, int | float) and not isinstance(s, bool) and 0 < s <= 100 for s in steps
    ):
        raise reader.error("steps", "must be a list of percentages in (0, 100]")
    if any(b <= a for a, b in pairwise(steps)):
        raise reader.error("steps", "must increase")
    if steps and steps[-1] != 100:
        steps = [*steps, 100]
    canary = Canary(
        steps=tuple(float(s) for s in steps),
        min_predictions=reader.integer("min_predictions", 100, 1, 100_000_000),
    )
    reader.done()
    return canary


def _retention(reader: _Reader) -> Retention:
    retention = Retention(
        keep_last=reader.integer("keep_last", None, 1, 1_000_000),
        keep_days=reader.number("keep_days", None, 0.0, 36_500.0),
    )
    reader.done()
    return retention


def _webhook(reader: _Reader) -> str | None:
    url = reader.text("webhook_url", None)
    if url is not None and not url.startswith(("http://", "https://")):
        raise reader.error("webhook_url", "must be an http:// or https:// URL")
    return url


class _Reader:
    """Reads one JSON object of the policy, remembering which keys it used."""

    def __init__(self, document: Any, loc: tuple[str, ...]) -> None:
        if not isinstance(document, dict):
            where = ".".join(loc) or "the policy"
            raise InvalidInput(
                f"{where} must be a JSON object.",
                errors=[{"loc": list(loc), "msg": "not an object"}],
            )
        self.document = document
        self.loc = loc
        self.used: set[str] = set()

    def error(self, key: str, problem: str) -> InvalidInput:
        loc = [*self.loc, key]
        return InvalidInput(
            f"Policy field {'.'.join(loc)} {problem}.", errors=[{"loc": loc, "msg": problem}]
        )

    def value(self, key: str, default: Any) -> Any:
        self.used.add(key)
        value = self.document.get(key)
        return default if value is None else value

    def section(self, key: str, *, optional: bool = False) -> Any:
        value = self.value(key, None)
        if value is None and optional:
            return None
        return _Reader({} if value is None else value, (*self.loc, key))

    def number(self, key: str, default: Any, low: float, high: float) -> Any:
        value = self.value(key, default)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise self.error(key, f"must be a number between {low:g} and {high:g}")
        return float(value)

    def integer(self, key: str, default: Any, low: int, high: int) -> Any:
        value = self.value(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(key, f"must be a whole number between {low} and {high}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.value(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def text(self, key: str, default: str | None) -> str | None:
        value = self.value(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(key, "must be a non-empty string")
        return value

    def done(self) -> None:
        """Raises when the object has a key no field reads (a typo would otherwise be ignored)."""
        unknown = sorted(set(self.document) - self.used)
        if unknown:
            raise self.error(unknown[0], "is not a policy field")
