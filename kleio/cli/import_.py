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
    from kleio.core.curation.transfer import import_trials
    from kleio.core.reading import readable

    holds, added = import_trials(context.store, args.file)
    held = [readable.count(holds.trials, "trial"), readable.count(holds.events, "event")]
    new = [readable.count(added.trials, "trial"), readable.count(added.events, "event")]
    context.notify(
        f"{args.file} holds {', '.join(held)} and {readable.count(holds.blobs, 'blob')}; new "
        f"here: {', '.join(new)}, {readable.count(added.blobs, 'blob')} "
        f"({readable.size(added.bytes)})"
    )
    for trial_id, name in added.unnamed:
        context.notify(
            f"trial {trial_id[:7]} imported without its name {name!r}: another trial here has "
            f"it (name it with `kleio name {trial_id[:7]} NAME`)"
        )
    return 0
