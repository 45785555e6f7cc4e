"""Ground truth joined to logged predictions, and reads of the log for monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from vigil.registry.sessions import SqlStore
from vigil.registry.tables import PredictionRow

# Feedback is applied in slices so one huge request does not hold a long lock.
_SLICE = 500
# Actuals by series and timestamp are looked up among this many newest forecast points.
FORECAST_LOOKUP_ROWS = 200_000


@dataclass(frozen=True)
class FeedbackOutcome:
    """What happened to a batch of feedback items."""

    accepted: int
    unchanged: int
    unknown: list[str]

    def to_json(self) -> dict[str, Any]:
        """Returns the outcome as JSON (unknown ids reported back)."""
        return {"accepted": self.accepted, "unchanged": self.unchanged, "unknown": self.unknown}


@dataclass(frozen=True)
class LoggedRow:
    """A prediction as monitoring reads it."""

    id: str
    version: int
    shadow: bool
    inputs: dict[str, Any]
    output: dict[str, Any]
    actual: Any
    has_actual: bool
    latency_us: float
    created_at: datetime


class FeedbackStore(SqlStore):
    """Applies feedback to the prediction log and reads the log back."""

    def record(self, tenant: str, model: str, items: list[tuple[str, Any]]) -> FeedbackOutcome:
        """Returns how the items were applied: same feedback twice changes nothing."""
        accepted = unchanged = 0
        unknown: list[str] = []
        latest = {prediction_id: actual for prediction_id, actual in items}
        ids = list(latest)
        for start in range(0, len(ids), _SLICE):
            chunk = ids[start : start + _SLICE]
            with self.writing() as session:
                rows = {
                    row.id: row
                    for row in session.scalars(
                        select(PredictionRow).where(
                            PredictionRow.id.in_(chunk),
                            PredictionRow.tenant == tenant,
                            PredictionRow.model == model,
                        )
                    )
                }
                for prediction_id in chunk:
                    row = rows.get(prediction_id)
                    if row is None:
                        unknown.append(prediction_id)
                        continue
                    value = {"value": latest[prediction_id]}
                    if row.actual == value:
                        unchanged += 1
                        continue
                    row.actual = value
                    row.feedback_at = self.now()
                    accepted += 1
        return FeedbackOutcome(accepted, unchanged, unknown)

    def forecast_ids(
        self, tenant: str, model: str, keys: set[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], list[tuple[str, str]]]:
        """Returns the (id, series) of logged forecast points per (series, timestamp) asked.

        Every version's points (shadows too) for that series and time are
        returned: the actual is a fact about the time, and each version is
        judged on it. ``series`` None matches any series (a one-series model).
        Timestamps are compared as ``YYYY-MM-DDTHH:MM:SS``, as forecasts write them.
        """
        wanted_times = {t for _, t in keys}
        found: dict[tuple[str | None, str], list[tuple[str, str]]] = {key: [] for key in keys}
        query = (
            select(PredictionRow.id, PredictionRow.output)
            .where(PredictionRow.tenant == tenant, PredictionRow.model == model)
            .order_by(PredictionRow.created_at.desc())
            .limit(FORECAST_LOOKUP_ROWS)
        )
        with self.reading() as session:
            for prediction_id, output in session.execute(query):
                timestamp = (output or {}).get("timestamp")
                if timestamp not in wanted_times:
                    continue
                series = output.get("series")
                for key in ((series, timestamp), (None, timestamp)):
                    if key in found:
                        found[key].append((prediction_id, series))
        return found

    def count_feedback(self, tenant: str, model: str, *, since: datetime | None = None) -> int:
        """Returns how many of the model's predictions received ground truth after ``since``."""
        query = select(func.count()).where(
            PredictionRow.tenant == tenant,
            PredictionRow.model == model,
            PredictionRow.feedback_at.is_not(None),
        )
        if since is not None:
            query = query.where(PredictionRow.feedback_at > since)
        with self.reading() as session:
            return int(session.scalar(query) or 0)

    def rows(
        self,
        tenant: str,
        model: str,
        *,
        since: datetime | None = None,
        version: int | None = None,
        shadow: bool | None = False,
        limit: int = 100_000,
    ) -> list[LoggedRow]:
        """Returns logged predictions of a model, newest first, filtered as asked."""
        query = select(PredictionRow).where(
            PredictionRow.tenant == tenant, PredictionRow.model == model
        )
        if since is not None:
            query = query.where(PredictionRow.created_at >= since)
        if version is not None:
            query = query.where(PredictionRow.version == version)
        if shadow is not None:
            query = query.where(PredictionRow.shadow == shadow)
        query = query.order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc()).limit(
            limit
        )
        with self.reading() as session:
            return [
                LoggedRow(
                    r.id,
                    r.version,
                    r.shadow,
                    r.inputs,
                    r.output,
                    (r.actual or {}).get("value"),
                    r.actual is not None,
                    r.latency_us,
                    r.created_at,
                )
                for r in session.scalars(query)
            ]
