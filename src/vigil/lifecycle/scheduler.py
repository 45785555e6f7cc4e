"""The background scheduler: APScheduler ticks the policies in every long-running process.

Every API process and every ``vigil worker`` runs one; at each tick the
process first takes or renews the scheduler lease in the database, and only
the holder checks the policies. If the leader dies its lease expires and the
next process to tick takes over; a clean stop releases the lease at once.
Scheduled retraining runs are themselves claimed compare-and-set in the
database (see ``PolicyStore.claim_run``), so even two leaders could not fire
one run twice.

Between ticks, a short poll asks ``requested`` whether another process asked
for a tick now (``vigil scheduler run`` on another machine): a cheap read of
the lease row, and only in the process that leads. If so the tick runs at
once instead of at the next interval.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("vigil.scheduler")


def _interval_from_env() -> float:
    text = os.environ.get("VIGIL_SCHEDULER_INTERVAL", "30")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.05 <= value <= 3600:
        raise ValueError(
            f"VIGIL_SCHEDULER_INTERVAL must be a number of seconds in [0.05, 3600], got {text!r}."
        )
    return value


SCHEDULER_INTERVAL_SECONDS = _interval_from_env()


# How often the leader looks for a request to tick now (at most this, at least the interval).
REQUEST_POLL_SECONDS = 1.0


class PolicyScheduler:
    """Calls ``tick`` every ``interval`` seconds on an APScheduler background thread.

    With ``requested``, it also calls ``tick`` as soon as ``requested()`` is
    true, checked every ``poll`` seconds (by default the smaller of the
    interval and ``REQUEST_POLL_SECONDS``).
    """

    def __init__(
        self,
        tick: Callable[[], object],
        *,
        interval: float | None = None,
        requested: Callable[[], bool] | None = None,
        poll: float | None = None,
    ) -> None:
        self._tick = tick
        self.interval = interval or SCHEDULER_INTERVAL_SECONDS
        self._requested = requested
        self.poll = poll or min(self.interval, REQUEST_POLL_SECONDS)
        # One tick at a time: a slow tick (a drift check on a big model) is not run twice.
        self._scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1}, timezone="UTC"
        )

    def start(self) -> None:
        """Starts ticking (the first tick comes one interval from now)."""
        self._scheduler.add_job(
            self._run, IntervalTrigger(seconds=self.interval), id="vigil-policies"
        )
        if self._requested is not None:
            self._scheduler.add_job(
                self._answer, IntervalTrigger(seconds=self.poll), id="vigil-run-requests"
            )
        self._scheduler.start()
        log.info("policy scheduler started, ticking every %.2f s", self.interval)

    def stop(self) -> None:
        """Stops ticking and waits for a tick in progress."""
        self._scheduler.shutdown(wait=True)

    def _run(self) -> None:
        try:
            self._tick()
        except Exception:  # the next tick tries again; the scheduler thread must live on
            log.exception("policy tick failed")

    def _answer(self) -> None:
        assert self._requested is not None
        try:
            asked = self._requested()
        except Exception:  # the database may be away for a moment; the next poll asks again
            log.exception("checking for a request to tick failed")
            return
        if asked:
            self._run()
