"""Values as people read them: sizes, configuration values and metadata.

Every face of Kleio (the commands, the dashboard) shows a value the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def size(count: int | None) -> str:
    """``71 B``, ``1.5 KB``, ``2.0 GB``; ``-`` for an unknown size."""
    if count is None:
        return "-"
    amount = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TB"  # pragma: no cover - the loop returns at GB


def value(item: Any) -> str:
    """Text as it is; anything else as JSON (``0.1``, ``true``, ``[64, 64]``)."""
    return item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)


def count(number: int, noun: str) -> str:
    """``1 trial``, ``3 trials``, ``1,000 events``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def attributes(metadata: Mapping[str, Any]) -> str:
    """``epoch=10 name="best"``: metadata as ``KEY=JSON`` pairs."""
    return " ".join(
        f"{key}={json.dumps(item, ensure_ascii=False)}" for key, item in metadata.items()
    )
