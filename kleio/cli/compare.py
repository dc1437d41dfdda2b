"""``kleio compare``: trials side by side, the configuration that differs and how they did."""

from __future__ import annotations

import argparse
import os
import shutil
from typing import IO, Any

from kleio.cli import arguments
from kleio.cli.output import (
    Column,
    display_of,
    output_options,
    output_rows,
    readable,
    table,
)

#: Longest cell of a table before it is cut (``…``): a long value must not hide the rest.
_CELL = 24
#: What marks the best value of a sorted column in a table.
BEST = "*"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare trials side by side: the configuration that differs and statistic summaries",
        description="One row per trial: its status, the configuration keys whose values "
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
    parser.add_argument(
        "--all",
        dest="all_configuration",
        action="store_true",
        help="every configuration key, not only those whose values differ",
    )
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
    if args.format != "table":
        columns = [Column(label, label) for label in comparison.columns if label != "short_id"]
        output_rows(context.stdout, args.format, columns, comparison.rows)
        return 0
    _print_table(args, context, comparison)
    return 0


def _text(value: Any) -> str:
    text = "" if value is None else readable(value)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _width(stream: IO[str]) -> int | None:
    """The terminal's width when printing to one (or ``COLUMNS`` says), else no limit."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if not terminal and not os.environ.get("COLUMNS"):
        return None
    return shutil.get_terminal_size().columns


def _print_table(args, context, comparison) -> None:
    from kleio.core.model import clock

    labels = ["short_id", "status", *comparison.configuration, *comparison.statistics, "run_time"]
    headers = {"short_id": "ID", "status": "STATUS", "run_time": "RUN TIME"}

    display = display_of(args, context.stdout)

    def shown(label: str, value: Any) -> str:
        if label == "run_time":
            return clock.duration(value)
        best = label in comparison.best and value == comparison.best[label]
        return _text(value) + (BEST if best else "")

    texts = {label: [shown(label, row[label]) for row in comparison.rows] for label in labels}
    # Left out first when the terminal is too narrow: configuration keys, the run time,
    # then statistics, the rightmost first; never the id, status or a sorted column.
    order = [*reversed(comparison.configuration), "run_time", *reversed(comparison.statistics)]
    droppable = [label for label in order if label not in comparison.best]
    limit = _width(context.stdout)
    left_out = []

    def width() -> int:
        kept = [label for label in labels if label not in left_out]
        sizes = [max([len(headers.get(k, k)), *map(len, texts[k])]) for k in kept]
        return sum(sizes) + 2 * (len(kept) - 1)

    while limit is not None and droppable and width() > limit:
        left_out.append(droppable.pop(0))
    kept = [label for label in labels if label not in left_out]
    table(
        context.stdout,
        [headers.get(label, label) for label in kept],
        [[texts[label][index] for label in kept] for index in range(len(comparison.rows))],
        paint=[display.status if label == "status" else None for label in kept],
    )
    if left_out:
        context.notify(
            f"{len(left_out)} columns left out to fit the terminal ({', '.join(left_out)}): "
            "choose columns with --keys, or print them all with --format csv"
        )
