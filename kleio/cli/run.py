"""``kleio [run] [options] COMMAND...``: journal, protect, resume and branch an execution.

Also ``kleio run ID`` (resume a recorded trial in its folder) and ``kleio run --tags T``
with no command (a worker running every reservable trial tagged T, one after another).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil

from kleio.cli.messages import notify
from kleio.core.errors import KleioError, UnknownTrial
from kleio.core.execution import Runner, RunOptions
from kleio.core.trial import resolve_trial

_LOOKS_LIKE_ID = re.compile(r"[0-9a-fA-F]{1,32}")


def split_tags(text: str | None) -> list[str]:
    """``"a;b"`` or ``"a,b"`` -> ``["a", "b"]``."""
    if not text:
        return []
    return [tag.strip() for tag in re.split(r"[;,]", text) if tag.strip()]


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tags", metavar="A;B", help="tags of the trial, separated by ; or ,")
    parser.add_argument("--project", help="project name (default: the git repository's folder)")
    parser.add_argument(
        "--allow-code-change",
        action="store_true",
        help="branch the trial if the code changed since it was recorded",
    )
    parser.add_argument(
        "--allow-env-change",
        action="store_true",
        help="branch the trial if the environment changed",
    )
    parser.add_argument("--allow-any-change", action="store_true", help="both of the above")
    parser.add_argument(
        "--config",
        dest="run_config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="Kleio settings file (YAML)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="the command to run, e.g. python train.py --lr 0.1",
    )


def run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        tags=split_tags(args.tags),
        project=args.project,
        capture=getattr(args, "capture", False),
        switch_over=getattr(args, "switch_over", False),
        allow_code_change=args.allow_code_change or args.allow_any_change,
        allow_env_change=args.allow_env_change or args.allow_any_change,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a command under Kleio (the default: `kleio python train.py`)",
        description="Run COMMAND under Kleio, resume the trial ID, or with --tags and no "
        "command, run every reservable trial with that tag.",
    )
    parser.add_argument(
        "--capture", action="store_true", help="journal the output without echoing it"
    )
    parser.add_argument(
        "--switch-over", action="store_true", help="run the trial even if it is broken"
    )
    add_run_options(parser)


def _command(args: argparse.Namespace) -> list[str]:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return command


def execute(args: argparse.Namespace, context) -> int:
    options = run_options(args)
    command = _command(args)
    runner = Runner(context.store, context.settings, dict(os.environ), notify, options)
    if not command:
        if options.tags:
            if len(options.tags) != 1:
                raise KleioError("a worker runs the trials of one tag: give --tags T")
            return runner.run_tagged(options.tags[0])
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
            return runner.resume(document)
    return runner.run_command(command, os.getcwd())
