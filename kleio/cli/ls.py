"""``kleio ls``: the trials of the journal, newest first."""

from __future__ import annotations

import argparse

from kleio.cli import arguments
from kleio.cli.output import Column, display_of, output_options, output_rows


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ls",
        help="list trials, newest first",
        description="List the trials of the journal, newest first: id, name (when a "
        "trial listed has one), status, creation time, run time, tags and command.",
        epilog="examples: kleio ls --tags sweep --status broken,lost; "
        "kleio ls --where 'loss:min<0.1' --sort created -n 5; kleio ls --format csv",
    )
    arguments.trial_ids(parser)
    arguments.selection(parser)
    arguments.query_options(parser)
    output_options(parser)


def _columns(named: bool) -> list[Column]:
    """The columns of a listing; a NAME after the id when a trial listed has a name."""
    from kleio.core.model import clock

    return [
        Column("short_id", "ID"),
        *([Column("name", "NAME")] if named else []),  # never cut: it names a trial
        Column("status", "STATUS", status=True),
        Column("created", "CREATED", time=True),
        Column("run_time", "RUN TIME", clock.duration),
        Column("tags", "TAGS", ",".join, fit=True),
        Column("commandline", "COMMAND", fit=True),
    ]


def execute(args: argparse.Namespace, context) -> int:
    import gc

    # A listing makes some 20 objects a trial and frees none of them in a cycle: the
    # collector's passes over them took 10 % of listing 10,000 trials (26 ms).
    gc.disable()
    try:
        return _list(args, context)
    finally:
        gc.enable()


def _list(args: argparse.Namespace, context) -> int:
    from kleio.core.model.catalogue import LISTED_FIELDS
    from kleio.core.reading.query import DOCUMENT_FIELDS, query_trials

    # The configuration is read only when a condition or an order may need it: a listing
    # reads the fields a store keeps for listings, not the documents.
    fields = DOCUMENT_FIELDS if args.where or args.sort else LISTED_FIELDS
    trials = query_trials(
        context.store, arguments.trial_query(args), context.settings.lease, fields, ranked=True
    )
    rows = [facts.listing() for facts in trials.facts]
    context.warn_skipped(trials.skipped)
    if rows or args.format != "table":  # JSON and CSV stay whole: `[]`, the header
        columns = _columns(named=any([row["name"] for row in rows]))
        output_rows(context.stdout, args.format, columns, rows, display_of(args, context.stdout))
    if not rows:
        from kleio.core.reading.selection import nothing_selected

        context.notify(nothing_selected(context.store))
    return 0
