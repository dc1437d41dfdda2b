"""``kleio plot ID... --y loss[,acc] [--x epoch] [-o loss.png]``: statistics as curves,
in the terminal or in a file."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

from kleio.cli import arguments
from kleio.cli.output import no_color

#: File formats ``-o`` writes, by extension.
FORMATS = (".png", ".svg", ".pdf")
#: Size of a written figure: inches and dots per inch (a PNG of 1000 x 560 pixels).
FIGURE_SIZE, DPI = (10.0, 5.6), 100
#: Rows of a terminal plot at most, and at least (a long legend scrolls the terminal
#: rather than flatten the curves).
MAX_ROWS, MIN_ROWS = 20, 10
#: Characters of a label in a figure's legend at most (cut with "…"): two columns of
#: such labels fit across the figure, five of short ones ("3f9c2e0 lr=0.05").
LABEL_WIDTH = 40
#: Rows of a figure's legend at most: past them, its last entry counts the curves left out.
LEGEND_ROWS = 12
#: The share of the figure's height a legend below the axes takes before the figure
#: grows taller instead: the axes keep at least half of a PNG.
LEGEND_SHARE = 0.25
#: matplotlib's line style of each of series.STYLES (lengths in line widths).
LINESTYLES = {
    "solid": "-",
    "dashed": (0, (4, 2)),
    "dotted": (0, (1, 1.5)),
    "dash-dot": (0, (5, 2, 1, 2)),
    "sparse": (0, (1, 4)),
    "long-dash": (0, (9, 2.5)),
}
#: With --group-by, the line style of a band's edges in the terminal (in a file, a band
#: is a fill): no curve takes it while bands are drawn, so that without colour an edge
#: is never read as a curve.
BAND_STYLE = "sparse"
#: The opacity of a band's fill in a file: three overlapping bands still show the curves.
BAND_ALPHA = 0.2
#: What a band spans, as legends and axes say it.
BAND_TEXT = {"std": "mean ± std", "range": "mean, min..max"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw statistics of trials as curves, in the terminal or in a file",
        description="Draw statistics of one or more trials against a key (a branch shows "
        "its parent's statistics up to the branch point, which is marked). In the "
        "terminal with braille characters; with -o, a PNG, SVG or PDF file drawn by "
        "matplotlib (pip install 'kleio[plot]'). Each trial has a colour, each key a line "
        "style (without colour, each curve a dot pattern); legends name trials by short id "
        "and the configuration keys that differ between them (--all: every key). Several "
        "values logged at one x are drawn as their mean. With --group-by, one curve per group "
        "of trials: their mean at each x (aligned on x), with a band. Select trials as for "
        "compare.",
        epilog="examples: kleio plot 3f9c2e0 a81b2c4 --y loss; "
        "kleio plot --tags sweep --y loss,acc --x epoch -o loss.png; "
        "kleio plot --tags study --y loss --group-by lr --band range",
    )
    arguments.trial_ids(parser)
    arguments.selection(parser)
    arguments.query_options(parser)
    parser.add_argument(
        "--y", required=True, metavar="KEY,KEY", help="statistics to draw, comma separated"
    )
    parser.add_argument(
        "--x",
        metavar="KEY",
        help="the x axis: a statistic key, or step (the record's number) or time (seconds "
        "since the first record); default: epoch when every record of the keys drawn has "
        "one, else step",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the plot to FILE (.png, .svg or .pdf; -: a PNG on standard output) "
        "instead of drawing it in the terminal",
    )
    parser.add_argument("--log", action="store_true", help="logarithmic y axis")
    parser.add_argument(
        "--smooth",
        type=float,
        default=0.0,
        metavar="W",
        help="exponential moving average, W of the past (0 to 1, e.g. 0.6; default 0: none)",
    )
    parser.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="KEY",
        help="one curve per group of trials with the same values of configuration KEY "
        "(repeatable; '*': every key but the seeds): their mean at each x, with a band",
    )
    parser.add_argument(
        "--seed-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a configuration key that names a seed, besides seed and *.seed: left out "
        "of --group-by '*' (repeatable)",
    )
    parser.add_argument(
        "--band",
        metavar="std|range|none",
        help="with --group-by, the band around each group's mean: std (mean ± standard "
        "deviation, the default), range (lowest to highest) or none",
    )
    arguments.all_configuration(parser, "legend")
    no_color(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.destinations import check_destination
    from kleio.core.model.errors import SettingsError
    from kleio.core.reading.series import BANDS, DEFAULT_BAND, chosen_keys, plot_curves

    keys = chosen_keys(args.y)
    if args.band is not None and args.band not in BANDS:
        raise SettingsError(f"unknown --band {args.band!r}: choose among {', '.join(BANDS)}")
    if args.band is not None and not args.group_by:
        raise SettingsError("--band draws around a group's mean: give --group-by KEY too")
    if args.seed_key and not args.group_by:
        raise SettingsError("--seed-key tells seeds apart for --group-by: give it too")
    output = args.output
    if output == "-":
        if _binary_stdout(context).isatty():
            raise SettingsError("kleio plot -o - writes a PNG: redirect it, or give -o FILE")
    elif output is not None:
        if os.path.splitext(output)[1].lower() not in FORMATS:
            raise SettingsError(
                f"cannot write {output!r}: name a .png, .svg or .pdf file (or leave out -o "
                "to draw in the terminal)"
            )
        check_destination(output)
    matplotlib = _matplotlib() if output is not None else None
    width = FIGURE_SIZE[0] * DPI if output is not None else _terminal_size()[0]
    plot = plot_curves(
        context.store,
        arguments.trial_query(args),
        context.settings.lease,
        args.x,
        keys,
        smoothing=args.smooth,
        all_configuration=args.all_configuration,
        group_by=args.group_by,
        seed_keys=args.seed_key,
        band=args.band or DEFAULT_BAND,
        # Two points per dot column on a terminal; per pixel (and more for vectors) in a file.
        buckets=int(width) if output is not None and output[-4:] in ("-", ".png") else 2000,
        # What is drawn: two columns of dots per character on a terminal, pixels in a file.
        pixels=int(width) * (2 if output is None else 1),
    )
    context.warn_skipped(plot.skipped)
    for short, key in plot.missing:
        context.notify(f"{short} logged no number {key!r}: left out")
    for note in plot.notes:
        context.notify(note)
    if not plot.curves:
        raise SettingsError(f"the trials logged no number {', '.join(keys)} to draw")
    if plot.per_x > 1:
        averaged = dict.fromkeys(curve.key for curve in plot.curves if curve.per_x > 1)
        context.notify(
            f"{', '.join(averaged)}: up to {plot.per_x} values at one {plot.x}, drawn as "
            f"their mean (--x step draws every value)"
        )
    if output is not None:
        _write_figure(matplotlib, plot, output, args, _binary_stdout(context))
        where = "standard output" if output == "-" else output
        context.notify(
            f"wrote {where} ({len(plot.curves)} curve{'s' if len(plot.curves) > 1 else ''})"
        )
    else:
        context.stdout.write(_terminal_plot(plot, args, context.stdout))
    return 0


def _binary_stdout(context):
    return getattr(context.stdout, "buffer", None) or sys.stdout.buffer


def _matplotlib():
    """matplotlib, imported here only (it costs half a second); a one-line error naming
    the extra to install when it is missing."""
    from kleio.core.model.errors import KleioError

    try:
        import matplotlib
    except ImportError:
        raise KleioError(
            "kleio plot -o needs matplotlib: pip install 'kleio[plot]' "
            "(without -o, kleio plot draws in the terminal)"
        ) from None
    return matplotlib


def _cut(label: str, width: int) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _legend(plot, color: bool) -> list[tuple[str, str | None, str]]:
    """The legend's curve entries, ``(label, colour or None, line style)``: with colour
    and several keys, one entry per trial (its colour) then one per key (its style,
    uncoloured), as long as the colours alone tell the trials apart; else one per
    curve. Without colour, each curve has a style of its own, in turn."""
    from kleio.core.reading.series import PALETTE, STYLES

    if not color:
        styles = _styles(plot)
        return [
            (curve.label, None, styles[index % len(styles)])
            for index, curve in enumerate(plot.curves)
        ]
    trials: dict[str, Any] = {}
    styles: dict[str, str] = {}
    for curve in plot.curves:
        trials.setdefault(curve.trial, curve)
        styles.setdefault(curve.key, curve.style)
    if len(styles) > 1 and plot.trials <= len(PALETTE):
        return [(curve.trial_label, curve.colour, STYLES[0]) for curve in trials.values()] + [
            (key, None, style) for key, style in styles.items()
        ]
    return [(curve.label, curve.colour, curve.style) for curve in plot.curves]


def _banded(plot) -> bool:
    return plot.band in BAND_TEXT


def _styles(plot) -> tuple[str, ...]:
    """The line styles curves take in turn without colour: all of them, but that of
    the bands' edges when bands are drawn."""
    from kleio.core.reading.series import STYLES

    return tuple(style for style in STYLES if style != BAND_STYLE or not _banded(plot))


def _y_label(plot) -> str:
    """The y axis's name: the keys, and what a point of them is."""
    label = ", ".join(dict.fromkeys(curve.key for curve in plot.curves))
    if plot.band is not None:
        return f"{label} ({BAND_TEXT.get(plot.band, 'mean')} of each group)"
    if plot.per_x > 1:
        label += f" (mean per {plot.x})"
    return label


def _markers(plot) -> list[tuple[str, float]]:
    """``(legend label, x)`` of each branch point, once per trial."""
    found, seen = [], set()
    for curve in plot.curves:
        if curve.trial in seen:
            continue
        seen.add(curve.trial)
        for x in curve.branch_points:
            found.append((f"branch point of {curve.short_id} ({plot.x}={x:g})", x))
    return found


def _write_figure(
    matplotlib, plot, output: str, args: argparse.Namespace, stdout: Any = None
) -> None:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from kleio.core.model.destinations import destination

    # Text stays text in an SVG (searchable, editable), not outlines.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")
        axes = figure.add_subplot()
        for curve in plot.curves:
            if curve.lower is not None:  # under every mean line
                axes.fill_between(
                    curve.xs,
                    curve.lower,
                    curve.upper,
                    color=curve.colour,
                    alpha=BAND_ALPHA,
                    linewidth=0,
                )
        for curve in plot.curves:
            axes.plot(
                curve.xs,
                curve.ys,
                color=curve.colour,
                linestyle=LINESTYLES[curve.style],
                linewidth=1.5,
            )
        handles, labels = [], []
        for label, colour, style in _legend(plot, color=True):
            handles.append(
                Line2D([], [], color=colour or "0.2", linestyle=LINESTYLES[style], linewidth=1.5)
            )
            labels.append(label)
        for label, x in _markers(plot):
            axes.axvline(x, color="0.45", linestyle="--", linewidth=1)
            handles.append(Line2D([], [], color="0.45", linestyle="--", linewidth=1))
            labels.append(label)
        if args.log:
            axes.set_yscale("log")
        axes.set_xlabel(plot.x)
        axes.set_ylabel(_y_label(plot))
        axes.grid(True, alpha=0.3)
        _place_legend(figure, handles, labels)
        kind = "png" if output == "-" else os.path.splitext(output)[1][1:].lower()
        with destination(output, stdout) as stream:
            figure.savefig(stream, format=kind)


def _place_legend(figure, handles: list, labels: list[str]) -> None:
    """The legend below the axes, never over them nor squeezing them: labels cut at
    :data:`LABEL_WIDTH` characters, in as many columns as the figure's width holds, at
    most :data:`LEGEND_ROWS` rows (the last entry then counts those left out); past
    :data:`LEGEND_SHARE` of the figure's height, the figure grows taller for it."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties
    from matplotlib.lines import Line2D

    # A "$" would start mathtext: a label is shown as it is.
    labels = [_cut(label, LABEL_WIDTH).replace("$", r"\$") for label in labels]
    options = {"loc": "outside lower center", "fontsize": "small", "frameon": False}
    # A column's width, measured without laying out the figure (each layout of 24 curves
    # costs 0.1 s): the widest label, its line's sample and their spacing (the legend's
    # handlelength 2, handletextpad 0.8 and columnspacing 2, in font sizes), within the
    # legend's padding (0.4 on each side).
    font = FontProperties(size="small")
    size = font.get_size_in_points() * figure.dpi / 72
    measure = RendererAgg(1, 1, figure.dpi).get_text_width_height_descent
    widest = max(measure(label, font, ismath=False)[0] for label in labels)
    one, spacing = widest + 2.8 * size, 2.0 * size
    room = figure.bbox.width - size + spacing
    columns = max(1, min(len(labels), int(room // (one + spacing))))
    while True:
        if len(labels) > columns * LEGEND_ROWS:
            kept = columns * LEGEND_ROWS - 1
            left_out = len(labels) - kept
            shown = labels[:kept] + [f"… and {left_out} more"]
            drawn = handles[:kept] + [Line2D([], [], linestyle="none")]
        else:
            shown, drawn = labels, handles
        legend = figure.legend(drawn, shown, ncols=columns, **options)
        figure.draw_without_rendering()
        if columns == 1 or legend.get_window_extent().width <= figure.bbox.width:
            break
        legend.remove()
        columns -= 1
    height = legend.get_window_extent().height
    base = FIGURE_SIZE[1] * figure.dpi
    if height > LEGEND_SHARE * base:
        figure.set_size_inches(FIGURE_SIZE[0], (base + height - LEGEND_SHARE * base) / figure.dpi)


def _terminal_size() -> tuple[int, int]:
    """Columns and lines of the terminal (``COLUMNS`` and ``LINES`` when set)."""
    size = shutil.get_terminal_size()
    return max(30, size.columns), size.lines


def _terminal_plot(plot, args: argparse.Namespace, stream) -> str:
    from kleio.cli.braille import (
        MARKER_COLOUR,
        SAMPLE,
        Entry,
        Line,
        Marker,
        ansi_colour,
        draw,
        legend_lines,
    )
    from kleio.cli.output import display_of

    color = display_of(args, stream).color
    columns, lines = _terminal_size()
    markers = [Marker(label, x) for label, x in _markers(plot)]
    entries = [
        Entry(label, ansi_colour(colour) if colour else None, style)
        for label, colour, style in _legend(plot, color)
    ] + [Entry(marker.label, MARKER_COLOUR, None) for marker in markers]
    if _banded(plot):
        entries.append(Entry(f"band: {BAND_TEXT[plot.band]}", None, BAND_STYLE))
    legend = len(legend_lines(entries, columns, False))
    rows = max(MIN_ROWS, min(MAX_ROWS, lines - legend - 4))
    styles = _styles(plot)
    # A band's edges first, dimmed: a character takes the colour of the last curve drawn
    # in it, and the means are what the plot is read for.
    drawn = [
        Line(curve.label, curve.xs, edge, f"2;{ansi_colour(curve.colour)}", BAND_STYLE)
        for curve in plot.curves
        if curve.lower is not None
        for edge in (curve.lower, curve.upper)
    ] + [
        Line(
            curve.label,
            curve.xs,
            curve.ys,
            ansi_colour(curve.colour),
            curve.style if color else styles[index % len(styles)],
        )
        for index, curve in enumerate(plot.curves)
    ]
    text = draw(
        drawn, markers, columns, rows, x_label=plot.x, log=args.log, color=color, legend=entries
    )
    if not color and len(plot.curves) > len(styles):
        note = (
            f"{' ' * SAMPLE} (patterns repeat after {len(styles)} curves: in colour, or with "
            "-o FILE, they do not)"
        )
        text += _cut(note, columns) + "\n"
    return text
