"""Signed webhook posts against a real HTTP receiver on loopback: signatures, retries, backoff."""

from __future__ import annotations

import hashlib
import hmac
import socket

import httpx
import orjson
import pytest
from alert_support import SECRET, SIGNED_AT, RecordingSleep, receiver

from vigil.monitoring.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    sign,
    signature_headers,
    verify,
)

PAYLOAD = {"id": "a1", "kind": "drift", "details": {"share": 0.5}}


def _sender(sleep: RecordingSleep, **options: object) -> WebhookSender:
    return WebhookSender(SECRET, sleep=sleep, clock=lambda: SIGNED_AT, **options)  # type: ignore[arg-type]


def _unused_port() -> int:
    """Returns a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- signatures ------------------------------------------------------------------------


def test_the_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert sign(b"k", body, 1_700_000_000) == f"sha256={expected}"
    assert signature_headers(b"k", body, 1_700_000_000) == {
        TIMESTAMP_HEADER: "1700000000",
        SIGNATURE_HEADER: f"sha256={expected}",
    }


def test_verify_accepts_only_the_exact_body_timestamp_and_secret() -> None:
    body = b'{"a":1}'
    signature = sign(SECRET, body, SIGNED_AT)

    assert verify(SECRET, body, str(SIGNED_AT), signature, now=SIGNED_AT)
    assert verify(SECRET, body, SIGNED_AT, signature, max_age=None)
    assert not verify(SECRET, b'{"a":2}', SIGNED_AT, signature, now=SIGNED_AT)
    assert not verify(b"other", body, SIGNED_AT, signature, now=SIGNED_AT)
    assert not verify(SECRET, body, SIGNED_AT + 1, signature, now=SIGNED_AT)
    assert not verify(SECRET, body, SIGNED_AT, signature.replace("sha256=", ""), now=SIGNED_AT)
    assert not verify(SECRET, body, "soon", signature, now=SIGNED_AT)
    assert not verify(SECRET, body, None, signature, now=SIGNED_AT)
    assert not verify(SECRET, body, SIGNED_AT, None, now=SIGNED_AT)


def test_verify_refuses_a_stale_or_future_timestamp() -> None:
    body = b"{}"
    signature = sign(SECRET, body, SIGNED_AT)

    assert verify(SECRET, body, SIGNED_AT, signature, now=SIGNED_AT + 300)
    assert not verify(SECRET, body, SIGNED_AT, signature, now=SIGNED_AT + 301)
    assert not verify(SECRET, body, SIGNED_AT, signature, now=SIGNED_AT - 301)
    assert verify(SECRET, body, SIGNED_AT, signature, now=SIGNED_AT + 3600, max_age=None)


def test_a_sender_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookSender(b"")


# --- delivery against a real receiver --------------------------------------------------


def test_two_server_errors_then_success_delivers_on_the_third_attempt() -> None:
    sleep = RecordingSleep()
    with receiver(500, 500, 200) as (url, script), _sender(sleep) as sender:
        result = sender.send(url, PAYLOAD, headers={DELIVERY_HEADER: "a1"})

    assert (result.delivered, result.attempts, result.status, result.error) == (True, 3, 200, None)
    assert sleep.delays == [0.5, 1.0]
    assert len(script.received) == 3
    assert all(r.verified for r in script.received)
    first = script.received[0]
    assert first.path == "/hook"
    assert first.json() == PAYLOAD
    assert first.body == orjson.dumps(PAYLOAD)
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers[TIMESTAMP_HEADER] == str(SIGNED_AT)
    assert first.headers[DELIVERY_HEADER] == "a1"


def test_a_client_error_is_not_retried() -> None:
    sleep = RecordingSleep()
    with receiver(400) as (url, script), _sender(sleep) as sender:
        result = sender.send(url, PAYLOAD)

    assert (result.delivered, result.attempts, result.status) == (False, 1, 400)
    assert result.error == "HTTP 400"
    assert sleep.delays == []
    assert len(script.received) == 1


def test_a_redirect_is_not_followed_nor_retried() -> None:
    sleep = RecordingSleep()
    redirect = (302, {"Location": "http://example.invalid/"})
    with receiver(redirect) as (url, script), _sender(sleep) as sender:
        result = sender.send(url, PAYLOAD)

    assert (result.delivered, result.attempts, result.status) == (False, 1, 302)
    assert len(script.received) == 1


def test_a_server_that_keeps_failing_exhausts_the_attempts() -> None:
    sleep = RecordingSleep()
    with receiver(503) as (url, script), _sender(sleep, attempts=4) as sender:
        result = sender.send(url, PAYLOAD)

    assert (result.delivered, result.attempts, result.status) == (False, 4, 503)
    assert result.error == "HTTP 503"
    assert sleep.delays == [0.5, 1.0, 2.0]
    assert len(script.received) == 4


def test_backoff_doubles_up_to_its_cap() -> None:
    sleep = RecordingSleep()
    with (
        receiver(502) as (url, _),
        _sender(sleep, attempts=6, backoff=1.0, max_backoff=3.0) as sender,
    ):
        sender.send(url, PAYLOAD)

    assert sleep.delays == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_too_many_requests_waits_the_numeric_retry_after_up_to_the_cap() -> None:
    sleep = RecordingSleep()
    answers = [
        (429, {"Retry-After": "7"}),
        (429, {"Retry-After": "120"}),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        (200, {}),
    ]
    with receiver(*answers) as (url, _), _sender(sleep, max_backoff=30.0) as sender:
        result = sender.send(url, PAYLOAD)

    assert (result.delivered, result.attempts) == (True, 4)
    # A date is not a number of seconds: the usual backoff applies.
    assert sleep.delays == [7.0, 30.0, 2.0]


def test_an_unreachable_receiver_exhausts_the_attempts_and_records_the_error() -> None:
    sleep = RecordingSleep()
    url = f"http://127.0.0.1:{_unused_port()}/hook"
    with _sender(sleep, attempts=3) as sender:
        result = sender.send(url, PAYLOAD)

    assert (result.delivered, result.attempts, result.status) == (False, 3, None)
    assert result.error is not None and result.error.startswith("ConnectError")
    assert sleep.delays == [0.5, 1.0]


# --- failures simulated in the transport -----------------------------------------------


def test_timeouts_are_retried() -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(204)

    sleep = RecordingSleep()
    client = httpx.Client(transport=httpx.MockTransport(handle))
    result = _sender(sleep, client=client).send("http://receiver.test/hook", PAYLOAD)

    assert (result.delivered, result.attempts, result.status) == (True, 3, 204)
    assert sleep.delays == [0.5, 1.0]
    assert all(
        verify(
            SECRET,
            r.content,
            r.headers[TIMESTAMP_HEADER],
            r.headers[SIGNATURE_HEADER],
            now=SIGNED_AT,
        )
        for r in calls
    )


def test_a_url_that_can_never_work_is_not_retried() -> None:
    sleep = RecordingSleep()
    with _sender(sleep) as sender:
        result = sender.send("ftp://receiver.test/hook", PAYLOAD)

    assert (result.delivered, result.attempts) == (False, 1)
    assert result.error is not None and "UnsupportedProtocol" in result.error
    assert sleep.delays == []


def test_a_borrowed_client_is_left_open() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    with _sender(RecordingSleep(), client=client) as sender:
        assert sender.send("http://receiver.test/", PAYLOAD).delivered

    assert not client.is_closed
    client.close()
