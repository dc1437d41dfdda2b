"""``kleio plot ID... --y loss[,acc] [--x epoch] [-o loss.png]``: statistics as curves,
in the terminal or in a file."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from kleio.cli import arguments

#: File formats ``-o`` writes, by extension.
FORMATS = (".png", ".svg", ".pdf")
#: Size of a written figure: inches and dots per inch (a PNG of 1000 x 560 pixels).
FIGURE_SIZE, DPI = (10.0, 5.6), 100
#: Rows of a terminal plot at most, and at least.
MAX_ROWS, MIN_ROWS = 20, 6


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw statistics of trials as curves, in the terminal or in a file",
        description="Draw statistics of one or more trials against a key (a branch shows "
        "its parent's statistics up to the branch point, which is marked). In the "
        "terminal with braille characters; with -o, a PNG, SVG or PDF file drawn by "
        "matplotlib (pip install 'kleio[plot]'). Legends name trials by short id and the "
        "configuration keys that differ between them. Select trials as for compare.",
        epilog="examples: kleio plot 3f9c2e0 a81b2c4 --y loss; "
        "kleio plot --tags sweep --y loss,acc --x epoch -o loss.png",
    )
    arguments.trial_ids(parser)
    arguments.selection(parser)
    arguments.query_options(parser)
    parser.add_argument(
        "--y", required=True, metavar="KEY,KEY", help="statistics to draw, comma separated"
    )
    parser.add_argument(
        "--x",
        default="step",
        metavar="KEY",
        help="the x axis: a statistic key, or step (the record's number, the default) or "
        "time (seconds since the first record)",
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
        "--no-color", action="store_true", help="no colours, even on a terminal (or NO_COLOR)"
    )


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.destinations import check_destination
    from kleio.core.model.errors import SettingsError
    from kleio.core.reading.series import chosen_keys, plot_curves

    keys = chosen_keys(args.y)
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
        # Two points per dot column on a terminal; per pixel (and more for vectors) in a file.
        buckets=int(width) if output is not None and output[-4:] in ("-", ".png") else 2000,
    )
    for short, key in plot.missing:
        context.notify(f"{short} logged no number {key!r}: left out")
    if not plot.curves:
        raise SettingsError(f"the trials logged no number {', '.join(keys)} to draw")
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


def _write_figure(matplotlib, plot, output: str, args: argparse.Namespace, stdout) -> None:
    from matplotlib.figure import Figure

    from kleio.core.model.destinations import destination

    # Text stays text in an SVG (searchable, editable), not outlines.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")
        axes = figure.add_subplot()
        for curve in plot.curves:
            axes.plot(curve.xs, curve.ys, label=curve.label, linewidth=1.3)
        for label, x in _markers(plot):
            axes.axvline(x, color="0.45", linestyle="--", linewidth=1, label=label)
        if args.log:
            axes.set_yscale("log")
        axes.set_xlabel(plot.x)
        axes.set_ylabel(", ".join(dict.fromkeys(curve.key for curve in plot.curves)))
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
        kind = "png" if output == "-" else os.path.splitext(output)[1][1:].lower()
        with destination(output, stdout) as stream:
            figure.savefig(stream, format=kind)


def _terminal_size() -> tuple[int, int]:
    """Columns and lines of the terminal (``COLUMNS`` and ``LINES`` when set)."""
    size = shutil.get_terminal_size()
    return max(30, size.columns), size.lines


def _terminal_plot(plot, args: argparse.Namespace, stream) -> str:
    from kleio.cli.braille import Line, Marker, draw
    from kleio.cli.output import display_of

    color = display_of(args, stream).color
    columns, lines = _terminal_size()
    markers = [Marker(label, x) for label, x in _markers(plot)]
    legend = len(plot.curves) + len(markers)
    rows = max(MIN_ROWS, min(MAX_ROWS, lines - legend - 4))
    return draw(
        [Line(curve.label, curve.xs, curve.ys) for curve in plot.curves],
        markers,
        columns,
        rows,
        x_label=plot.x,
        log=args.log,
        color=color,
    )
