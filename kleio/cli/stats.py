"""``kleio stats ID``: the statistics a trial logged, sorted and selected by any key."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from typing import Any

from kleio.cli.context import trial_record
from kleio.cli.output import table
from kleio.core.commandline import parse_assignment


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats", help="print a trial's statistics (its parent's up to the branch point first)"
    )
    parser.add_argument("id", help="trial id or unique prefix")
    parser.add_argument(
        "--sort",
        metavar="KEY",
        help="sort by this key (any key: there is no special timestamp field)",
    )
    parser.add_argument("--reverse", action="store_true", help="sort in descending order")
    parser.add_argument("--keys", metavar="A,B", help="only these keys, in this order")
    parser.add_argument(
        "--where",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="only statistics whose KEY equals VALUE (repeatable)",
    )
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def execute(args: argparse.Namespace, context) -> int:
    record = trial_record(context, args.id)
    statistics = record.statistics
    where = dict(parse_assignment(text) for text in args.where)
    if where:
        statistics = statistics.where(**where)
    if args.sort:
        statistics = statistics.sorted_by(args.sort, reverse=args.reverse)
    elif args.reverse:
        statistics = type(statistics)(reversed(statistics))
    keys = (
        [k.strip() for k in args.keys.split(",") if k.strip()] if args.keys else statistics.keys()
    )
    out = sys.stdout
    if args.format == "json":
        encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
        out.write("[")
        for index, statistic in enumerate(statistics):
            selected = {key: statistic[key] for key in keys if key in statistic}
            out.write(("\n  " if index == 0 else ",\n  ") + encode(selected))
        out.write("\n]\n" if statistics else "]\n")
    elif args.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows([_cell(statistic.get(key)) for key in keys] for statistic in statistics)
    else:
        table(
            [key.upper() for key in keys] or ["(NO STATISTICS)"],
            [[_cell(statistic.get(key)) for key in keys] for statistic in statistics],
        )
    return 0
