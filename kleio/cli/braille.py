"""Curves drawn in a terminal with braille characters, so ``kleio plot`` works over SSH
on a cluster node where nothing but Kleio is installed.

Each character holds 2 x 4 dots: a plot 60 characters wide has 120 dots across. Curves
are lines between their points (cut to two points per dot column beforehand, the
lowest and highest, so spikes stay visible); a character takes the colour of the last
curve that drew in it. Branch points are dotted vertical lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kleio.cli.output import number

#: ANSI colours of curves, in order (those of matplotlib's default cycle, as near as
#: a terminal's 16 colours come).
COLOURS = ("34", "33", "32", "31", "35", "36", "94", "93", "92", "91")
MARKER_COLOUR = "90"
#: Dot bits of a braille character by (row, column) of its 4 x 2 dots.
_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BLANK = 0x2800


@dataclass
class Line:
    """A curve to draw and how the legend names it."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]


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

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: str | None) -> None:
        """Bresenham's line from (x0, y0) to (x1, y1), both ends included."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        step_x, step_y = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            self.dot(x0, y0, colour)
            if x0 == x1 and y0 == y1:
                return
            twice = 2 * error
            if twice >= dy:
                error += dy
                x0 += step_x
            if twice <= dx:
                error += dx
                y0 += step_y

    def rows(self, color: bool) -> list[str]:
        lines = []
        for cells, colours in zip(self.cells, self.colours, strict=True):
            text = []
            for bits, colour in zip(cells, colours, strict=True):
                char = chr(_BLANK + bits) if bits else " "
                text.append(f"\033[{colour}m{char}\033[0m" if color and bits and colour else char)
            lines.append("".join(text))
        return lines


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
) -> str:
    """The plot as text: ``height`` rows of curves between y labels and an x axis, then
    the legend, every line at most ``width`` characters wide (``width`` >= 30)."""
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
    for index, (_, xs, ys) in enumerate(shown):
        colour = COLOURS[index % len(COLOURS)]
        xs, ys = downsample(xs, ys, plot_width) if len(xs) > 4 * plot_width else (xs, ys)
        points = [at(x, y) for x, y in zip(xs, ys, strict=True)]
        if len(points) == 1:
            canvas.dot(*points[0], colour)
        for start, end in zip(points, points[1:], strict=False):
            canvas.line(*start, *end, colour)

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
    for index, (line, _, _) in enumerate(shown):
        out.append(_legend("⠤⠤", COLOURS[index % len(COLOURS)], line.label, width, color))
    for marker in markers:
        out.append(_legend("⡇ ", MARKER_COLOUR, marker.label, width, color))
    return "\n".join(out) + "\n"


def _legend(sample: str, colour: str, label: str, width: int, color: bool) -> str:
    """``⠤⠤ label``, the label cut to fit ``width`` characters."""
    room = width - len(sample) - 1
    if len(label) > room:
        label = label[: max(0, room - 1)] + "…"
    return (f"\033[{colour}m{sample}\033[0m" if color else sample) + " " + label
