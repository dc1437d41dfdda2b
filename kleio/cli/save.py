"""``kleio save [options] COMMAND...``: record a trial without running it."""

from __future__ import annotations

import argparse
import os

from kleio.cli.messages import notify
from kleio.cli.run import _command, add_run_options, run_options
from kleio.core.errors import KleioError
from kleio.core.execution import Runner
from kleio.core.status import observed_status
from kleio.core.trial import short_id


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "save", help="record a trial without running it (run it later with `kleio run ID`)"
    )
    add_run_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    command = _command(args)
    if not command:
        raise KleioError("no command given: try `kleio save python train.py --lr 0.1`")
    runner = Runner(context.store, context.settings, dict(os.environ), notify, run_options(args))
    document = runner.save_command(command, os.getcwd())
    status = observed_status(document, context.settings.lease)
    if status == "new":
        notify(f"trial saved with id: {document['_id']}", plain=True)
    else:
        notify(f"trial {short_id(document['_id'])} already exists ({status}): {document['_id']}")
    return 0
