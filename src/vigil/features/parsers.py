"""Reading raw log lines into events: JSON Lines, a named-group regex, or a ready layout.

A log file is one event per line. :func:`parse_lines` turns the lines into a
DataFrame of events (one row per line that could be read, in line order) and
a :class:`ParseReport` that counts the lines, the blank ones and the
malformed ones, with the first few malformed lines and their numbers. A bad
line is counted and skipped, never raised: one truncated write at the end of a
file must not stop a model from training on the other million lines.

Formats:

- ``json``: one JSON object per line; nested objects become ``a.b`` columns.
- ``regex``: a pattern with named groups (``(?P<level>\\w+)``); each group
  becomes a column, ``timestamp`` is parsed as a time and ``message`` is the
  text that templates are mined from (the whole line when there is no such
  group).
- ready layouts: ``hdfs`` and ``bgl`` (the Loghub layouts), ``nginx`` and
  ``apache`` (the combined access log, with an optional request time at the
  end).
- ``raw``: every line is a message and nothing else.
- ``auto``: JSON when most lines are objects, else the ready layout that
  matches most of the first lines, else ``raw``.

Regexes run through Arrow's RE2 engine (vectorised, linear time) when the
pattern is RE2 syntax, and through Python's ``re`` otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from vigil.errors import UsageError

# How many malformed lines a report quotes, and how much of each.
MAX_EXAMPLES = 5
_EXAMPLE_CHARS = 200
# Lines looked at to guess the format of a file.
_SNIFF_LINES = 200
_SNIFF_MIN_SHARE = 0.5


@dataclass(frozen=True)
class MalformedLine:
    """One line that could not be read: its 1-based number, its text (cut short) and why."""

    line: int
    text: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """Returns the line as a JSON object."""
        return {"line": self.line, "text": self.text, "reason": self.reason}


@dataclass
class ParseReport:
    """What reading a log gave: lines seen, events parsed, blank and malformed lines."""

    format: str
    lines: int = 0
    parsed: int = 0
    blank: int = 0
    malformed: int = 0
    examples: list[MalformedLine] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Returns the report as the JSON object the CLI and API show."""
        return {
            "format": self.format,
            "lines": self.lines,
            "parsed": self.parsed,
            "blank": self.blank,
            "malformed": self.malformed,
            "examples": [e.to_json() for e in self.examples],
        }

    def summary(self) -> str:
        """Returns one sentence for people: how many lines were malformed, and the first one."""
        if not self.malformed:
            return f"Read {self.parsed} events from {self.lines} lines ({self.format})."
        first = self.examples[0] if self.examples else None
        shown = f"; first at line {first.line}: {first.text!r} ({first.reason})" if first else ""
        return f"Skipped {self.malformed} malformed of {self.lines} lines ({self.format}){shown}."


@dataclass
class ParsedLog:
    """Events read from lines, the 1-based line number of each event, and the report."""

    events: pd.DataFrame
    line_numbers: np.ndarray
    report: ParseReport


@dataclass(frozen=True)
class LogLayout:
    """A ready text layout: its regex and how its fields become event columns."""

    name: str
    pattern: str
    finish: Callable[[pd.DataFrame], pd.DataFrame]
    description: str


def _finish_hdfs(fields: pd.DataFrame) -> pd.DataFrame:
    stamp = pd.to_datetime(
        fields["date"] + fields["time"], format="%y%m%d%H%M%S", errors="coerce", utc=True
    )
    return pd.DataFrame(
        {
            "timestamp": stamp,
            "pid": pd.to_numeric(fields["pid"], errors="coerce"),
            "level": fields["level"],
            "service": fields["component"],
            "message": fields["message"],
        }
    )


def _finish_bgl(fields: pd.DataFrame) -> pd.DataFrame:
    stamp = pd.to_datetime(
        fields["time"], format="%Y-%m-%d-%H.%M.%S.%f", errors="coerce", utc=True
    ).fillna(pd.to_datetime(pd.to_numeric(fields["epoch"], errors="coerce"), unit="s", utc=True))
    label = fields["label"]
    return pd.DataFrame(
        {
            "timestamp": stamp,
            # The first token is Loghub's alert tag: "-" for normal lines.
            "label": label,
            "is_alert": (label != "-").astype(np.int64),
            "node": fields["node"],
            "type": fields["type"],
            "service": fields["component"],
            "level": fields["level"],
            "message": fields["message"].fillna(""),
        }
    )


def _finish_access(fields: pd.DataFrame) -> pd.DataFrame:
    status = pd.to_numeric(fields["status"], errors="coerce")
    request = fields["request"].fillna("")
    parts = request.str.split(" ", n=2, expand=True).reindex(columns=[0, 1, 2])
    level = np.where(status >= 500, "ERROR", np.where(status >= 400, "WARN", "INFO"))
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                fields["time_local"], format="%d/%b/%Y:%H:%M:%S %z", errors="coerce", utc=True
            ),
            "client_ip": fields["remote_addr"],
            "method": parts[0],
            "path": parts[1],
            "level": level,
            "message": request,
            "status_code": status,
            "response_size": pd.to_numeric(fields["body_bytes_sent"], errors="coerce"),
            "referer": fields["http_referer"],
            "user_agent": fields["http_user_agent"],
        }
    )
    if fields["request_time"].notna().any():
        frame["request_time"] = pd.to_numeric(fields["request_time"], errors="coerce")
    return frame


_ACCESS = (
    r"^(?P<remote_addr>\S+) (?P<ident>\S+) (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<body_bytes_sent>\d+|-)'
    r'(?: "(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)")?'
    r"(?: (?P<request_time>\d+(?:\.\d+)?))?.*$"
)

LAYOUTS: dict[str, LogLayout] = {
    "hdfs": LogLayout(
        "hdfs",
        r"^(?P<date>\d{6}) (?P<time>\d{6}) (?P<pid>\d+) (?P<level>[A-Z]+) "
        r"(?P<component>[^\s:]+): (?P<message>.*)$",
        _finish_hdfs,
        "Hadoop DFS (Loghub HDFS): yymmdd HHMMSS pid LEVEL component: message",
    ),
    "bgl": LogLayout(
        "bgl",
        r"^(?P<label>\S+) (?P<epoch>\d+) (?P<date>\d{4}\.\d{2}\.\d{2}) (?P<node>\S+) "
        r"(?P<time>\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}\.\d+) (?P<node_repeat>\S+) "
        r"(?P<type>\S+) (?P<component>\S+) (?P<level>\S+)(?: (?P<message>.*))?$",
        _finish_bgl,
        "BlueGene/L (Loghub BGL): alert-tag epoch date node time node type component LEVEL msg",
    ),
    "nginx": LogLayout(
        "nginx", _ACCESS, _finish_access, "nginx combined access log (+ optional request time)"
    ),
    "apache": LogLayout(
        "apache", _ACCESS, _finish_access, "Apache combined access log (+ optional request time)"
    ),
}
FORMATS = ("auto", "json", "regex", "raw", *LAYOUTS)


def check_format(fmt: str, pattern: str | None) -> None:
    """Refuses an unknown format, or a pattern that is not a regex with named groups."""
    if pattern is not None:
        if fmt not in ("auto", "regex"):
            raise UsageError(f"A log pattern goes with --log-format regex, not {fmt!r}.")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"The log pattern is not a valid regex: {exc}.") from None
        if not compiled.groupindex:
            raise UsageError(
                "The log pattern needs named groups, such as (?P<level>\\w+) (?P<message>.*)."
            )
        return
    if fmt == "regex":
        raise UsageError("--log-format regex needs --log-pattern with named groups.")
    if fmt not in FORMATS:
        raise UsageError(f"Unknown log format {fmt!r}; use one of {', '.join(FORMATS)}.")


def parse_lines(
    lines: Sequence[Any] | pd.Series, fmt: str = "auto", pattern: str | None = None
) -> ParsedLog:
    """Returns the events read from ``lines`` in format ``fmt``, with the parse report.

    Blank lines are skipped and counted; lines that do not fit the format are
    counted as malformed and quoted (the first few). Never raises on content.
    """
    check_format(fmt, pattern)
    text = _as_text(lines)
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(
        zero_copy_only=False
    )
    positions = np.flatnonzero(~blank)
    kept = text.take(pa.array(positions)) if len(positions) < len(text) else text
    resolved = "regex" if pattern is not None else fmt
    if resolved == "auto":
        resolved = sniff_format(kept)
    if resolved == "json":
        events, ok, reasons = _parse_json(kept)
    elif resolved == "raw":
        events = pd.DataFrame({"message": kept.to_pandas(types_mapper=None)})
        ok, reasons = np.ones(len(kept), dtype=bool), {}
    else:
        layout = LAYOUTS.get(resolved)
        regex = pattern if layout is None else layout.pattern
        assert regex is not None
        fields, ok = _extract(kept, regex)
        if layout is not None:
            events = layout.finish(fields.loc[ok].reset_index(drop=True))
        else:
            events = _finish_regex(fields, kept, ok)
        reasons = {}
    report = ParseReport(
        format=resolved,
        lines=len(positions),
        parsed=int(ok.sum()),
        blank=int(blank.sum()),
        malformed=int((~ok).sum()),
    )
    bad = np.flatnonzero(~ok)[:MAX_EXAMPLES]
    for index in bad:
        raw = kept[int(index)].as_py() or ""
        report.examples.append(
            MalformedLine(
                line=int(positions[index]) + 1,
                text=raw[:_EXAMPLE_CHARS],
                reason=reasons.get(int(index), f"does not match the {resolved} format"),
            )
        )
    return ParsedLog(events.reset_index(drop=True), positions[ok] + 1, report)


def sniff_format(lines: pa.Array) -> str:
    """Returns the format most of the first non-blank ``lines`` are in (``raw`` when none fits)."""
    sample = lines.slice(0, _SNIFF_LINES)
    if len(sample) == 0:
        return "raw"
    starts = pc.starts_with(pc.utf8_ltrim_whitespace(sample), "{")
    if pc.mean(starts.cast(pa.float64())).as_py() >= _SNIFF_MIN_SHARE:
        return "json"
    best, best_share = "raw", _SNIFF_MIN_SHARE
    for name, layout in LAYOUTS.items():
        matched = pc.match_substring_regex(sample, layout.pattern)
        share = pc.mean(matched.cast(pa.float64())).as_py() or 0.0
        if share > best_share:
            best, best_share = name, share
    return best


def _as_text(lines: Sequence[Any] | pd.Series) -> pa.Array:
    """Returns the lines as an Arrow string array (missing values as empty lines)."""
    values = lines if isinstance(lines, pd.Series) else pd.Series(list(lines), dtype=object)
    try:
        array = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed values (numbers among strings): read each as its text.
        texts = values.map(lambda v: None if v is None or v is pd.NA or v != v else str(v))
        array = pa.array(texts, type=pa.string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return pc.fill_null(array, "")


def _parse_json(lines: pa.Array) -> tuple[pd.DataFrame, np.ndarray, dict[int, str]]:
    """Returns (events, which lines parsed, reason per failed line) for JSON lines.

    Arrow's reader takes the whole block at C++ speed; any line it refuses
    (bad syntax, a type that changes mid-file, a non-object) sends the block
    through the line-by-line reader, which keeps every good line.
    """
    if len(lines) == 0:
        return pd.DataFrame(), np.zeros(0, dtype=bool), {}
    try:
        table = pa_json.read_json(
            pa.BufferReader(_newline_joined(lines)),
            read_options=pa_json.ReadOptions(block_size=1 << 24),
            parse_options=pa_json.ParseOptions(newlines_in_values=False),
        )
        if table.num_rows == len(lines):
            while any(pa.types.is_struct(f.type) for f in table.schema):
                table = table.flatten()
            return table.to_pandas(), np.ones(len(lines), dtype=bool), {}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    records: list[dict[str, Any]] = []
    ok = np.zeros(len(lines), dtype=bool)
    reasons: dict[int, str] = {}
    for i, line in enumerate(lines.to_pylist()):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            reasons[i] = f"not JSON: {str(exc).split(':')[0]}"
            continue
        if not isinstance(value, dict):
            reasons[i] = f"a JSON {type(value).__name__}, not an object"
            continue
        records.append(value)
        ok[i] = True
    events = pd.json_normalize(records, sep=".") if records else pd.DataFrame()
    return events, ok, reasons


def _newline_joined(lines: pa.Array) -> pa.Buffer:
    """Returns the lines as one newline-separated UTF-8 buffer, without a Python round trip."""
    terminated = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
    if isinstance(terminated, pa.ChunkedArray):
        terminated = terminated.combine_chunks()
    offsets = np.frombuffer(terminated.buffers()[1], dtype=np.int32)
    first = int(offsets[terminated.offset])
    last = int(offsets[terminated.offset + len(terminated)])
    return terminated.buffers()[2].slice(first, last - first)


def _extract(lines: pa.Array, pattern: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Returns the named groups of ``pattern`` in each line (NaN rows where it fails) and a mask."""
    compiled = re.compile(pattern)
    names = list(compiled.groupindex)
    try:
        struct = pc.extract_regex(lines, pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Not RE2 syntax (lookarounds, backreferences): Python's engine reads it.
        return _extract_python(lines, compiled)
    ok = struct.is_valid().to_numpy(zero_copy_only=False)
    fields = pd.DataFrame(
        {name: struct.field(name).to_pandas() for name in names}, index=range(len(lines))
    )
    # RE2 gives "" for a group that did not take part; Python gives None. Keep None.
    return fields.replace("", None) if len(fields) else fields, ok


def _extract_python(lines: pa.Array, compiled: re.Pattern[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Returns the named groups found by Python's ``re`` in each line, and which lines matched."""
    names = list(compiled.groupindex)
    empty = dict.fromkeys(names)
    rows: list[dict[str, Any]] = []
    ok = np.zeros(len(lines), dtype=bool)
    for i, line in enumerate(lines.to_pylist()):
        found = compiled.search(line or "")
        if found is None:
            rows.append(empty)
            continue
        rows.append(found.groupdict())
        ok[i] = True
    return pd.DataFrame(rows, columns=names, index=range(len(lines))), ok


def _finish_regex(fields: pd.DataFrame, lines: pa.Array, ok: np.ndarray) -> pd.DataFrame:
    """Returns events from a user pattern's groups: parsed time, message (or the whole line)."""
    frame = fields.loc[ok].copy()
    if "timestamp" in frame.columns:
        frame["timestamp"] = pd.to_datetime(
            frame["timestamp"], errors="coerce", utc=True, format="mixed"
        )
    if "message" not in frame.columns:
        frame["message"] = lines.filter(pa.array(ok)).to_pandas().to_numpy()
    for column in frame.columns:
        if column in ("timestamp", "message", "level", "service"):
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.notna().sum() == frame[column].notna().sum() and numbers.notna().any():
            frame[column] = numbers
    return frame
