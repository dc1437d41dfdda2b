"""``kleio ls``: the trials of the journal, newest first."""

from __future__ import annotations

import argparse

from kleio.cli import arguments
from kleio.cli.output import Column, display_of, output_options, output_rows

#: What a listing needs of each document: parsing whole documents is what makes
#: listing slow, since environments and diffs are large.
_FIELDS = [
    "status",
    "heartbeat",
    "created",
    "started",
    "run_time",
    "tags",
    "commandline",
    "refers",
    "project",
]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ls",
        help="list trials, newest first",
        description="List the trials of the journal, newest first: id, status, creation "
        "time, run time, tags and command.",
        epilog="examples: kleio ls --tags sweep --status broken,lost; kleio ls --format csv",
    )
    arguments.selection(parser)
    output_options(parser, json_alias=True)


def _columns() -> list[Column]:
    from kleio.core import clock

    return [
        Column("short_id", "ID"),
        Column("status", "STATUS", status=True),
        Column("created", "CREATED", time=True),
        Column("run_time", "RUN TIME", clock.duration),
        Column("tags", "TAGS", ",".join, fit=True),
        Column("commandline", "COMMAND", fit=True),
    ]


def execute(args: argparse.Namespace, context) -> int:
    import shlex

    from kleio.core.selection import Selection, select_trials
    from kleio.core.status import run_time
    from kleio.core.trial import short_id

    selection = Selection(
        tags=arguments.split_tags(args.tags),
        statuses=arguments.split_statuses(args.status),
        project=args.project,
    )
    rows = [
        {
            "id": document["_id"],
            "short_id": short_id(document["_id"]),
            "status": status,
            "created": document.get("created"),
            "run_time": run_time(document, status),
            "tags": document.get("tags") or [],
            "commandline": shlex.join(document.get("commandline") or []),
            "parent": (document.get("refers") or {}).get("parent"),
            "project": document.get("project"),
        }
        for document, status in select_trials(
            context.store, selection, context.settings.lease, fields=_FIELDS
        )
    ]
    output_rows(context.stdout, args.format, _columns(), rows, display_of(args, context.stdout))
    return 0
