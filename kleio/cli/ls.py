"""``kleio ls``: the trials of the journal, newest first."""

from __future__ import annotations

import argparse

from kleio.cli import arguments
from kleio.cli.output import Column, output_options, output_rows


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ls", help="list trials, newest first")
    arguments.trial_ids(parser)
    arguments.selection(parser)
    arguments.query_options(parser)
    output_options(parser, json_alias=True)


def _columns() -> list[Column]:
    from kleio.core import clock

    return [
        Column("short_id", "ID"),
        Column("status", "STATUS"),
        # JSON has the time to the microsecond; a table to the second.
        Column("created", "CREATED", lambda text: text[:19]),
        Column("run_time", "RUN TIME", clock.duration),
        Column("tags", "TAGS", ",".join),
        Column("commandline", "COMMAND"),
    ]


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core import clock
    from kleio.core.query import DOCUMENT_FIELDS, query_trials

    # The configuration is read only when a condition or an order may need it: listing
    # reads as little of each document as it can.
    fields = DOCUMENT_FIELDS
    if not args.where and not args.sort:
        fields = [name for name in DOCUMENT_FIELDS if name != "configuration"]
    trials = query_trials(
        context.store, arguments.trial_query(args), context.settings.lease, fields
    )
    rows = [
        {
            "id": facts.id,
            "short_id": facts.short_id,
            "status": facts.status,
            "created": clock.iso(facts.field("created"), precise=True),
            "run_time": facts.field("run_time"),
            "tags": facts.field("tags"),
            "commandline": facts.field("command"),
            "parent": facts.field("parent"),
            "project": facts.field("project"),
        }
        for facts in trials.facts
    ]
    output_rows(context.stdout, args.format, _columns(), rows)
    return 0
