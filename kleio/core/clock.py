"""Time as Kleio stores it (seconds since the epoch, UTC) and as it prints it."""

from __future__ import annotations

import datetime
import time

now = time.time


def iso(seconds: float | None, *, precise: bool = False) -> str:
    """``2026-11-26 04:02:09`` (UTC), or ``-`` for no time."""
    if seconds is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.isoformat(sep=" ", timespec="microseconds" if precise else "seconds")[:-6]


def parse_iso(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time; UTC unless it names a zone."""
    moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def duration(seconds: float | None) -> str:
    """``1h02m03s``, ``2m05s`` or ``4.2s``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"
