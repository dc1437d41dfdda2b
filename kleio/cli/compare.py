"""``kleio compare``: trials side by side, the configuration that differs and how they did."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kleio.cli import arguments
from kleio.cli.output import ELLIPSIS, Column, display_of, output_options, output_rows, readable

if TYPE_CHECKING:
    from kleio.core.reading.comparison import Comparison, GroupComparison

#: What ``--agg`` chooses among (:data:`kleio.core.reading.groups.GROUP_AGGREGATES`,
#: written here: ``kleio compare --help`` loads nothing of the domain).
_AGGREGATES = "mean,std,min,max,median"
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
        ":count), --sort orders rows by any column. With --group-by, one row per group "
        "of trials: its keys' values, n (its trials) and the aggregates of each column "
        "over them (KEY:mean, KEY:std...); --where on a group's column (n, "
        "loss:min:mean) keeps groups, on any other key trials before grouping.",
        epilog="examples: kleio compare --tags sweep --sort loss:min; "
        "kleio compare --where 'lr<0.1' --keys loss:min,acc:max --format csv; "
        "kleio compare --group-by lr --keys loss:min --sort loss:min:mean",
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
    parser.add_argument(
        "--group-by",
        metavar="KEY",
        action="append",
        default=[],
        help="one row per group of trials with the same values of these configuration "
        "keys (repeatable; '*': every key but the seeds)",
    )
    parser.add_argument(
        "--seed-key",
        metavar="KEY",
        action="append",
        default=[],
        help="a configuration key that names a seed, left out of --group-by '*' "
        "(repeatable; seed and *.seed always are)",
    )
    parser.add_argument(
        "--agg",
        metavar="A,A",
        help="with --group-by, the aggregates of each column over a group's trials, "
        f"among {_AGGREGATES} (default: mean,std; std with ddof=0)",
    )
    output_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.reading.comparison import compare_trials

    if args.group_by:
        return _execute_groups(args, context)
    from kleio.core.model.errors import SettingsError

    for option, given in (("--agg", args.agg), ("--seed-key", args.seed_key)):
        if given:
            raise SettingsError(f"{option} is for groups: add --group-by KEY (or '*')")
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


def _execute_groups(args: argparse.Namespace, context) -> int:
    """One row per group: its keys, ``n`` and the aggregates of each column; in a table,
    a column's mean and standard deviation side by side as one (``0.1235 ± 0.004``)."""
    from kleio.core.reading.comparison import COUNT, compare_groups
    from kleio.core.reading.groups import parse_group_aggregates

    groups = compare_groups(
        context.store,
        arguments.trial_query(args),
        context.settings.lease,
        group_by=args.group_by,
        seed_keys=args.seed_key,
        aggregates=parse_group_aggregates(args.agg),
        keys=args.keys.split(",") if args.keys is not None else None,
        all_configuration=args.all_configuration,
    )
    context.warn_skipped(groups.skipped)
    if not groups.rows:
        from kleio.core.reading.selection import nothing_selected

        context.notify(nothing_selected(context.store))
    if args.format != "table":  # JSON and CSV: every aggregate in a column of its own
        columns = [Column(label, label) for label in groups.columns]
        output_rows(context.stdout, args.format, columns, groups.rows)
        return 0
    if not groups.rows:
        return 0
    columns, rows = _group_table(groups)
    kept = {*groups.keys, COUNT, *(_shown_in(label, columns) for label in groups.best)}
    # The extra aggregates (min, max, median) of every column go before any column's
    # mean: a table too narrow keeps each statistic's mean ± std, not one's five numbers.
    spare = [c.key for c in reversed(columns) if c.key not in kept]
    extra = [key for key in spare if not key.endswith((_TOGETHER, ":mean"))]
    left_out = output_rows(
        context.stdout,
        "table",
        columns,
        rows,
        display_of(args, context.stdout, columns_when_piped=True),
        leave_out=[*extra, *(key for key in spare if key not in extra)],
    )
    if left_out:
        headers = {column.key: column.header for column in columns}
        named = ", ".join(headers[key] for key in left_out)
        context.notify(
            f"{len(left_out)} columns left out to fit the terminal ({named}): "
            "choose columns with --keys and --agg, or print them all with --format csv"
        )
    return 0


#: The key of a table's column showing a mean and a standard deviation together (no
#: column of a group's row ends so: its labels end in an aggregate).
_TOGETHER = ":mean±std"


def _group_table(groups: GroupComparison) -> tuple[list[Column], list[dict[str, Any]]]:
    """The table's columns and rows: a column's ``mean`` and ``std``, when both are
    asked for, as one column named by the column (``loss:min``), ``mean ± std``."""
    from kleio.core.reading.comparison import COUNT

    def column(label: str) -> Column:
        return Column(label, label, _cell(groups.best.get(label, _UNSORTED)))

    together = [
        label
        for label in dict.fromkeys(label for label, _ in groups.aggregated)
        if (label, "mean") in groups.aggregated and (label, "std") in groups.aggregated
    ]
    columns = [*(column(key) for key in groups.keys), column(COUNT)]
    for label, how in groups.aggregated:
        if label in together:
            if how == "mean":
                mean, std = f"{label}:mean", f"{label}:std"
                columns.append(
                    Column(
                        label + _TOGETHER,
                        label,
                        _mean_std(
                            groups.best.get(mean, _UNSORTED), groups.best.get(std, _UNSORTED)
                        ),
                    )
                )
            if how in ("mean", "std"):
                continue
        columns.append(column(f"{label}:{how}"))
    rows = [
        {
            **row,
            **{
                label + _TOGETHER: (row.get(f"{label}:mean"), row.get(f"{label}:std"))
                for label in together
            },
        }
        for row in groups.rows
    ]
    return columns, rows


def _shown_in(label: str, columns: list[Column]) -> str:
    """The key of the table's column showing the group's column ``label``."""
    for suffix in (":mean", ":std"):
        together = label.removesuffix(suffix) + _TOGETHER
        if label.endswith(suffix) and any(c.key == together for c in columns):
            return together
    return label


def _mean_std(best_mean: Any, best_std: Any) -> Callable[[Any], str]:
    """``(mean, std)`` as a cell: ``0.1235 ± 0.004``, each number marked with
    :data:`BEST` when it is the best of its sorted column."""
    mean_text, std_text = _cell(best_mean), _cell(best_std)

    def text(pair: tuple[Any, Any]) -> str:
        mean, std = pair
        if mean is None:
            return ""
        return f"{mean_text(mean)} ± {std_text(std)}"

    return text
