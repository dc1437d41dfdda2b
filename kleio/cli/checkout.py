"""``kleio checkout ID DIR``: the code a trial ran, rebuilt in a folder."""

from __future__ import annotations

import argparse

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "checkout",
        help="rebuild the code a trial ran in a new folder (a git worktree or clone at its "
        "commit, with its uncommitted changes) and print the command to run there",
        description="Rebuild the code a trial ran in DIR: a git worktree (or clone) of its "
        "repository at the recorded commit, with its recorded uncommitted changes applied; "
        "print the command to run there.",
        epilog="examples: kleio checkout 3f9c2e0 ../best-run",
    )
    arguments.trial_id(parser)
    parser.add_argument("folder", metavar="DIR", help="a new or empty folder")


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.reading.repository import checkout_trial

    record = context.record(args.id)
    done = checkout_trial(context.store, record.document, args.folder)
    context.notify(f"trial {record.short_id}'s code is in {done.folder} ({done.how})")
    for name in done.not_restored:
        context.notify(f"not restored: {name}")
    context.stdout.write(done.command + "\n")
    return 0
