"""Printing helpers shared by the commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], stream=None) -> None:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    stream = stream or sys.stdout
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in [list(headers), *cells]:
        padded = [cell.ljust(widths[index]) for index, cell in enumerate(row[:-1])]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    stream.write("\n".join(lines) + "\n")


def print_json(value: Any, stream=None) -> None:
    stream = stream or sys.stdout
    json.dump(value, stream, indent=2, ensure_ascii=False, default=str)
    stream.write("\n")
