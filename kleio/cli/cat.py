"""``kleio cat ID``: what the trial printed, byte for byte."""

from __future__ import annotations

import argparse
import sys

from kleio.cli.context import trial_record


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cat", help="print a trial's output (its parent's up to the branch point first)"
    )
    parser.add_argument("id", help="trial id or unique prefix")
    parser.add_argument(
        "--stderr",
        action="store_true",
        help="interleave stderr with stdout, in the order they were written",
    )


def execute(args: argparse.Namespace, context) -> int:
    record = trial_record(context, args.id)
    kinds = ("stdout", "stderr") if args.stderr else ("stdout",)
    out = sys.stdout.buffer
    for chunk in record.output(kinds):
        out.write(chunk)
    out.flush()
    return 0
