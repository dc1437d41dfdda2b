"""``kleio pdb ID``: a Python debugger session with the trial loaded as ``trial``."""

from __future__ import annotations

import argparse

from kleio.cli import arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pdb",
        help="open a debugger (pdb) with the trial loaded as `trial`",
        description="Open a pdb session where `trial` is trial ID, as the Python API loads "
        "it: trial.statistics, trial.configuration, trial.executions, trial.stdout.",
        epilog="example: kleio pdb 3f9c2e0, then `p trial.statistics[-1]`",
    )
    arguments.trial_id(parser)


def execute(args: argparse.Namespace, context) -> int:
    import bdb
    import pdb

    from kleio.client.api import Trial

    trial = Trial(context.record(args.id))
    context.notify(
        f"trial {trial.id} ({trial.status}) is loaded as `trial`: try trial.statistics,"
        " trial.configuration, trial.executions, trial.stdout; `c` or Ctrl-D leaves"
    )
    debugger = pdb.Pdb()
    debugger.prompt = "(kleio-pdb) "
    try:
        debugger.set_trace()
        _ = trial  # the session runs in this frame: `trial` is a local there
    except bdb.BdbQuit:  # `q`, or Ctrl-D at the prompt: leaving is not an error
        pass
    return 0
