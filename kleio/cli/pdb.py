"""``kleio pdb ID``: a Python debugger session with the trial loaded as ``trial``."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pdb", help="open a debugger (pdb) with the trial loaded as `trial`"
    )
    parser.add_argument("id", help="trial id or unique prefix")


def execute(args: argparse.Namespace, context) -> int:
    import bdb
    import pdb

    from kleio.cli.context import trial_record
    from kleio.client.api import Trial

    trial = Trial(trial_record(context, args.id))
    print(
        f"kleio: trial {trial.id} ({trial.status}) is loaded as `trial`: try trial.statistics,"
        " trial.configuration, trial.executions, trial.stdout; `c` or Ctrl-D leaves",
        file=sys.stderr,
        flush=True,
    )
    debugger = pdb.Pdb()
    debugger.prompt = "(kleio-pdb) "
    try:
        debugger.set_trace()
        _ = trial  # the session runs in this frame: `trial` is a local there
    except bdb.BdbQuit:  # `q`, or Ctrl-D at the prompt: leaving is not an error
        pass
    return 0
