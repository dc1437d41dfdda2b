"""``kleio save [options] COMMAND...``: record a trial without running it."""

from __future__ import annotations

import argparse
import os

from kleio.cli import arguments, words

split_words = words.command_after_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "save",
        help="record a trial without running it (run it later with `kleio run ID`)",
        description="Record the trial of COMMAND without running it. Kleio's options come "
        "before COMMAND (or before --); every word from COMMAND on is the script's.",
        epilog="example: kleio save --tags sweep python train.py --lr 0.1",
    )
    arguments.run_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.cli.running import is_program, runner
    from kleio.core.model.errors import KleioError
    from kleio.core.model.status import observed_status
    from kleio.core.model.trial import short_id

    command = args.command
    if not command:
        raise KleioError("no command given: try `kleio save python train.py --lr 0.1`")
    if not is_program(command[0]):
        from kleio.cli.suggestions import command_not_found

        raise command_not_found(command[0])
    document = runner(args, context).save_command(command, os.getcwd())
    status = observed_status(document, context.settings.lease)
    if status == "new":
        context.notify(f"trial saved with id: {document['_id']}", plain=True)
    else:
        context.notify(
            f"trial {short_id(document['_id'])} already exists ({status}): {document['_id']}"
        )
    return 0
