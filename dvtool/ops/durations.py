"""Durations and times as ops read and print them: ``7d``, ``12h``, ISO 8601 UTC."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

from dvtool.errors import UsageError

__all__ = [
    "DEFAULT_GRACE",
    "MAX_DURATION",
    "format_duration",
    "iso_time",
    "parse_duration",
    "parse_time",
]

DEFAULT_GRACE = timedelta(days=7)
MAX_DURATION = timedelta(days=36500)  # a century: anything longer is a typo, not a retention rule
_DURATION_RE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` or a sum like ``1d12h`` → timedelta."""
    cleaned = text.strip().lower()
    parts = _DURATION_RE.findall(cleaned)
    if not cleaned or not parts or _DURATION_RE.sub("", cleaned).strip():
        raise UsageError(
            f"invalid duration {text!r}: use a number and a unit, like 7d, 12h, 30m or 45s"
        )
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds > MAX_DURATION.total_seconds():
        raise UsageError(f"duration {text!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", _UNITS["d"]), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime | None:
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
