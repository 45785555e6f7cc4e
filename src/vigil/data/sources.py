"""Data sources a request may name: stored datasets, inline rows, allow-listed URLs, named SQL.

URL sources are off unless the server lists hosts in ``VIGIL_URL_ALLOWLIST``;
even an allow-listed host is refused when it resolves to a private,
loopback, link-local or otherwise internal address, and every redirect is
checked again, so a request cannot make the server reach its own network.

SQL sources never take a connection string or SQL text from a request: the
server's configuration names each connection and each query; a request
chooses a query by name and passes parameters, which are bound, never
formatted into the text.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pandas as pd
from sqlalchemy import create_engine, text

from vigil.data.loading import FORMATS, detect_format
from vigil.errors import InvalidInput

MAX_REDIRECTS = 5
FETCH_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class FetchedData:
    """Bytes fetched from a URL and the format they are in."""

    payload: bytes
    format: str
    url: str


def check_url(url: str, allowlist: tuple[str, ...]) -> str:
    """Returns ``url`` if it may be fetched, else raises naming why not.

    The host must be in the allow-list and every address it resolves to must
    be public.
    """
    if not allowlist:
        raise InvalidInput(
            "URL data sources are disabled on this server (VIGIL_URL_ALLOWLIST is empty).",
            errors=[{"loc": ["data", "url"], "msg": "URL sources disabled"}],
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"URL {url!r} must be http or https with a host.",
            errors=[{"loc": ["data", "url"], "msg": "invalid URL"}],
        )
    host = parts.hostname.lower()
    if host not in allowlist:
        raise InvalidInput(
            f"Host {host!r} is not in the server's URL allow-list.",
            errors=[{"loc": ["data", "url"], "msg": "host not allowed"}],
        )
    for address in _resolve(host, parts.port or (443 if parts.scheme == "https" else 80)):
        if not address.is_global or address.is_multicast:
            raise InvalidInput(
                f"Host {host!r} resolves to {address}, an internal address; refusing to fetch it.",
                errors=[{"loc": ["data", "url"], "msg": "internal address"}],
            )
    return url


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise InvalidInput(f"Host {host!r} cannot be resolved: {exc.strerror}.") from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def fetch_url(url: str, allowlist: tuple[str, ...], *, max_bytes: int) -> FetchedData:
    """Returns the bytes at ``url`` (redirects followed and re-checked), at most ``max_bytes``."""
    current = check_url(url, allowlist)
    with httpx.Client(follow_redirects=False, timeout=FETCH_TIMEOUT_SECONDS) as client:
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream("GET", current) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = check_url(urljoin(current, location), allowlist)
                    continue
                if response.status_code != 200:
                    raise InvalidInput(f"URL {current} answered HTTP {response.status_code}.")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise InvalidInput(f"URL {current} returned more than {max_bytes} bytes.")
                    chunks.append(chunk)
                return FetchedData(b"".join(chunks), _format_of(current, response), current)
    raise InvalidInput(f"URL {url} redirected more than {MAX_REDIRECTS} times.")


def _format_of(url: str, response: httpx.Response) -> str:
    path = urlsplit(url).path
    if any(path.lower().endswith(suffix) for suffix in FORMATS):
        return detect_format(path)
    content_type = response.headers.get("content-type", "")
    if "parquet" in content_type:
        return "parquet"
    if "json" in content_type:
        return "jsonl"
    return "csv"


def run_named_query(
    sources: Mapping[str, Any], connection: str, query: str, params: Mapping[str, Any]
) -> pd.DataFrame:
    """Returns the rows of the configured ``query`` on the configured ``connection``.

    Only statements written in the server's configuration can run; the
    request's ``params`` are bound by the driver.
    """
    statement = check_named_query(sources, connection, query, params)
    engine = create_engine(sources[connection]["url"])
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(text(statement), conn, params=dict(params))
    except Exception as exc:  # the database's own error text is the useful part
        raise InvalidInput(f"SQL query {query!r} on {connection!r} failed: {exc}") from exc
    finally:
        engine.dispose()
    if frame.empty:
        raise InvalidInput(f"SQL query {query!r} on {connection!r} returned no rows.")
    return frame


def check_named_query(sources: Mapping[str, Any], connection: str, query: str, params: Any) -> str:
    """Returns the configured SQL text of ``query``, or raises naming what is not configured."""
    source = sources.get(connection)
    if not isinstance(source, Mapping) or "url" not in source:
        known = ", ".join(sorted(sources)) or "none configured"
        raise InvalidInput(
            f"Unknown SQL connection {connection!r}; configured connections: {known}.",
            errors=[{"loc": ["data", "sql", "connection"], "msg": "unknown connection"}],
        )
    queries = source.get("queries") or {}
    statement = queries.get(query)
    if not isinstance(statement, str):
        known = ", ".join(sorted(queries)) or "none configured"
        raise InvalidInput(
            f"Unknown query {query!r} for SQL connection {connection!r}; "
            f"configured queries: {known}.",
            errors=[{"loc": ["data", "sql", "query"], "msg": "unknown query"}],
        )
    if not isinstance(params, Mapping):
        raise InvalidInput(
            "SQL params must be an object of named values.",
            errors=[{"loc": ["data", "sql", "params"], "msg": "not an object"}],
        )
    for name, value in params.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise InvalidInput(
                f"SQL parameter {name!r} must be a string, number, boolean or null.",
                errors=[{"loc": ["data", "sql", "params", name], "msg": "not a scalar"}],
            )
    return statement
