"""Reading raw log lines: every format, malformed lines counted and quoted, never a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vigil.errors import UsageError
from vigil.features.parsers import MAX_EXAMPLES, parse_lines

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "logs"

HDFS_LINES = [
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block "
    "blk_38865049064139660 terminating",
    "081109 204005 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap "
    "updated: 10.251.73.220:50010 is added to blk_7128370237687728475 size 67108864",
]
BGL_LINES = [
    "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 "
    "R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
    "KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07.581048 "
    "R30-M0-N9-C:J16-U01 RAS KERNEL FATAL data TLB error interrupt",
]
ACCESS_LINES = [
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
    '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
    '10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] "POST /login HTTP/1.1" 503 - "-" "curl/8.0" 0.250',
]


def test_json_lines_become_columns_with_nested_objects_flattened() -> None:
    parsed = parse_lines(['{"level": "INFO", "ctx": {"user": 7}}', '{"level": "WARN"}'], "json")
    assert parsed.report.parsed == 2 and parsed.report.malformed == 0
    assert parsed.events["level"].tolist() == ["INFO", "WARN"]
    assert parsed.events["ctx.user"].iloc[0] == 7
    assert parsed.line_numbers.tolist() == [1, 2]


def test_malformed_json_lines_are_counted_quoted_and_skipped() -> None:
    lines = ['{"a": 1}', "not json", "", "[1, 2]", '{"a": 2', '{"a": 3}']
    parsed = parse_lines(lines, "json")
    report = parsed.report
    assert (report.lines, report.parsed, report.blank, report.malformed) == (5, 2, 1, 3)
    assert [e.line for e in report.examples] == [2, 4, 5]
    assert report.examples[0].text == "not json"
    assert "object" in report.examples[1].reason
    assert parsed.events["a"].tolist() == [1, 3]
    assert parsed.line_numbers.tolist() == [1, 6]
    assert "3 malformed of 5 lines" in report.summary()


def test_a_report_quotes_only_the_first_few_malformed_lines() -> None:
    parsed = parse_lines(["garbage"] * 20 + ['{"ok": true}'], "json")
    assert parsed.report.malformed == 20
    assert len(parsed.report.examples) == MAX_EXAMPLES
    assert parsed.report.to_json()["examples"][0] == {
        "line": 1,
        "text": "garbage",
        "reason": parsed.report.examples[0].reason,
    }


def test_hdfs_layout_gives_time_level_component_and_message() -> None:
    parsed = parse_lines([*HDFS_LINES, "truncated line"], "hdfs")
    events = parsed.events
    assert parsed.report.malformed == 1 and parsed.report.examples[0].line == 3
    assert events["level"].tolist() == ["INFO", "INFO"]
    assert events["service"].tolist() == ["dfs.DataNode$PacketResponder", "dfs.FSNamesystem"]
    assert events["timestamp"].iloc[0] == pd.Timestamp("2008-11-09 20:36:15", tz="UTC")
    assert events["message"].iloc[0].startswith("PacketResponder 1 for block blk_")


def test_bgl_layout_keeps_the_alert_tag_as_a_label_not_a_feature_field() -> None:
    events = parse_lines(BGL_LINES, "bgl").events
    assert events["label"].tolist() == ["-", "KERNDTLB"]
    assert events["is_alert"].tolist() == [0, 1]
    assert events["level"].tolist() == ["INFO", "FATAL"]
    assert events["message"].iloc[1] == "data TLB error interrupt"
    assert events["timestamp"].iloc[0] == pd.Timestamp("2005-06-03 15:42:50.675872", tz="UTC")


@pytest.mark.parametrize("fmt", ["nginx", "apache"])
def test_combined_access_log_layout(fmt: str) -> None:
    parsed = parse_lines([*ACCESS_LINES, "- - -"], fmt)
    events = parsed.events
    assert parsed.report.malformed == 1
    assert events["method"].tolist() == ["GET", "POST"]
    assert events["path"].tolist() == ["/apache_pb.gif", "/login"]
    assert events["status_code"].tolist() == [200, 503]
    assert events["level"].tolist() == ["INFO", "ERROR"]
    assert np.isnan(events["response_size"].iloc[1])
    assert events["request_time"].iloc[1] == pytest.approx(0.25)
    assert events["timestamp"].iloc[0] == pd.Timestamp("2000-10-10 20:55:36", tz="UTC")


def test_named_group_regex_gives_its_groups_and_numbers() -> None:
    pattern = (
        r"(?P<timestamp>\S+) (?P<level>\w+) (?P<service>\w+): (?P<message>.*) took (?P<ms>\d+)"
    )
    parsed = parse_lines(["2024-01-01T10:00:00 INFO api: done took 12", "oops"], pattern=pattern)
    assert parsed.report.format == "regex" and parsed.report.malformed == 1
    events = parsed.events
    assert events["ms"].tolist() == [12]
    assert events["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 10:00:00", tz="UTC")


def test_a_python_only_regex_still_parses() -> None:
    # A lookahead is not RE2 syntax; Python's engine takes over.
    parsed = parse_lines(["x 1", "y", "z 2"], pattern=r"(?P<word>\w)(?= )\s(?P<n>\d)")
    assert parsed.report.malformed == 1
    assert parsed.events["n"].tolist() == [1, 2]
    assert parsed.events["message"].tolist() == ["x 1", "z 2"]


def test_format_is_guessed_from_the_first_lines() -> None:
    assert parse_lines(HDFS_LINES).report.format == "hdfs"
    assert parse_lines(BGL_LINES).report.format == "bgl"
    assert parse_lines(ACCESS_LINES).report.format == "nginx"
    assert parse_lines(['{"a": 1}']).report.format == "json"
    plain = parse_lines(["free text one", "free text two"])
    assert plain.report.format == "raw"
    assert plain.events["message"].tolist() == ["free text one", "free text two"]


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [""],
        [None, 3.5, "ok"],
        ["\x00\x01 binary", "{" * 1000],
        ['{"a": 1}', '{"a": "text"}', '{"a": [1, 2]}'],
    ],
)
@pytest.mark.parametrize("fmt", ["auto", "json", "hdfs", "bgl", "nginx", "raw"])
def test_no_input_makes_the_parser_raise(lines: list[object], fmt: str) -> None:
    parsed = parse_lines(lines, fmt)
    report = parsed.report
    assert report.parsed + report.malformed + report.blank == len(lines)
    assert len(parsed.events) == report.parsed == len(parsed.line_numbers)


def test_bad_format_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="Unknown log format"):
        parse_lines(["x"], "syslog")
    with pytest.raises(UsageError, match="named groups"):
        parse_lines(["x"], pattern=r"\w+")
    with pytest.raises(UsageError, match="not a valid regex"):
        parse_lines(["x"], pattern=r"(?P<a>")
    with pytest.raises(UsageError, match="needs --log-pattern"):
        parse_lines(["x"], "regex")


@pytest.mark.skipif(not DATA.exists(), reason="shared Loghub data (../shared/data/logs) absent")
@pytest.mark.parametrize(("name", "fmt"), [("HDFS_2k.log", "hdfs"), ("BGL_2k.log", "bgl")])
def test_loghub_samples_parse_completely(name: str, fmt: str) -> None:
    lines = (DATA / name).read_text().splitlines()
    parsed = parse_lines(lines)
    assert parsed.report.format == fmt
    assert parsed.report.parsed == 2000 and parsed.report.malformed == 0
