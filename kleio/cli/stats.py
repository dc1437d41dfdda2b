"""``kleio stats ID``: the statistics a trial logged, sorted and selected by any key."""

from __future__ import annotations

import argparse

from kleio.cli import arguments
from kleio.cli.output import Column, display_of, output_options, output_rows


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="print a trial's statistics (its parent's up to the branch point first)",
        description="Print the statistics trial ID logged (its parent's up to the branch "
        "point first), one row each, in the order they were logged unless sorted.",
        epilog="examples: kleio stats 3f9c2e0 --sort loss --keys epoch,loss; "
        "kleio stats 3f9c2e0 --where epoch=10 --format json",
    )
    arguments.trial_id(parser)
    parser.add_argument(
        "--sort",
        metavar="KEY",
        help="sort by this key (any key: there is no special timestamp field)",
    )
    parser.add_argument("--reverse", action="store_true", help="sort in descending order")
    parser.add_argument("--keys", metavar="A,B", help="only these keys, in this order")
    arguments.where(parser, "statistics")
    parser.add_argument(
        "--with-meta",
        action="store_true",
        help="add where each statistic comes from: _trial, _execution (its number) and "
        "_time (when it was logged)",
    )
    parser.add_argument(
        "--resources",
        action="store_true",
        help="print the resource samples of the trial's executions instead (CPU, memory, "
        "threads, I/O, GPUs), each with its time",
    )
    output_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.commandline import parse_assignment
    from kleio.core.errors import SettingsError
    from kleio.core.statistics import META_KEYS

    if args.resources and args.with_meta:
        raise SettingsError(
            "--with-meta is for statistics: resource samples have their time and execution"
        )
    record = context.record(args.id)
    statistics = record.usage if args.resources else record.statistics
    where = dict(parse_assignment(text) for text in args.where)
    if where:
        statistics = statistics.where(**where)
    if args.sort:
        statistics = statistics.sorted_by(args.sort, reverse=args.reverse)
    elif args.reverse:
        statistics = statistics.reversed()
    keys = (
        [k.strip() for k in args.keys.split(",") if k.strip()] if args.keys else statistics.keys()
    )
    if args.with_meta:
        keys += [key for key in META_KEYS if key not in keys]
        statistics = statistics.with_meta()
    timed = "time" if args.resources else "_time"
    columns = [Column(key, key.upper(), time=key == timed) for key in keys]
    if not columns and args.format == "table":
        columns = [Column("", "(NO STATISTICS)")]
    rows = ({key: statistic[key] for key in keys if key in statistic} for statistic in statistics)
    output_rows(context.stdout, args.format, columns, rows, display_of(args, context.stdout))
    return 0
