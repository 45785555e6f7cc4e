"""Alerts posted to a webhook: signed with HMAC-SHA256, retried with backoff, off the caller's path.

Every request carries two headers a receiver checks with :func:`verify`:

- ``X-Vigil-Timestamp``: Unix seconds when the request was signed;
- ``X-Vigil-Signature``: ``sha256=`` and the hex HMAC-SHA256, under the
  server secret, of the timestamp, a dot, and the body bytes.

Signing the timestamp with the body lets a receiver refuse a replayed request
(an old timestamp) as well as an altered one. ``X-Vigil-Delivery`` names the
alert, so a receiver can drop the duplicates that retries may cause.

:class:`WebhookSender` posts one payload, retrying connection errors,
timeouts, 5xx and 429 with exponential backoff; :class:`AlertNotifier` runs
the sender on a background thread and records each outcome in the
:class:`~vigil.monitoring.alerts.AlertStore`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from vigil import __version__
from vigil.monitoring.alerts import Alert, AlertStore

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertNotifier",
    "DeliveryResult",
    "WebhookSender",
    "sign",
    "signature_headers",
    "verify",
]

log = logging.getLogger("vigil.monitoring.webhook")

TIMESTAMP_HEADER = "X-Vigil-Timestamp"
SIGNATURE_HEADER = "X-Vigil-Signature"
DELIVERY_HEADER = "X-Vigil-Delivery"
_SIGNATURE_PREFIX = "sha256="
# How old a signed request a receiver accepts by default: long enough for clock
# skew and a slow network, short enough that a captured request soon goes stale.
DEFAULT_MAX_AGE_SECONDS = 300.0
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
# Statuses worth another try: the receiver is overloaded or briefly broken.
_RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
# Transport failures that may pass (the receiver restarting, a dropped
# connection). A malformed URL or an unsupported scheme never will.
_RETRY_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)
_MAX_ERROR_CHARS = 500


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """Returns the ``X-Vigil-Signature`` value of ``body`` signed at ``timestamp``."""
    message = f"{timestamp}.".encode() + body
    return _SIGNATURE_PREFIX + hmac.new(secret, message, hashlib.sha256).hexdigest()


def signature_headers(secret: bytes, body: bytes, timestamp: int) -> dict[str, str]:
    """Returns the timestamp and signature headers of ``body`` signed at ``timestamp``."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, body, timestamp)}


def verify(
    secret: bytes,
    body: bytes,
    timestamp: str | int | None,
    signature: str | None,
    *,
    max_age: float | None = DEFAULT_MAX_AGE_SECONDS,
    now: float | None = None,
) -> bool:
    """Returns whether ``signature`` signs ``body`` at ``timestamp`` under ``secret``.

    The comparison takes the same time whatever the signature, so timing does
    not leak how much of a forgery was right. With ``max_age``, a timestamp
    further than that from ``now`` (default: the current time) either way is
    refused, so a captured request cannot be replayed later.
    """
    if timestamp is None or signature is None:
        return False
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    if max_age is not None:
        current = time.time() if now is None else now
        if abs(current - stamp) > max_age:
            return False
    expected = sign(secret, body, stamp)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


@dataclass(frozen=True)
class DeliveryResult:
    """How a post ended: delivered or not, after how many requests, the last status and error."""

    delivered: bool
    attempts: int
    status: int | None
    error: str | None


class WebhookSender:
    """Posts signed JSON to a URL, retrying what may pass with exponential backoff.

    The n-th retry waits ``backoff * 2 ** (n - 1)`` seconds, at most
    ``max_backoff``; a 429 or 5xx answer with a numeric ``Retry-After`` waits
    that long instead (also at most ``max_backoff``). Another 4xx, a redirect
    or a malformed URL ends the delivery at once: sending the same request
    again would get the same answer.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 5.0,
        sleep: Callable[[float], Any] = time.sleep,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("A webhook needs a non-empty signing secret.")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}.")
        if backoff < 0 or max_backoff < 0:
            raise ValueError("backoff and max_backoff must not be negative.")
        self.secret = secret
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock
        self._owns_client = client is None
        # Redirects are not followed: a signed post re-sent to wherever a
        # receiver points would hand the signature to a host nobody configured.
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        """Closes the HTTP client if the sender created it."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> DeliveryResult:
        """Returns how posting ``payload`` (as JSON) to ``url`` ended; never raises for the network.

        Each request is signed afresh, so a retry after a long backoff still
        carries a current timestamp.
        """
        body = orjson.dumps(payload, option=_ORJSON_OPTIONS)
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                status, retry_after = self._post(url, body, headers)
            except _RETRY_ERRORS as exc:
                status, error = None, _describe(exc)
            except Exception as exc:
                # Not a passing failure (a bad URL, an unsupported scheme): stop now.
                return DeliveryResult(False, attempt, None, _describe(exc))
            else:
                if 200 <= status < 300:
                    return DeliveryResult(True, attempt, status, None)
                error = f"HTTP {status}"
                if status not in _RETRY_STATUSES:
                    return DeliveryResult(False, attempt, status, error)
            if attempt < self.attempts:
                self.sleep(self._delay(attempt, retry_after))
        return DeliveryResult(False, self.attempts, status, error)

    def _post(
        self, url: str, body: bytes, extra: Mapping[str, str] | None
    ) -> tuple[int, float | None]:
        """Returns the status of one signed post and its numeric Retry-After, if any."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"vigil-webhook/{__version__}",
            **(extra or {}),
            **signature_headers(self.secret, body, int(self.clock())),
        }
        # Streaming without reading the body: the status is all that matters,
        # and a receiver's answer, however large, is never loaded.
        with self.client.stream(
            "POST", url, content=body, headers=headers, timeout=self.timeout
        ) as response:
            return response.status_code, _retry_after(response.headers.get("retry-after"))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Returns how long to wait after failed attempt number ``attempt``."""
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        return min(self.backoff * 2 ** (attempt - 1), self.max_backoff)


def _retry_after(value: str | None) -> float | None:
    """Returns a Retry-After given in seconds; None for none, an HTTP date, or nonsense."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:_MAX_ERROR_CHARS]


@dataclass(frozen=True)
class _Job:
    alert: Alert
    url: str


class AlertNotifier:
    """Posts alerts to webhooks from one daemon thread and records each outcome in the store.

    :meth:`notify` only queues, so raising an alert never waits for a
    receiver. The store stays the durable record: an alert not posted before
    the process ends is still ``pending`` there, for :meth:`resume` at the next
    start. A failing receiver or store is logged, never raised, and never ends
    the thread.
    """

    def __init__(
        self, store: AlertStore, sender: WebhookSender, *, max_queue: int = 10_000
    ) -> None:
        self.store = store
        self.sender = sender
        # None in the queue tells the thread to end.
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        # Counts queued and in-flight alerts, so flush() waits for the last
        # outcome to be recorded, not just for the queue to empty.
        self._unfinished = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # Ids queued or being posted by this process, so a resume never queues one twice.
        self._in_flight: set[str] = set()

    def start(self) -> None:
        """Starts the delivery thread (idempotent; :meth:`notify` starts it too)."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="vigil-alert-webhook", daemon=True
                )
                self._thread.start()

    def notify(self, alert: Alert, url: str) -> bool:
        """Returns whether the alert was queued for posting to ``url``.

        A full queue drops the post (logged); the alert stays ``pending`` in
        the store for :meth:`resume`.
        """
        self.start()
        with self._idle:
            if alert.id in self._in_flight:
                return False
            self._in_flight.add(alert.id)
            self._unfinished += 1
        try:
            self._queue.put_nowait(_Job(alert, url))
        except queue.Full:
            self._done(alert.id)
            log.warning("alert webhook queue full; alert %s stays pending", alert.id)
            return False
        return True

    def resume(
        self,
        url: str,
        *,
        limit: int = 50,
        tenant: str | None = None,
        model: str | None = None,
        created_before: datetime | None = None,
    ) -> int:
        """Returns how many pending alerts were queued again for ``url``.

        Of every tenant and model unless narrowed; only those raised before
        ``created_before`` when given. Alerts this process is still posting
        are skipped; one another process is still posting may be posted twice,
        which receivers tell apart by the ``X-Vigil-Delivery`` header (the alert id).
        """
        pending = self.store.pending_deliveries(
            limit, tenant=tenant, model=model, created_before=created_before
        )
        return sum(self.notify(alert, url) for alert in pending)

    def flush(self, timeout: float | None = None) -> bool:
        """Returns True once every queued alert was posted and recorded; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Returns whether the thread ended within ``timeout`` after posting what was queued.

        Alerts still queued when the time is up stay ``pending`` in the store.
        """
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return True
        # put() may wait for room; the thread keeps draining, so it gets some.
        self._queue.put(None)
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._deliver(job)
            except Exception:
                log.exception("alert webhook delivery crashed; the thread continues")
            finally:
                self._done(job.alert.id)

    def _deliver(self, job: _Job) -> None:
        alert = job.alert
        try:
            result = self.sender.send(job.url, alert.to_json(), headers={DELIVERY_HEADER: alert.id})
        except Exception as exc:
            log.exception("alert %s: webhook post failed unexpectedly", alert.id)
            result = DeliveryResult(False, 1, None, _describe(exc))
        if result.delivered:
            log.info("alert %s posted after %d attempt(s)", alert.id, result.attempts)
        else:
            log.warning(
                "alert %s not delivered after %d attempt(s): %s",
                alert.id,
                result.attempts,
                result.error,
            )
        self.store.mark_delivery(
            alert.id, delivered=result.delivered, attempts=result.attempts, error=result.error
        )

    def _done(self, alert_id: str) -> None:
        with self._idle:
            self._in_flight.discard(alert_id)
            self._unfinished -= 1
            if self._unfinished == 0:
                self._idle.notify_all()
