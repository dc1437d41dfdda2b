"""``kleio branch [options] ID --opt value ...``: a child trial with options changed."""

from __future__ import annotations

import argparse
import os

from kleio.cli.messages import notify
from kleio.cli.run import split_tags
from kleio.core.branching import make_branch
from kleio.core.execution import Runner, RunOptions
from kleio.core.trial import resolve_trial, short_id


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "branch",
        help="branch a trial with options changed, from a point of its history",
        description="Create a child of trial ID whose command line has the given options "
        "replaced or added, starting from a point of the parent's history, and run it. "
        "Kleio's own options come before ID; everything after ID changes the script's.",
    )
    parser.add_argument(
        "--timestamp",
        metavar="KEY=VALUE|TIME",
        help="branch point: the last statistic where KEY equals VALUE, or an "
        "ISO time (default: the end of the parent)",
    )
    parser.add_argument("--tags", metavar="A;B", help="tags added to the parent's")
    parser.add_argument(
        "--capture", action="store_true", help="journal the output without echoing it"
    )
    parser.add_argument(
        "--no-run", action="store_true", help="record the branch without running it"
    )
    parser.add_argument("id", help="trial id or unique prefix")
    parser.add_argument(
        "changes", nargs=argparse.REMAINDER, help="options of the script to change, e.g. --lr 0.01"
    )


def execute(args: argparse.Namespace, context) -> int:
    parent = resolve_trial(context.store, args.id)
    options = RunOptions(tags=split_tags(args.tags), capture=args.capture)
    changes = args.changes[1:] if args.changes[:1] == ["--"] else args.changes
    runner = Runner(context.store, context.settings, dict(os.environ), notify, options)
    branch = make_branch(runner, parent, changes, args.timestamp)
    notify(f"branched trial {short_id(parent['_id'])} into trial {short_id(branch['_id'])}")
    if args.no_run:
        notify(f"trial saved with id: {branch['_id']}", plain=True)
        return 0
    return runner.run(branch)
