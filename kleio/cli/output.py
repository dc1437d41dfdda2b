"""One way to print: rows as a table, CSV or JSON, records as JSON, and Kleio's messages.

Every listing command takes :func:`output_options` and prints with :func:`output_rows`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

FORMATS = ("table", "csv", "json")


def output_options(parser: argparse.ArgumentParser, json_alias: bool = False) -> None:
    """``--format table|csv|json``; ``--json`` too where a command had it before."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="print a table (default), CSV, or a JSON list of objects",
    )
    if json_alias:
        parser.add_argument(
            "--json", dest="format", action="store_const", const="json", help="--format json"
        )


def cell(value: Any) -> str:
    """A value as text in a table or CSV: text as is, nothing for None, JSON otherwise."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Column:
    """A column of a listing: ``key`` in each row, ``header`` above it in a table, and
    how a table shows its values (CSV has the raw value, JSON the row)."""

    key: str
    header: str
    text: Callable[[Any], str] = cell


def output_rows(
    stream: IO[str],
    format: str,
    columns: Sequence[Column],
    rows: Iterable[dict[str, Any]],
) -> None:
    """Print ``rows`` (dicts) in ``format``; JSON and CSV stream, a table is aligned."""
    if format == "json":
        encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), default=str).encode
        empty = True
        for row in rows:
            stream.write(("[\n  " if empty else ",\n  ") + encode(row))
            empty = False
        stream.write("[]\n" if empty else "\n]\n")
    elif format == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow([column.key for column in columns])
        writer.writerows([cell(row.get(column.key)) for column in columns] for row in rows)
    else:
        table(
            stream,
            [column.header for column in columns],
            [[column.text(row.get(column.key)) for column in columns] for row in rows],
        )


def table(stream: IO[str], headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))
    lines = []
    for row in [list(headers), *cells]:
        padded = [value.ljust(widths[index]) for index, value in enumerate(row[:-1])]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    stream.write("\n".join(lines) + "\n")


def print_json(value: Any, stream: IO[str]) -> None:
    """One record (not rows) as indented JSON."""
    json.dump(value, stream, indent=2, ensure_ascii=False, default=str)
    stream.write("\n")


class Sections:
    """Text in titled sections, the way ``kleio info`` and ``kleio diff`` print."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def title(self, text: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines.extend([text, "-" * len(text)])

    def item(self, label: str, value: Any, indent: int = 0) -> None:
        self.lines.append(f"{' ' * indent}{label + ':':<14}{value}")

    def text(self, value: str) -> None:
        self.lines.append(value)
