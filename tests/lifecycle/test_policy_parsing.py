"""parse_policy: defaults, every field's bounds, unknown keys, schedules, canary steps,
the JSON round trip; Schedule.next_after on injected times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vigil.errors import InvalidInput
from vigil.lifecycle.policy import (
    MAX_INTERVAL_MINUTES,
    Canary,
    Policy,
    Schedule,
    parse_policy,
)


def _refused(document: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_policy(document)
    return caught.value


def test_an_empty_document_is_the_default_policy_that_never_acts() -> None:
    policy = parse_policy({})
    assert policy == Policy()
    assert policy.acts is False
    # Nulls mean "the default" too.
    assert parse_policy({"schedule": None, "metric": None, "triggers": None}) == Policy()


# (document, dotted field path, the allowed range as the message states it)
NUMBER = "must be a number between"
WHOLE = "must be a whole number between"
BAD_VALUES: list[tuple[dict[str, Any], str, str]] = [
    ({"min_feedback": 0}, "min_feedback", f"{WHOLE} 1 and 10000000"),
    ({"min_feedback": 10_000_001}, "min_feedback", f"{WHOLE} 1 and 10000000"),
    ({"min_feedback": 2.5}, "min_feedback", f"{WHOLE} 1 and 10000000"),
    ({"min_feedback": "50"}, "min_feedback", f"{WHOLE} 1 and 10000000"),
    ({"min_feedback": True}, "min_feedback", f"{WHOLE} 1 and 10000000"),
    ({"degradation_drop": -0.01}, "degradation_drop", f"{NUMBER} 0 and 1e+06"),
    ({"degradation_drop": 2e6}, "degradation_drop", f"{NUMBER} 0 and 1e+06"),
    ({"degradation_drop": "high"}, "degradation_drop", f"{NUMBER} 0 and 1e+06"),
    ({"recent_days": -1}, "recent_days", f"{NUMBER} 0 and 3650"),
    ({"recent_days": 3651}, "recent_days", f"{NUMBER} 0 and 3650"),
    ({"drift_share": 0}, "drift_share", f"{NUMBER} 0.01 and 1"),
    ({"drift_share": 1.5}, "drift_share", f"{NUMBER} 0.01 and 1"),
    ({"drift_share": False}, "drift_share", f"{NUMBER} 0.01 and 1"),
    ({"metric": ""}, "metric", "must be a non-empty string"),
    ({"metric": "   "}, "metric", "must be a non-empty string"),
    ({"metric": 3}, "metric", "must be a non-empty string"),
    ({"webhook_url": "ftp://example.com/x"}, "webhook_url", "must be an http:// or https:// URL"),
    ({"webhook_url": 42}, "webhook_url", "must be a non-empty string"),
    (
        {"triggers": {"feedback_count": 0}},
        "triggers.feedback_count",
        f"{WHOLE} 1 and 100000000",
    ),
    (
        {"triggers": {"feedback_count": 1.5}},
        "triggers.feedback_count",
        f"{WHOLE} 1 and 100000000",
    ),
    ({"triggers": {"metric_drop": -1}}, "triggers.metric_drop", f"{NUMBER} 0 and 1e+06"),
    ({"triggers": {"drift": "yes"}}, "triggers.drift", "must be true or false"),
    ({"triggers": {"drift": 1}}, "triggers.drift", "must be true or false"),
    ({"promotion": {"margin": -0.1}}, "promotion.margin", f"{NUMBER} 0 and 1e+06"),
    ({"rollback": {"enabled": "true"}}, "rollback.enabled", "must be true or false"),
    ({"rollback": {"metric_drop": -0.5}}, "rollback.metric_drop", f"{NUMBER} 0 and 1e+06"),
    ({"rollback": {"metric_drop": 1e7}}, "rollback.metric_drop", f"{NUMBER} 0 and 1e+06"),
    (
        {"canary": {"min_predictions": 0}},
        "canary.min_predictions",
        f"{WHOLE} 1 and 100000000",
    ),
    ({"canary": {"steps": [0, 50]}}, "canary.steps", "must be a list of percentages in (0, 100]"),
    ({"canary": {"steps": [50, 101]}}, "canary.steps", "must be a list of percentages in (0, 100]"),
    ({"canary": {"steps": "10,50"}}, "canary.steps", "must be a list of percentages in (0, 100]"),
    (
        {"canary": {"steps": [10, True]}},
        "canary.steps",
        "must be a list of percentages in (0, 100]",
    ),
    ({"canary": {"steps": [50, 10]}}, "canary.steps", "must increase"),
    ({"canary": {"steps": [10, 10, 100]}}, "canary.steps", "must increase"),
    ({"retention": {"keep_last": 0}}, "retention.keep_last", f"{WHOLE} 1 and 1000000"),
    ({"retention": {"keep_days": -1}}, "retention.keep_days", f"{NUMBER} 0 and 36500"),
    (
        {"schedule": {"interval_minutes": 0}},
        "schedule.interval_minutes",
        f"{WHOLE} 1 and {MAX_INTERVAL_MINUTES}",
    ),
    (
        {"schedule": {"interval_minutes": MAX_INTERVAL_MINUTES + 1}},
        "schedule.interval_minutes",
        f"{WHOLE} 1 and {MAX_INTERVAL_MINUTES}",
    ),
    ({"schedule": {"cron": ""}}, "schedule.cron", "must be a non-empty string"),
]


@pytest.mark.parametrize(("document", "path", "problem"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_the_field_and_its_range(
    document: dict[str, Any], path: str, problem: str
) -> None:
    error = _refused(document)
    assert error.message == f"Policy field {path} {problem}."
    assert error.errors == [{"loc": path.split("."), "msg": problem}]


def test_the_message_of_a_bad_rollback_drop_reads_well() -> None:
    error = _refused({"rollback": {"enabled": True, "metric_drop": 2e6}})
    assert error.message == (
        "Policy field rollback.metric_drop must be a number between 0 and 1e+06."
    )


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"retrain_every": 5}, "retrain_every"),
        ({"triggers": {"feedback": 10}}, "triggers.feedback"),
        ({"rollback": {"enabled": True, "drop": 0.1}}, "rollback.drop"),
        ({"canary": {"steps": [10], "weight": 5}}, "canary.weight"),
        ({"retention": {"keep": 3}}, "retention.keep"),
        ({"promotion": {"margin": 0.1, "metric": "f1"}}, "promotion.metric"),
        ({"schedule": {"interval_minutes": 5, "every": 3}}, "schedule.every"),
    ],
)
def test_an_unknown_key_is_refused_so_a_typo_is_never_ignored(
    document: dict[str, Any], path: str
) -> None:
    error = _refused(document)
    assert error.message == f"Policy field {path} is not a policy field."
    assert error.errors[0]["loc"] == path.split(".")


@pytest.mark.parametrize("document", [[], "policy", 3, None])
def test_a_document_that_is_not_an_object_is_refused(document: Any) -> None:
    assert "must be a JSON object" in _refused(document).message


@pytest.mark.parametrize("section", ["triggers", "promotion", "rollback", "canary", "retention"])
def test_a_section_that_is_not_an_object_is_refused_naming_it(section: str) -> None:
    error = _refused({section: [1, 2]})
    assert error.message == f"{section} must be a JSON object."
    assert error.errors[0]["loc"] == [section]


@pytest.mark.parametrize(
    "cron", ["every day", "* * * *", "61 * * * *", "0 25 * * *", "0 0 * 13 *", "* * * * * * *"]
)
def test_a_bad_crontab_line_is_refused(cron: str) -> None:
    error = _refused({"schedule": {"cron": cron}})
    assert error.message.startswith("Policy field schedule.cron is not a crontab line")
    assert error.errors[0]["loc"] == ["schedule", "cron"]


@pytest.mark.parametrize(
    "schedule", [{}, {"cron": "0 3 * * *", "interval_minutes": 60}, {"cron": None}]
)
def test_a_schedule_needs_exactly_one_of_cron_or_interval(schedule: dict[str, Any]) -> None:
    error = _refused({"schedule": schedule})
    assert "exactly one of cron or interval_minutes" in error.message
    assert error.errors[0]["loc"] == ["schedule"]


def test_canary_steps_end_at_full_traffic() -> None:
    assert parse_policy({"canary": {"steps": [10, 50]}}).canary.steps == (10.0, 50.0, 100.0)
    assert parse_policy({"canary": {"steps": [5, 100]}}).canary.steps == (5.0, 100.0)
    assert parse_policy({"canary": {"steps": [12.5]}}).canary.steps == (12.5, 100.0)
    assert parse_policy({"canary": {"steps": []}}).canary == Canary()


def test_a_full_policy_survives_the_json_round_trip() -> None:
    document = {
        "schedule": {"cron": "30 2 * * 1-5"},
        "triggers": {"feedback_count": 500, "metric_drop": 0.05, "drift": True},
        "promotion": {"margin": 0.01},
        "rollback": {"enabled": True, "metric_drop": 0.2},
        "canary": {"steps": [10, 50], "min_predictions": 200},
        "retention": {"keep_last": 5, "keep_days": 30},
        "metric": "accuracy",
        "min_feedback": 20,
        "degradation_drop": 0.03,
        "webhook_url": "https://hooks.example.com/vigil",
        "recent_days": 14,
        "drift_share": 0.3,
    }
    policy = parse_policy(document)
    assert policy.acts
    assert policy.schedule == Schedule(cron="30 2 * * 1-5")
    assert policy.canary.steps == (10.0, 50.0, 100.0)
    assert parse_policy(policy.to_json()) == policy
    # The stored document is plain JSON: lists, not tuples.
    assert policy.to_json()["canary"]["steps"] == [10.0, 50.0, 100.0]
    interval = parse_policy({"schedule": {"interval_minutes": 90}})
    assert parse_policy(interval.to_json()) == interval
    assert parse_policy(Policy().to_json()) == Policy()


def test_which_policies_act() -> None:
    assert parse_policy({"triggers": {"drift": True}}).acts
    assert parse_policy({"retention": {"keep_days": 3}}).acts
    assert parse_policy({"rollback": {"enabled": True}}).acts
    assert parse_policy({"schedule": {"interval_minutes": 5}}).acts
    # Watching settings alone never act.
    assert not parse_policy({"canary": {"steps": [10]}, "degradation_drop": 0.2}).acts


T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


def test_an_interval_schedule_first_fires_one_interval_after_it_is_set() -> None:
    schedule = Schedule(interval_minutes=60)
    assert schedule.next_after(None, T0) == T0 + timedelta(hours=1)
    # Counted from the last run, not from when the tick came.
    assert schedule.next_after(T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=1)) == (
        T0 + timedelta(hours=2)
    )


def test_an_interval_schedule_skips_the_runs_missed_while_nobody_ticked() -> None:
    schedule = Schedule(interval_minutes=60)
    due = T0 + timedelta(hours=1)
    late = due + timedelta(hours=5, minutes=30)
    # One run for the missed ones (the caller's), the next on the original grid.
    assert schedule.next_after(due, late) == due + timedelta(hours=6)
    # A tick exactly on a fire time: the next one is strictly later.
    assert schedule.next_after(due, due + timedelta(hours=2)) == due + timedelta(hours=3)


def test_a_cron_schedule_fires_at_its_times_in_utc() -> None:
    nightly = Schedule(cron="0 3 * * *")
    assert nightly.next_after(None, T0) == datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
    assert nightly.next_after(None, T0.replace(hour=2, minute=59)) == T0.replace(hour=3)
    # On a fire time: the next day's.
    assert nightly.next_after(T0.replace(hour=3), T0.replace(hour=3)) == datetime(
        2026, 1, 6, 3, 0, tzinfo=UTC
    )
    # Missed for days: the first one after now.
    assert nightly.next_after(T0.replace(hour=3), datetime(2026, 1, 9, 12, tzinfo=UTC)) == (
        datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
    )
    weekdays = Schedule(cron="30 2 * * 1-5")
    friday = datetime(2026, 1, 9, 12, 0, tzinfo=UTC)
    assert weekdays.next_after(None, friday) == datetime(2026, 1, 12, 2, 30, tzinfo=UTC)


def test_a_long_overdue_frequent_schedule_still_answers_the_next_time() -> None:
    every_minute = Schedule(cron="* * * * *")
    due = T0
    a_year_later = T0 + timedelta(days=365, seconds=30)
    assert every_minute.next_after(due, a_year_later) == T0 + timedelta(days=365, minutes=1)
    interval = Schedule(interval_minutes=1)
    assert interval.next_after(due, a_year_later) == T0 + timedelta(days=365, minutes=1)


def test_next_after_returns_aware_utc_times() -> None:
    for schedule in (Schedule(cron="*/15 * * * *"), Schedule(interval_minutes=15)):
        when = schedule.next_after(None, T0)
        assert when is not None and when.utcoffset() == timedelta(0)
        assert when == T0 + timedelta(minutes=15)


# 2026-01-05 is a Monday; crontab counts weekdays from Sunday = 0 (7 is Sunday too).
@pytest.mark.parametrize(
    ("weekday", "first_day"),
    [
        ("0", 11),  # Sunday
        ("7", 11),
        ("sun", 11),
        ("1", 5),  # Monday, today at 10:00
        ("1-5", 5),
        ("mon-fri", 5),
        ("6", 10),  # Saturday
        ("2,4", 6),  # Tuesday
        ("*/2", 6),  # Sunday, Tuesday, Thursday, Saturday
        ("3/2", 7),  # Wednesday, Friday
        ("5-7", 9),  # Friday to Sunday
        ("*", 5),
    ],
)
def test_crontab_weekdays_count_from_sunday(weekday: str, first_day: int) -> None:
    schedule = parse_policy({"schedule": {"cron": f"0 10 * * {weekday}"}}).schedule
    assert schedule is not None
    assert schedule.next_after(None, T0) == datetime(2026, 1, first_day, 10, 0, tzinfo=UTC)


def test_weekdays_of_a_crontab_line_are_whole_weeks_apart() -> None:
    weekdays = Schedule(cron="30 2 * * 1-5")
    fired = []
    when: datetime | None = T0
    for _ in range(6):
        assert when is not None
        when = weekdays.next_after(when, when)
        fired.append(when)
    assert [w.strftime("%a %d") for w in fired if w is not None] == [
        "Tue 06",
        "Wed 07",
        "Thu 08",
        "Fri 09",
        "Mon 12",
        "Tue 13",
    ]


@pytest.mark.parametrize("weekday", ["8", "5-1", "*/0", "mon-xyz", "1/x", "-1"])
def test_a_bad_crontab_weekday_is_refused(weekday: str) -> None:
    error = _refused({"schedule": {"cron": f"0 10 * * {weekday}"}})
    assert error.message.startswith("Policy field schedule.cron is not a crontab line")


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 6,9,11 *"])
def test_a_crontab_line_that_never_fires_is_refused(cron: str) -> None:
    error = _refused({"schedule": {"cron": cron}})
    assert error.message == "Policy field schedule.cron never fires (no such day)."
    # Leap days do come.
    assert parse_policy({"schedule": {"cron": "0 0 29 2 *"}}).schedule == Schedule(
        cron="0 0 29 2 *"
    )
