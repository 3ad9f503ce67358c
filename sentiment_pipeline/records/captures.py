"""What the served model answered, as the service captures it (docs/monitoring.md): the capture's layout and lines.

The service (``inference/capture.py``) writes; ``sentiment-pipeline monitor`` reads. Both take the layout and the line
from here. A capture root (``SENTIMENT_CAPTURE_URI``: a folder, ``file://`` or ``s3://`` prefix) holds gzip-compressed
JSON-lines segments, partitioned by model and hour so a reader lists only the hours it asks for:

    <root>/<model version>/<YYYY-MM-DD>/<HH>/<YYYYmmddTHHMMSSZ>-<worker>-<seq>.jsonl.gz

A segment is written whole (a store write of its finished bytes), so a reader never sees half a segment; one that
is not valid gzip or JSON is skipped and counted by the reader, never fatal. Standard library only: the bento
carries this module and nothing of training.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .store import Store, StoreError

SEGMENT_SUFFIX = ".jsonl.gz"
TEXT_MODES = ("full", "hash")  # SENTIMENT_CAPTURE_TEXT: the text itself, or its sha256, length and token statistics
ROUTES = ("predict", "predict_batch")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def model_version(model_tag: str) -> str:
    """The folder of a model's captures: its BentoML tag's version (``tweet_sentiment:<version>`` -> version)."""
    version = model_tag.rsplit(":", 1)[-1]
    if not _VERSION.match(version):
        raise ValueError(f"model tag {model_tag!r} has no usable version")
    return version


def hour_prefix(version: str, hour: datetime) -> str:
    """The folder of one model's captures of one UTC hour."""
    hour = hour.astimezone(UTC)
    return f"{version}/{hour:%Y-%m-%d}/{hour:%H}/"


def segment_key(version: str, started: datetime, worker: str, seq: int) -> str:
    """A segment's key under the capture root: in the hour it was started, named so keys sort by time."""
    started = started.astimezone(UTC)
    return f"{hour_prefix(version, started)}{started:%Y%m%dT%H%M%SZ}-{worker}-{seq:06d}{SEGMENT_SUFFIX}"


def capture_line(
    *,
    request_id: str,
    time: str,
    model: str,
    route: str,
    text: str | None,
    text_facts: Mapping[str, Any] | None,
    label: str,
    scores: Mapping[str, float],
) -> dict[str, Any]:
    """One captured answer. ``text``: the text as sent (``SENTIMENT_CAPTURE_TEXT=full``), else None and ``text_facts``
    (``hash``: ``sha256``, ``length``, ``tokens``, ``unknown_tokens``) stand in for it."""
    line: dict[str, Any] = {"request_id": request_id, "time": time, "model": model, "route": route}
    if text is not None:
        line["text"] = text
    else:
        line["text_sha256"] = (text_facts or {}).get("sha256")
        line["text_length"] = (text_facts or {}).get("length")
        line["tokens"] = (text_facts or {}).get("tokens")
        line["unknown_tokens"] = (text_facts or {}).get("unknown_tokens")
    line["label"] = label
    line["scores"] = {name: round(float(value), 6) for name, value in scores.items()}
    return line


def encode_segment(lines: list[Mapping[str, Any]]) -> bytes:
    """A segment's bytes: one JSON object per line, gzip-compressed (fixed mtime: the same lines, the same bytes)."""
    body = "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
    return gzip.compress(body.encode("utf-8"), mtime=0)


@dataclass
class CaptureRead:
    """The lines of the segments read, and what could not be read."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    segments: int = 0
    unreadable_segments: list[str] = field(default_factory=list)


def read_captures(store: Store, version: str, since: datetime, until: datetime) -> CaptureRead:
    """The captured lines of model ``version`` answered in [since, until), in the order they were answered (each
    worker writes its own segments; the same captures give the same order, so the same report). Lists only the
    hours in that window; a segment that is not gzip JSON lines is skipped and named in ``unreadable_segments``."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    out, found = CaptureRead(), []
    for key in _segment_keys(store, version, since, until):
        try:
            raw = gzip.decompress(store.read_bytes(key)).decode("utf-8")
            lines = [json.loads(text) for text in raw.splitlines() if text.strip()]
        except (OSError, EOFError, ValueError, StoreError):
            out.unreadable_segments.append(key)
            continue
        out.segments += 1
        for line in lines:
            when = _parse_time(line.get("time")) if isinstance(line, dict) else None
            if when is not None and since <= when < until:
                found.append((when, line))
    found.sort(key=lambda pair: pair[0])  # stable: a batch's lines (one time, one request id) keep their order
    out.lines = [line for _, line in found]
    return out


def _segment_keys(store: Store, version: str, since: datetime, until: datetime) -> Iterator[str]:
    hour = since.replace(minute=0, second=0, microsecond=0)
    while hour < until:
        yield from sorted(k for k in store.list(hour_prefix(version, hour)) if k.endswith(SEGMENT_SUFFIX))
        hour += timedelta(hours=1)


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
