"""One way to print: rows as a table, CSV or JSON, records as JSON, text as sections and lines.

Every listing command takes :func:`output_options` and prints with :func:`output_rows`.
The conventions, the same for every command:

- JSON and CSV have every value in full: times in ISO 8601 UTC with ``Z``, numbers with
  all their digits, sizes in bytes.
- A table is for reading: times in UTC (or the zone of ``--local-time`` and
  ``KLEIO_TIMEZONE``) named in the header, numbers to 4 significant digits, sizes in
  human units; on a terminal it fits its width (the widest of the columns that may be
  cut, such as the command or the tags, ends with ``…``) and statuses are coloured
  unless ``NO_COLOR`` is set or ``--no-color`` given. Piped, lines are never cut. A
  table of values (``kleio compare``) cuts none: it leaves whole columns out, and says
  which.
- JSON is strict JSON (:mod:`kleio.core.reading.strict_json`): the floats it cannot hold are
  written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import math
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

from kleio.core.reading.strict_json import ROW_SEPARATOR, json_text, row_encoder, rows_encoder
from kleio.value import Value

FORMATS = ("table", "csv", "json")

#: ANSI colours of statuses on a terminal.
_STATUS_COLOURS = {
    "completed": "32",  # green
    "broken": "31",  # red
    "running": "36",  # cyan
    "reserved": "36",
    "interrupted": "33",  # yellow
    "lost": "35",  # magenta
}
ELLIPSIS = "…"


def display_options(parser: argparse.ArgumentParser) -> None:
    """``--local-time`` and ``--no-color``: how a command shows times and statuses."""
    parser.add_argument(
        "--local-time",
        action="store_true",
        help="show times in this machine's time zone (default UTC, or KLEIO_TIMEZONE)",
    )
    no_color(parser)


def no_color(parser: argparse.ArgumentParser) -> None:
    """``--no-color``: no colours, as ``NO_COLOR`` says (``kleio plot`` shows no time)."""
    parser.add_argument(
        "--no-color", action="store_true", help="no colours, even on a terminal (or NO_COLOR)"
    )


def output_options(parser: argparse.ArgumentParser) -> None:
    """``--format table|csv|json``, ``--json`` for ``--format json`` (as every reader
    takes it), and :func:`display_options`."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="print a table (default), CSV, or a JSON list of objects",
    )
    parser.add_argument(
        "--json", dest="format", action="store_const", const="json", help="--format json"
    )
    display_options(parser)


def record_options(parser: argparse.ArgumentParser, json_help: str) -> None:
    """``--json`` for a command that prints one record in :class:`Sections` (``info``,
    ``diff``), ``json_help`` saying what the JSON holds: :func:`print_json` prints it."""
    parser.add_argument("--json", action="store_true", help=json_help)


class Display(Value):
    """How values are shown to a person: the time zone, colours, the terminal's width
    (None when the output is not a terminal: nothing is cut)."""

    FIELDS = ("zone", "color", "width")

    def __init__(
        self,
        zone: datetime.tzinfo = datetime.timezone.utc,
        color: bool = False,
        width: int | None = None,
    ):
        self.zone, self.color, self.width = zone, color, width

    def time(self, seconds: float | None, precise: bool = False) -> str:
        from kleio.core.model import clock

        return clock.iso(seconds, precise=precise, zone=self.zone)

    def times(self, precise: bool = False) -> Callable[[float | None], str]:
        """:meth:`time` of many times, each second formatted once: the trials of a sweep
        are made seconds apart, many in the same second."""
        if precise:
            return lambda seconds: self.time(seconds, True)
        texts: dict[int, str] = {}
        floor = math.floor
        # In a zone of a fixed offset (UTC, the default), a second's text is its day's and
        # its time of day counted: 100,000 trials made minutes apart took 0.35 s to format
        # one by one, 0.1 s so.
        offset = self.zone.utcoffset(None) if isinstance(self.zone, datetime.timezone) else None
        shift = int(offset.total_seconds()) if offset is not None else 0
        whole = offset is not None and offset.total_seconds() == shift and shift % 60 == 0
        days: dict[int, str] | None = {} if whole else None

        def time(seconds: float | None) -> str:
            if seconds is None:
                return "-"
            second = floor(seconds)
            # A time within a microsecond of the next second may round up to it.
            if seconds - second >= 0.999999:
                return self.time(seconds)
            text = texts.get(second)
            if text is None:
                if days is None:
                    text = texts[second] = self.time(second)
                    return text
                day, within = divmod(second + shift, 86400)
                start = days.get(day)
                if start is None:  # "YYYY-MM-DD ", from the day's midnight
                    start = days[day] = self.time(second - within)[:-8]
                hours, rest = divmod(within, 3600)
                text = texts[second] = f"{start}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
            return text

        return time

    def zoned(self, seconds: float | None) -> str:
        """A time with its zone, where no header names it: ``2026-11-26 04:02:09 UTC``."""
        from kleio.core.model import clock

        return "-" if seconds is None else f"{self.time(seconds)} {clock.zone_label(self.zone)}"

    @property
    def zone_label(self) -> str:
        from kleio.core.model import clock

        return clock.zone_label(self.zone)

    def status(self, text: str) -> str:
        """A status (possibly padded), coloured on a terminal."""
        colour = _STATUS_COLOURS.get(text.strip())
        return f"\033[{colour}m{text}\033[0m" if self.color and colour else text


def display_of(
    args: argparse.Namespace, stream: IO[str], *, columns_when_piped: bool = False
) -> Display:
    """The :class:`Display` of a command's options and environment, for ``stream``.

    ``columns_when_piped``: ``COLUMNS``, when set, is the width even when ``stream`` is
    not a terminal, as ``kleio compare`` has always fitted its table
    (``COLUMNS=100 kleio compare | less`` leaves out what a terminal 100 wide would).
    """
    from kleio.core.model import clock
    from kleio.core.model.errors import SettingsError

    terminal = _is_terminal(stream)
    if getattr(args, "local_time", False):
        zone = clock.local_zone()
    else:
        try:
            zone = clock.zone_named(os.environ.get("KLEIO_TIMEZONE") or "UTC")
        except ValueError as error:
            raise SettingsError(f"KLEIO_TIMEZONE: {error}") from None
    color = terminal and not getattr(args, "no_color", False) and not os.environ.get("NO_COLOR")
    sized = terminal or (columns_when_piped and bool(os.environ.get("COLUMNS")))
    width = shutil.get_terminal_size().columns if sized else None
    return Display(zone, color, width)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def cell(value: Any) -> str:
    """A value as text in CSV, in full: text as is, nothing for None, JSON otherwise."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value
    return json_text(value)


def number(value: float) -> str:
    """A float for reading: 4 significant digits, all the digits of its integer part
    (``0.01096``, ``1.235``, ``12346``)."""
    if not math.isfinite(value) or value == 0:
        return str(value) if not math.isfinite(value) else "0"
    magnitude = abs(value)
    if magnitude >= 1e15 or magnitude < 1e-4:
        return f"{value:.4g}"
    digits = max(0, 3 - math.floor(math.log10(magnitude)))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def readable(value: Any) -> str:
    """A value as text in a table: like :func:`cell`, numbers rounded for reading."""
    if type(value) is str:  # most cells: first
        return value
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (list, dict)):
        return json_text(_rounded(value))
    return cell(value)


def _rounded(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(number(value))
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


class Column(Value):
    """A column of a listing: ``key`` in each row, ``header`` above it in a table, and
    how a table shows its values (CSV and JSON have the raw value).

    ``time``: the value is seconds since the epoch (ISO 8601 ``Z`` in JSON and CSV, the
    display's zone in a table, named in the header); ``status``: coloured on a terminal;
    ``fit``: cut with ``…`` when the table is wider than the terminal.
    """

    FIELDS = ("key", "header", "text", "time", "status", "fit")

    def __init__(
        self,
        key: str,
        header: str,
        text: Callable[[Any], str] = readable,
        time: bool = False,
        status: bool = False,
        fit: bool = False,
        precise: bool = False,
    ):
        self.key, self.header, self.text = key, header, text
        self.time, self.status, self.fit = time, status, fit
        #: Table text of a time column: to the second (True: to the microsecond).
        self.precise = precise


#: What a terminal would act on rather than show: control characters (but tab and
#: newline), DEL, the C1 controls, and the marks that reorder text (bidirectional
#: overrides, "Trojan source"): a command line, a tag or a note may hold any of them.
_CONTROLS = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (
        *(c for c in range(0x20) if c not in (0x09, 0x0A)),
        *range(0x7F, 0xA0),
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
}


#: Kleio's own colours (a status), kept as they are in a line made visible.
_OWN_COLOURS = re.compile("(\x1b\\[(?:" + "|".join(sorted(set(_STATUS_COLOURS.values()))) + "|0)m)")


def visible(text: str) -> str:
    """``text`` with what a terminal would act on written as escapes (``\\x1b``), as
    git shows such file names: a trial's values cannot move the cursor, retitle the
    window or hide text on the terminal of whoever lists them."""
    return text.translate(_CONTROLS)


def _visible_line(line: str) -> str:
    """:func:`visible` of a line Kleio wrote, its own status colours kept."""
    if "\x1b" not in line:
        return visible(line)
    return "".join(
        piece if index % 2 else visible(piece)
        for index, piece in enumerate(_OWN_COLOURS.split(line))
    )


def output_rows(
    stream: IO[str],
    format: str,
    columns: Sequence[Column],
    rows: Iterable[dict[str, Any]],
    display: Display | None = None,
    *,
    leave_out: Sequence[str] = (),
) -> list[str]:
    """Print ``rows`` (dicts) in ``format``; JSON and CSV stream, a table is aligned.

    ``leave_out``: the keys of the columns a table may leave out, first first, while it
    is wider than the display (before it cuts any); the keys left out are returned, for
    the command to say so.
    """
    times = [column.key for column in columns if column.time]
    if format == "json":
        encode = row_encoder()
        _write_json(stream, (encode(_with_iso_times(row, times) if times else row) for row in rows))
    elif format == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow([column.key for column in columns])
        writer.writerows(
            [cell(_with_iso_times(row, times).get(column.key)) for column in columns]
            for row in rows
        )
    else:
        display = display or Display()
        headers = [
            f"{column.header} ({display.zone_label})" if column.time else column.header
            for column in columns
        ]
        rows = rows if isinstance(rows, Sequence) else list(rows)
        texts = [
            list(
                map(
                    str,
                    map(
                        display.times(column.precise) if column.time else column.text,
                        [row.get(column.key) for row in rows],
                    ),
                )
            )
            for column in columns
        ]
        if display.width is not None:  # a terminal: shown, never acted on
            texts = [[visible(text) for text in column] for column in texts]
        left_out = _table(
            stream,
            headers,
            texts,
            width=display.width,
            fit=[column.fit for column in columns],
            paint=[
                display.status if column.status and display.color else None for column in columns
            ],
            leave_out=[
                index for key in leave_out for index, c in enumerate(columns) if c.key == key
            ],
        )
        return [columns[index].key for index in left_out]
    return []


def output_json_pages(stream: IO[str], pages: Iterable[list[dict[str, Any]]]) -> None:
    """Print rows read from JSON (see :func:`~kleio.core.reading.strict_json.rows_encoder`),
    given page by page, as :func:`output_rows` prints them in JSON, byte for byte."""
    encode = rows_encoder()
    _write_json(stream, (encode(page) for page in pages if page))


def _write_json(stream: IO[str], texts: Iterable[str]) -> None:
    """A JSON list of the rows whose ``texts`` (each of one row or more, joined by
    :data:`~kleio.core.reading.strict_json.ROW_SEPARATOR`) are given, one row a line."""
    empty = True
    for text in texts:
        stream.write(("[\n  " if empty else ROW_SEPARATOR) + text)
        empty = False
    stream.write("[]\n" if empty else "\n]\n")


def _with_iso_times(row: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    from kleio.core.model import clock

    converted = dict(row)
    for key in keys:
        if isinstance(converted.get(key), (int, float)):
            converted[key] = clock.iso_z(converted[key])
    return converted


def table(
    stream: IO[str],
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    width: int | None = None,
    fit: Sequence[bool] | None = None,
    paint: Sequence[Callable[[str], str] | None] | None = None,
) -> None:
    """Left-aligned columns separated by two spaces; the last column is not padded.

    With ``width``, the columns marked in ``fit`` are cut, the widest first, until the
    lines fit in it (none narrower than its header); ``paint`` styles a column's padded
    cells (colours do not count in the width).
    """
    columns = [list(map(str, column)) for column in zip(*rows, strict=True)]
    _table(stream, headers, columns or [[] for _ in headers], width=width, fit=fit, paint=paint)


def _table(
    stream: IO[str],
    headers: Sequence[str],
    cells: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    fit: Sequence[bool] | None = None,
    paint: Sequence[Callable[[str], str] | None] | None = None,
    leave_out: Sequence[int] = (),
) -> list[int]:
    """:func:`table` of its columns of text (``cells``), built column by column: 10,000
    rows of 6 columns in 15 ms instead of 60. With ``width``, the columns of
    ``leave_out`` (indices, first first) are left out while the lines are wider; returns
    those left out."""
    widths = [
        max(len(header), max(map(len, column), default=0))
        for header, column in zip(headers, cells, strict=True)
    ]
    fit = fit or [False] * len(headers)
    paint = paint or [None] * len(headers)
    left_out = _left_out(widths, leave_out, width) if width is not None else []
    if left_out:
        kept = [index for index in range(len(headers)) if index not in left_out]
        headers, cells, widths, fit, paint = (
            [values[index] for index in kept] for values in (headers, cells, widths, fit, paint)
        )
    if width is not None and any(fit):
        widths = _fitted(widths, headers, fit, width)
    shown = []
    last = len(headers) - 1
    for index, (header, column) in enumerate(zip(headers, cells, strict=True)):
        size, painter = widths[index], paint[index]
        if width:
            header, column = _cut(header, size), [_cut(value, size) for value in column]
        if index < last or painter:  # the last column is not padded: lines are stripped
            column = [value.ljust(size) for value in column]
        if painter:
            column = list(map(painter, column))
        shown.append([header.ljust(size), *column])
    stream.write("\n".join(["  ".join(line).rstrip() for line in zip(*shown, strict=True)]) + "\n")
    return left_out


def _left_out(widths: Sequence[int], leave_out: Sequence[int], width: int) -> list[int]:
    """The columns of ``leave_out`` left out, in its order, until the line of the others
    fits in ``width`` (or none is left to leave out)."""
    left_out: list[int] = []
    total = sum(widths) + 2 * (len(widths) - 1)
    for index in leave_out:
        if total <= width:
            break
        if index not in left_out:
            left_out.append(index)
            total -= widths[index] + 2
    return left_out


def _fitted(
    widths: list[int], headers: Sequence[str], fit: Sequence[bool], width: int
) -> list[int]:
    """Column widths whose line fits in ``width``: the widest cuttable column is cut
    first, down to the next widest, never below its header."""
    widths = list(widths)
    total = sum(widths) + 2 * (len(widths) - 1)
    while total > width:
        cuttable = [
            index for index, can in enumerate(fit) if can and widths[index] > len(headers[index])
        ]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda index: widths[index])
        others = sorted((widths[i] for i in cuttable if i != widest), reverse=True)
        needed = widths[widest] - (total - width)
        floor = max(len(headers[widest]), others[0] if others else 0, needed)
        floor = min(floor, widths[widest] - 1)
        total -= widths[widest] - floor
        widths[widest] = floor
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + ELLIPSIS


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def print_json(value: Any, stream: IO[str]) -> None:
    """One record (not rows) as indented JSON."""
    stream.write(json_text(value, indent=2, default=str) + "\n")


def print_lines(stream: IO[str], lines: Iterable[str]) -> None:
    """Lines of text that are not rows (``kleio tag``'s, ``kleio note``'s, and
    :class:`Sections`), each written as it comes: what a command did before it failed
    is shown."""
    terminal = _is_terminal(stream)
    for line in lines:
        stream.write((_visible_line(line) if terminal else line) + "\n")


class Sections:
    """Text in titled sections, the way ``kleio info`` and ``kleio diff`` print, with
    times shown by ``display``; :meth:`write` prints it."""

    def __init__(self, display: Display | None = None) -> None:
        self.lines: list[str] = []
        self.display = display or Display()

    def write(self, stream: IO[str]) -> None:
        print_lines(stream, self.lines)

    def title(self, text: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines.extend([text, "-" * len(text)])

    def item(self, label: str, value: Any, indent: int = 0) -> None:
        """``label:`` then ``value`` in a column, a space after a label too long for it
        (``use-optimizer: false``, never ``use-optimizer:false``)."""
        self.lines.append(f"{' ' * indent}{label + ':':<13} {value}")

    def text(self, value: str) -> None:
        """A line (or lines joined by newlines), as it is."""
        self.lines.append(value)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table among the lines, as :func:`table` prints it."""
        buffer = io.StringIO()
        table(buffer, headers, rows)
        self.text(buffer.getvalue().rstrip("\n"))
