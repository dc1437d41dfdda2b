"""``kleio [run] [options] COMMAND...``: journal, protect, resume and branch an execution.

Also ``kleio run ID`` (resume a recorded trial in its folder) and ``kleio run --tags T``
with no command (a worker running every reservable trial tagged T, one after another).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil

from kleio.cli import arguments

_LOOKS_LIKE_ID = re.compile(r"[0-9a-fA-F]{1,32}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a command under Kleio (the default: `kleio python train.py`)",
        description="Run COMMAND under Kleio, resume the trial ID, or with --tags and no "
        "command, run every reservable trial with that tag.",
    )
    arguments.capture(parser)
    parser.add_argument(
        "--switch-over", action="store_true", help="run the trial even if it is broken"
    )
    arguments.run_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.errors import KleioError, UnknownTrial
    from kleio.core.trial import resolve_trial

    command = arguments.command_words(args)
    run = arguments.runner(args, context)
    if not command:
        if run.options.tags:
            if len(run.options.tags) != 1:
                raise KleioError("a worker runs the trials of one tag: give --tags T")
            return run.run_tagged(run.options.tags[0])
        raise KleioError("no command given: try `kleio python train.py` or `kleio run ID`")
    if len(command) == 1 and _LOOKS_LIKE_ID.fullmatch(command[0]):
        # An id or prefix (an ambiguous one is an error); a program or file of that name
        # that is no trial's id runs as a command.
        try:
            document = resolve_trial(context.store, command[0])
        except UnknownTrial:
            if not shutil.which(command[0]) and not os.path.exists(command[0]):
                raise
        else:
            return run.resume(document)
    return run.run_command(command, os.getcwd())
