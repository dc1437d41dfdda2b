"""``kleio import FILE``: the trials of an export, into this journal."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="add the trials of a `kleio export` file to this journal (again: adds nothing)",
        description="Import trials exported by kleio export into the current journal; ids, "
        "lineage, statistics, output and artifacts come back identical, and importing a "
        "file twice adds nothing. The file is checked whole first (any damaged or "
        "foreign member refuses it, and nothing is imported); only trials new to this "
        "journal are added: one it holds already is left as it is.",
        epilog="examples: kleio import sweep.kleio",
    )
    parser.add_argument("file", metavar="FILE", help="a file written by kleio export")


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.curation.transfer import import_trials
    from kleio.core.reading import readable

    imported = import_trials(context.store, args.file)
    holds, added = imported.holds, imported.added
    for trial_id in imported.different:
        context.notify(
            f"warning: trial {trial_id[:7]} of {args.file} differs from the trial with its id "
            "in this journal: that one is left as it is, and nothing of the file's is added"
        )
    held = [readable.count(holds.trials, "trial"), readable.count(holds.events, "event")]
    new = [readable.count(added.trials, "trial"), readable.count(added.events, "event")]
    present = (
        f"; {readable.count(len(imported.present), 'trial')} here already, left as they are"
        if imported.present
        else ""
    )
    context.notify(
        f"{args.file} holds {', '.join(held)} and {readable.count(holds.blobs, 'blob')}; new "
        f"here: {', '.join(new)}, {readable.count(added.blobs, 'blob')} "
        f"({readable.size(added.bytes)}){present}"
    )
    for trial_id, name in added.unnamed:
        context.notify(
            f"trial {trial_id[:7]} imported without its name {name!r}: another trial here has "
            f"it (name it with `kleio name {trial_id[:7]} NAME`)"
        )
    return 0
