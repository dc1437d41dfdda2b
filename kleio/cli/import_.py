"""``kleio import FILE``: the trials of an export, into this journal."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="add the trials of a `kleio export` file to this journal (again: adds nothing)",
    )
    parser.add_argument("file", metavar="FILE", help="a file written by kleio export")


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core import display
    from kleio.core.transfer import import_trials

    holds, added = import_trials(context.store, args.file)
    context.notify(
        f"{args.file} holds {holds.trials} trials, {holds.events:,} events and {holds.blobs} "
        f"blobs; new here: {added.trials} trials, {added.events:,} events, {added.blobs} blobs "
        f"({display.size(added.bytes)})"
    )
    return 0
