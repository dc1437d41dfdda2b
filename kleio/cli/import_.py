"""``kleio import FILE``: the trials of an export, into this journal."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="add the trials of a `kleio export` file to this journal (again: adds nothing)",
        description="Import trials exported by kleio export into the current journal; ids, "
        "lineage, statistics, output and artifacts come back identical, and importing a "
        "file twice adds nothing.",
        epilog="examples: kleio import sweep.kleio",
    )
    parser.add_argument("file", metavar="FILE", help="a file written by kleio export")


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core import display
    from kleio.core.transfer import import_trials

    holds, added = import_trials(context.store, args.file)
    held = [display.count(holds.trials, "trial"), display.count(holds.events, "event")]
    new = [display.count(added.trials, "trial"), display.count(added.events, "event")]
    context.notify(
        f"{args.file} holds {', '.join(held)} and {display.count(holds.blobs, 'blob')}; new "
        f"here: {', '.join(new)}, {display.count(added.blobs, 'blob')} "
        f"({display.size(added.bytes)})"
    )
    return 0
