"""The capture's layout and lines (sentiment_pipeline/records/captures.py), written and read through a local store."""

from datetime import UTC, datetime, timedelta

import pytest

from sentiment_pipeline.records import captures
from sentiment_pipeline.records.store import LocalStore

T0 = datetime(2026, 12, 4, 10, 59, 30, tzinfo=UTC)


def _line(text: str, when: datetime, **extra) -> dict:
    return captures.capture_line(
        request_id=f"r-{text}",
        time=when.isoformat(timespec="milliseconds"),
        model="tweet_sentiment:v1",
        route="predict",
        text=text,
        text_facts=None,
        label="neutral",
        scores={"negative": 0.1, "neutral": 0.7, "positive": 0.2},
        **extra,
    )


def test_segments_are_partitioned_by_model_and_hour_and_sort_by_time():
    key = captures.segment_key("v1", T0, "w1", 7)
    assert key == "v1/2026-12-04/10/20261204T105930Z-w1-000007.jsonl.gz"
    assert captures.model_version("tweet_sentiment:20261204T1-abc") == "20261204T1-abc"
    with pytest.raises(ValueError):
        captures.model_version("tweet_sentiment:../x")


def test_a_hashed_line_carries_facts_and_no_text():
    line = captures.capture_line(
        request_id="r",
        time=T0.isoformat(),
        model="m:v1",
        route="predict_batch",
        text=None,
        text_facts={"sha256": "ab", "length": 12, "tokens": 3, "unknown_tokens": 1},
        label="positive",
        scores={"positive": 0.9123456789},
    )
    assert "text" not in line and line["text_sha256"] == "ab" and line["unknown_tokens"] == 1
    assert line["scores"] == {"positive": 0.912346}


def test_reading_a_window_lists_only_its_hours_and_skips_what_is_not_a_segment(tmp_path):
    store = LocalStore(tmp_path)
    early, late = _line("early", T0), _line("late", T0 + timedelta(minutes=1))  # 10:59:30 and 11:00:30
    store.write_bytes(captures.segment_key("v1", T0, "w1", 1), captures.encode_segment([early]))
    store.write_bytes(captures.segment_key("v1", T0 + timedelta(minutes=1), "w1", 2), captures.encode_segment([late]))
    store.write_bytes(captures.segment_key("v1", T0, "w2", 1), b"not gzip")
    store.write_bytes(captures.segment_key("v2", T0, "w1", 1), captures.encode_segment([_line("other model", T0)]))

    read = captures.read_captures(store, "v1", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [line["text"] for line in read.lines] == ["early", "late"] and read.segments == 2
    assert read.unreadable_segments == [captures.segment_key("v1", T0, "w2", 1)]

    only_late = captures.read_captures(store, "v1", T0 + timedelta(seconds=31), T0 + timedelta(hours=1))
    assert [line["text"] for line in only_late.lines] == ["late"]
    assert captures.encode_segment([early]) == captures.encode_segment([early])  # same lines, same bytes


def test_lines_come_back_in_the_order_they_were_answered_whichever_worker_wrote_them(tmp_path):
    store = LocalStore(tmp_path)
    at = [T0 + timedelta(seconds=s) for s in range(5)]
    # worker "a" answered the 2nd and 5th request; worker "b" the others, one of them a batch of two (one time)
    by_a = [_line("2", at[1]), _line("5", at[4])]
    store.write_bytes(captures.segment_key("v1", at[0], "a", 0), captures.encode_segment(by_a))
    batch = [_line("3", at[2]), _line("4", at[2])]
    store.write_bytes(captures.segment_key("v1", at[0], "b", 0), captures.encode_segment([_line("1", at[0]), *batch]))
    read = captures.read_captures(store, "v1", T0, T0 + timedelta(minutes=1))
    assert [line["text"] for line in read.lines] == ["1", "2", "3", "4", "5"]
