"""Curves drawn in a terminal with braille characters, so ``kleio plot`` works over SSH
on a cluster node where nothing but Kleio is installed.

Each character holds 2 x 4 dots: a plot 60 characters wide has 120 dots across. Curves
are lines between their points (cut to two points per dot column beforehand, the
lowest and highest, so spikes stay visible); a character takes the colour of the last
curve that drew in it. Each curve has a line style too, drawn as a pattern of dots
(solid, dashed, dotted...): without colour, the pattern is what tells curves apart, and
the legend shows each pattern beside its curve. Branch points are dotted vertical lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kleio.cli.output import number
from kleio.core.reading.series import PALETTE

#: ANSI colours of curves: of xterm's 256, the nearest (in CIELAB) to each colour of
#: the palette kleio plot -o and the dashboard draw with (20 distinct ones; a terminal's
#: 16 colours would hold 10 at most).
COLOURS = (
    "38;5;32", "38;5;208", "38;5;28", "38;5;124", "38;5;97",
    "38;5;95", "38;5;212", "38;5;244", "38;5;142", "38;5;37",
    "38;5;94", "38;5;65", "38;5;36", "38;5;174", "38;5;162",
    "38;5;61", "38;5;103", "38;5;96", "38;5;130", "38;5;167",
)  # fmt: skip
MARKER_COLOUR = "90"
#: Dots drawn and left out in turn along a curve, by line style: 2 dots are a character's
#: width, so "dashed" is a character drawn, one not.
PATTERNS = {
    "solid": (1, 0),
    "dashed": (2, 2),
    "dotted": (1, 1),
    "dash-dot": (4, 2, 1, 1),
    "sparse": (1, 3),
    "long-dash": (6, 2),
}
#: Characters of a legend's sample of a line style (8 dots: every pattern shows whole).
SAMPLE = 4
#: Dot bits of a braille character by (row, column) of its 4 x 2 dots.
_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BLANK = 0x2800


@dataclass
class Line:
    """A curve to draw and how the legend names it; its colour (an ANSI colour, None:
    by its place, see :data:`COLOURS`) and line style (one of :data:`PATTERNS`)."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    colour: str | None = None
    style: str = "solid"


@dataclass
class Entry:
    """A line of a legend: a sample of a line style (None: a branch point's mark) in a
    colour (None: the terminal's own), and what it names."""

    label: str
    colour: str | None
    style: str | None


def ansi_colour(colour: str) -> str:
    """The ANSI colour of a palette colour (``#rrggbb``, see :data:`COLOURS`)."""
    return COLOURS[PALETTE.index(colour)]


def sample(style: str) -> str:
    """A few characters of a horizontal line in ``style``: ``⠤⠤⠤⠤``, ``⠤ ⠤ ``, ``⠄⠄⠄⠄``."""
    drawn = _drawn(style)
    return "".join(
        chr(
            _BLANK
            + (_BITS[2][0] if drawn[2 * i % len(drawn)] else 0)
            + (_BITS[2][1] if drawn[(2 * i + 1) % len(drawn)] else 0)
        ).replace(chr(_BLANK), " ")
        for i in range(SAMPLE)
    )


def _drawn(style: str) -> list[bool]:
    """One period of a style's pattern, dot by dot: drawn or not."""
    drawn: list[bool] = []
    pattern = PATTERNS[style]
    for index, length in enumerate(pattern):
        drawn.extend([index % 2 == 0] * length)
    return drawn


@dataclass
class Marker:
    """A dotted vertical line at ``x`` (a branch point), named in the legend."""

    label: str
    x: float


class Canvas:
    """``width`` x ``height`` characters of braille dots; dot (0, 0) is the top left."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.cells = [[0] * width for _ in range(height)]
        self.colours: list[list[str | None]] = [[None] * width for _ in range(height)]

    def dot(self, x: int, y: int, colour: str | None) -> None:
        if 0 <= x < 2 * self.width and 0 <= y < 4 * self.height:
            row, column = y // 4, x // 2
            self.cells[row][column] |= _BITS[y % 4][x % 2]
            self.colours[row][column] = colour

    def path(self, points: Sequence[tuple[int, int]], colour: str | None, style: str) -> None:
        """Lines between the points, in turn, with the dots of ``style``'s pattern: the
        pattern runs on along the whole path, not from each point again."""
        drawn = _drawn(style)
        if len(points) == 1:
            self.dot(*points[0], colour)
        count = 0
        for start, end in zip(points, points[1:], strict=False):
            for index, (x, y) in enumerate(_line(*start, *end)):
                if index == 0 and count:  # the end of the line before
                    continue
                if drawn[count % len(drawn)]:
                    self.dot(x, y, colour)
                count += 1

    def rows(self, color: bool) -> list[str]:
        lines = []
        for cells, colours in zip(self.cells, self.colours, strict=True):
            text = []
            for bits, colour in zip(cells, colours, strict=True):
                char = chr(_BLANK + bits) if bits else " "
                text.append(f"\033[{colour}m{char}\033[0m" if color and bits and colour else char)
            lines.append("".join(text))
        return lines


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """The dots of Bresenham's line from (x0, y0) to (x1, y1), both ends included."""
    dots = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    step_x, step_y = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    error = dx + dy
    while True:
        dots.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return dots
        twice = 2 * error
        if twice >= dy:
            error += dy
            x0 += step_x
        if twice <= dx:
            error += dx
            y0 += step_y


def _bounds(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low == high:  # a flat curve: a range around it
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    return low, high


def draw(
    lines: Sequence[Line],
    markers: Sequence[Marker],
    width: int,
    height: int,
    *,
    x_label: str = "",
    log: bool = False,
    color: bool = False,
    legend: Sequence[Entry] | None = None,
) -> str:
    """The plot as text: ``height`` rows of curves between y labels and an x axis, then
    the legend (``legend``, else a line per curve and marker; see :func:`legend_lines`),
    every line at most ``width`` characters wide (``width`` >= 30)."""
    from kleio.core.reading.series import downsample

    shown: list[tuple[Line, list[float], list[float]]] = []
    for line in lines:
        pairs = [(x, y) for x, y in zip(line.xs, line.ys, strict=True) if not log or y > 0]
        xs = [x for x, _ in pairs]
        ys = [math.log10(y) if log else y for _, y in pairs]
        shown.append((line, xs, ys))
    every_x = [x for _, xs, _ in shown for x in xs] + [m.x for m in markers]
    every_y = [y for _, _, ys in shown for y in ys]
    if not every_y:
        return "(no point to draw" + (": no value above 0 on a log scale)\n" if log else ")\n")
    x_low, x_high = _bounds(every_x)
    y_low, y_high = _bounds(every_y)

    def y_text(value: float) -> str:
        return number(10**value if log else value)

    labels = [y_text(y_high), y_text((y_low + y_high) / 2), y_text(y_low)]
    margin = max(map(len, labels))
    plot_width = max(10, width - margin - 2)
    canvas = Canvas(plot_width, height)
    dots_x, dots_y = 2 * plot_width - 1, 4 * height - 1

    def at(x: float, y: float) -> tuple[int, int]:
        column = round((x - x_low) / (x_high - x_low) * dots_x)
        row = round((y_high - y) / (y_high - y_low) * dots_y)
        return column, row

    for marker in markers:
        column, _ = at(marker.x, y_low)
        for row in range(0, dots_y + 1, 2):
            canvas.dot(column, row, MARKER_COLOUR)
    colours = [line.colour or COLOURS[index % len(COLOURS)] for index, line in enumerate(lines)]
    for (line, xs, ys), colour in zip(shown, colours, strict=True):
        xs, ys = downsample(xs, ys, plot_width) if len(xs) > 4 * plot_width else (xs, ys)
        canvas.path([at(x, y) for x, y in zip(xs, ys, strict=True)], colour, line.style)

    out = []
    label_rows = {0: labels[0], (height - 1) // 2: labels[1], height - 1: labels[2]}
    for row, text in enumerate(canvas.rows(color)):
        tick = label_rows.get(row)
        out.append(f"{tick:>{margin}} ┤{text}" if tick is not None else f"{'':>{margin}} │{text}")
    out.append(f"{'':>{margin}} └" + "─" * plot_width)
    left, right = number(x_low), number(x_high)
    middle = x_label[: max(0, plot_width - len(left) - len(right) - 2)]
    gap = plot_width - len(left) - len(right) - len(middle)
    out.append(f"{'':>{margin}}  {left}{' ' * (gap // 2)}{middle}{' ' * (gap - gap // 2)}{right}")
    if legend is None:
        legend = [
            Entry(line.label, colour, line.style)
            for line, colour in zip(lines, colours, strict=True)
        ] + [Entry(marker.label, MARKER_COLOUR, None) for marker in markers]
    out.extend(legend_lines(legend, width, color))
    return "\n".join(out) + "\n"


#: Legend lines of one entry each at most; a longer legend is laid out in columns, so
#: that the plot keeps its rows on a terminal 24 lines high.
LEGEND_LINES = 6
#: Characters of a label in a legend of several columns at most (two columns fit 80).
COLUMN_LABEL = 32
#: Spaces between two columns of a legend.
_GAP = 2


def legend_lines(entries: Sequence[Entry], width: int, color: bool) -> list[str]:
    """The legend: ``⠤⠤⠤⠤ label`` (a line style's sample, coloured), a line an entry
    when there are at most :data:`LEGEND_LINES`, else in as many columns as ``width``
    holds with labels of :data:`COLUMN_LABEL` characters, filled down then across, the
    labels cut with ``…`` where the columns' share of the width ends. Every line is at
    most ``width`` characters wide."""
    if len(entries) <= LEGEND_LINES:
        return [_entry(entry, width - SAMPLE - 1, color) for entry in entries]
    longest = max(len(entry.label) for entry in entries)
    cell = SAMPLE + 1 + min(COLUMN_LABEL, longest)
    columns = max(1, min(len(entries), (width + _GAP) // (cell + _GAP)))
    # The columns share the width: a label is cut only where it must be.
    room = min(longest, (width + _GAP) // columns - _GAP - SAMPLE - 1)
    rows = math.ceil(len(entries) / columns)
    lines = []
    for row in range(rows):
        cells = [entries[i] for i in range(row, len(entries), rows)]
        texts = [_entry(entry, room, color) for entry in cells]
        padded = [
            text + " " * (room - len(entry.label[:room]))
            for text, entry in zip(texts[:-1], cells, strict=False)
        ]
        lines.append((" " * _GAP).join([*padded, texts[-1]]))
    return lines


def _entry(entry: Entry, room: int, color: bool) -> str:
    """``⠤⠤⠤⠤ label``, the label cut to ``room`` characters (the last one ``…``)."""
    label = entry.label
    if len(label) > room:
        label = label[: max(0, room - 1)] + "…"
    mark = sample(entry.style) if entry.style else "⡇" + " " * (SAMPLE - 1)
    if color and entry.colour:
        mark = f"\033[{entry.colour}m{mark}\033[0m"
    return f"{mark} {label}"
