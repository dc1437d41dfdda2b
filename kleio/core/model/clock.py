"""Time as Kleio stores it (seconds since the epoch, UTC) and as it prints it."""

from __future__ import annotations

import datetime
import time

now = time.time


UTC = datetime.timezone.utc


def iso(
    seconds: float | None, *, precise: bool = False, zone: datetime.tzinfo | None = None
) -> str:
    """``2026-11-26 04:02:09`` in ``zone`` (UTC by default), or ``-`` for no time."""
    if seconds is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(seconds, zone or UTC)
    text = moment.isoformat(sep=" ", timespec="microseconds" if precise else "seconds")
    return text[:-6]  # without the offset: a table says its zone in the header


def iso_z(seconds: float | None) -> str | None:
    """``2026-11-26T04:02:09.123456Z``: ISO 8601 in UTC, as JSON and CSV have every time."""
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def zone_named(name: str) -> datetime.tzinfo:
    """``UTC``, ``local`` (this machine's zone) or an IANA name (``Europe/Paris``);
    ValueError for another name."""
    if name.upper() in ("UTC", "Z"):
        return UTC
    if name.lower() == "local":
        return local_zone()
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def local_zone() -> datetime.tzinfo:
    zone = datetime.datetime.now().astimezone().tzinfo
    return zone or UTC


def zone_label(zone: datetime.tzinfo) -> str:
    """``UTC``, ``CET``, ``UTC+05:30``: how a table header names the zone."""
    if zone is UTC:
        return "UTC"
    name = getattr(zone, "key", None) or datetime.datetime.now(zone).tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = datetime.datetime.now(zone).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


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
