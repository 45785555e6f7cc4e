"""Time-ordered identifiers (UUIDv7, RFC 9562) for predictions, jobs and artifacts."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_millis = -1
_counter = 0


def uuid7(now_ms: int | None = None) -> str:
    """Returns a new UUIDv7 string: 48 bits of Unix milliseconds, a counter, then random bits.

    Ordered by creation time, so ids sort like the events they name and index
    well in a B-tree. Within one millisecond the 12-bit ``rand_a`` field is a
    counter (RFC 9562, section 6.2, method 1), so the ids one process makes
    sort in the order it made them: a batch's predictions sort by row.

    >>> from uuid import UUID
    >>> earlier, later = uuid7(now_ms=1_700_000_000_000), uuid7(now_ms=1_700_000_000_001)
    >>> earlier[:13], UUID(earlier).version
    ('018bcfe5-6800', 7)
    >>> earlier < later
    True
    """
    global _last_millis, _counter
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    with _lock:
        if millis == _last_millis and _counter < 0xFFF:
            _counter += 1
        else:
            # A new millisecond starts the counter low, leaving room to count up.
            _counter = (rand >> 62) & 0x3FF
            _last_millis = millis
        sequence = _counter
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= sequence << 64  # rand_a as a counter, 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return str(uuid.UUID(int=value))


def uuid7_many(count: int) -> list[str]:
    """Returns ``count`` new UUIDv7 strings, as ``uuid7`` makes them one after another.

    One lock and one read of random bytes for the lot, and the text written
    from the number directly: a stream batch names a thousand predictions.

    >>> ids = uuid7_many(3)
    >>> ids == sorted(ids) and len(set(ids)) == 3 and ids[0][14] == "7"
    True
    """
    global _last_millis, _counter
    if count <= 0:
        return []
    millis = int(time.time() * 1000)
    randoms = os.urandom(10 * count)
    values = []
    with _lock:
        for i in range(count):
            rand = int.from_bytes(randoms[10 * i : 10 * i + 10], "big")
            if millis == _last_millis and _counter < 0xFFF:
                _counter += 1
            elif millis == _last_millis:
                # The millisecond's counter is spent: borrow the next millisecond, as
                # uuid7 would once the clock moved on, so the ids keep their order.
                millis += 1
                _counter = (rand >> 62) & 0x3FF
                _last_millis = millis
            else:
                _counter = (rand >> 62) & 0x3FF
                _last_millis = millis
            value = (millis & ((1 << 48) - 1)) << 80
            value |= 0x7 << 76 | _counter << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
            values.append(value)
    texts = []
    for value in values:
        h = f"{value:032x}"
        texts.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return texts
