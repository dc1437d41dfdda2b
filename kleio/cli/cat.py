"""``kleio cat ID``: what the trial printed, byte for byte."""

from __future__ import annotations

import argparse

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cat",
        help="print a trial's output (its parent's up to the branch point first)",
        description="Print what trial ID wrote on stdout (and stderr with --stderr), byte "
        "for byte, its parent's output up to the branch point first.",
        epilog="examples: kleio cat 3f9c2e0 | less; kleio cat --stderr 3f9c2e0; "
        "kleio cat --rank all 3f9c2e0",
    )
    arguments.trial_id(parser)
    parser.add_argument(
        "--stderr",
        action="store_true",
        help="interleave stderr with stdout, in the order they were written",
    )
    arguments.rank(parser)


def execute(args: argparse.Namespace, context) -> int:
    record = context.record(args.id)
    kinds = ("stdout", "stderr") if args.stderr else ("stdout",)
    out = context.stdout.buffer
    for chunk in record.output(kinds, rank=args.rank):
        out.write(chunk)
    out.flush()
    return 0
