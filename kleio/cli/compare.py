"""``kleio compare``: trials side by side, the configuration that differs and how they did."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kleio.cli import arguments
from kleio.cli.output import ELLIPSIS, Column, display_of, output_options, output_rows, readable

if TYPE_CHECKING:
    from kleio.core.reading.comparison import Comparison

#: Longest cell of a table before it is cut (``…``): a long value must not hide the rest.
_CELL = 24
#: What marks the best value of a sorted column in a table.
BEST = "*"
#: What no value equals: the best of a column that is not sorted.
_UNSORTED = object()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare trials side by side: the configuration that differs and statistic summaries",
        description="One row per trial: its name (if it has one), its status, the "
        "configuration keys whose values "
        "differ between the rows, summaries of its statistics and its run time. Select "
        "trials as for ls; --keys picks the summaries (KEY:last, :min, :max, :first, "
        ":count), --sort orders rows by any column.",
        epilog="examples: kleio compare --tags sweep --sort loss:min; "
        "kleio compare --where 'lr<0.1' --keys loss:min,acc:max --format csv",
    )
    arguments.trial_ids(parser)
    arguments.selection(parser)
    arguments.query_options(parser)
    parser.add_argument(
        "--keys",
        metavar="K,K",
        help="statistic columns, comma separated: KEY (its last value) or "
        "KEY:last|first|min|max|count (default: the last value of every statistic)",
    )
    arguments.all_configuration(parser, "columns")
    output_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.reading.comparison import compare_trials

    comparison = compare_trials(
        context.store,
        arguments.trial_query(args),
        context.settings.lease,
        keys=args.keys.split(",") if args.keys is not None else None,
        all_configuration=args.all_configuration,
    )
    context.warn_skipped(comparison.skipped)
    if not comparison.rows:
        from kleio.core.reading.selection import nothing_selected

        context.notify(nothing_selected(context.store))
    if args.format != "table":  # JSON and CSV stay whole: `[]`, the header
        columns = [Column(label, label) for label in comparison.columns if label != "short_id"]
        output_rows(context.stdout, args.format, columns, comparison.rows)
        return 0
    if not comparison.rows:
        return 0
    # A column of values cut short would show another value: when the table is too wide,
    # whole columns are left out (the run time, then configuration keys, then statistics,
    # the rightmost first; never the id, the status or a sorted column), and named. The
    # swept keys tell the trials apart: they go only after the run time.
    order = ["run_time", *reversed(comparison.configuration), *reversed(comparison.statistics)]
    left_out = output_rows(
        context.stdout,
        "table",
        _table_columns(comparison),
        comparison.rows,
        display_of(args, context.stdout, columns_when_piped=True),
        leave_out=[label for label in order if label not in comparison.best],
    )
    if left_out:
        context.notify(
            f"{len(left_out)} columns left out to fit the terminal ({', '.join(left_out)}): "
            "choose columns with --keys, or print them all with --format csv"
        )
    return 0


def _table_columns(comparison: Comparison) -> list[Column]:
    from kleio.core.model import clock

    def column(label: str, header: str, status: bool = False) -> Column:
        return Column(label, header, _cell(comparison.best.get(label, _UNSORTED)), status=status)

    return [
        column("short_id", "ID"),
        *([Column("trial_name", "NAME")] if comparison.named else []),
        column("status", "STATUS", status=True),
        *(column(label, label) for label in [*comparison.configuration, *comparison.statistics]),
        Column("run_time", "RUN TIME", clock.duration),
    ]


def _cell(best: Any) -> Callable[[Any], str]:
    """A value as a table cell: at most :data:`_CELL` characters, then :data:`BEST` if it
    is the best of its sorted column."""

    def text(value: Any) -> str:
        shown = readable(value)
        if len(shown) > _CELL:
            shown = shown[: _CELL - 1] + ELLIPSIS
        return shown + BEST if value == best else shown

    return text
