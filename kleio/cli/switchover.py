"""``kleio switchover ID``: let a broken trial run again."""

from __future__ import annotations

import argparse

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "switchover",
        help="allow a broken trial to run again",
        description="Let broken trial ID run once more: its command, or `kleio run ID`, "
        "resumes it.",
        epilog="example: kleio switchover 3f9c2e0 && kleio run 3f9c2e0",
    )
    arguments.trial_id(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.status import switch_over
    from kleio.core.model.trial import resolve_trial, short_id

    document = resolve_trial(context.store, args.id)
    switch_over(context.store, document["_id"])
    label = short_id(document["_id"])
    context.notify(f"trial {label} may run again: `kleio run {label}` or its command resumes it")
    return 0
