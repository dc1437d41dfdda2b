"""``kleio [run] [options] COMMAND...``: journal, protect, resume and branch an execution.

Also ``kleio run ID`` (resume a recorded trial in its folder) and ``kleio run --tags T``
with no command (a worker running every reservable trial tagged T, one after another).

The first word of the command decides what it is, in this order: an existing program
or path runs; a trial id (or unique prefix), or a trial's name, that is no program
resumes that trial;
anything else is refused with exit status 127, and no trial is recorded (a mistyped
Kleio command must not run, nor leave a broken trial).
"""

from __future__ import annotations

import argparse
import os
import re

from kleio.cli import arguments, words

#: A word that may be a trial id (re compiles it on first use: a run never asks).
_LOOKS_LIKE_ID = r"[0-9a-fA-F]{1,32}"

split_words = words.command_after_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a command under Kleio (the default: `kleio python train.py`)",
        description="Run COMMAND under Kleio, resume the trial ID, or with --tags and no "
        "command, run every reservable trial with that tag. Kleio's options come before "
        "COMMAND (or before --); every word from COMMAND on is the script's.",
        epilog="examples: kleio run python train.py --lr 0.1; kleio run --tags sweep; "
        "kleio run 3f9c2e0; kleio run rm -r old/ (the program rm, not a Kleio command)",
    )
    arguments.capture(parser)
    parser.add_argument(
        "--switch-over", action="store_true", help="run the trial even if it is broken"
    )
    arguments.execution(parser)
    parser.add_argument(
        "--jobs",
        type=arguments.counted("workers", 256),
        default=1,
        metavar="K",
        help="with --study or --tags and no command: run K trials at once, each output "
        "journalled apart, a line of progress per trial",
    )
    arguments.run_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.cli.running import is_program, runner
    from kleio.core.model.errors import KleioError, UnknownTrial
    from kleio.core.model.trial import resolve_trial

    command = args.command
    run = runner(args, context)
    if not command:
        options = run.options
        if options.tags or options.study is not None:
            if options.tags and options.study is not None:
                raise KleioError("a worker runs the trials of a study or of a tag, not both")
            if len(options.tags) > 1:
                raise KleioError("a worker runs the trials of one tag: give --tags T")
            if options.name is not None:
                raise KleioError(
                    "--name names one trial, and a worker (kleio run --study S) runs many: "
                    "name each with `kleio name ID NAME`"
                )
            search = _study_to_run(context.store, options.study)
            if args.jobs > 1:
                import sys

                from kleio.cli.jobs import run_jobs

                chosen = {"study": options.study} if options.study else {"tags": options.tags}
                what = f"of study {options.study}" if options.study else f"tagged {options.tags[0]}"
                return run_jobs(context, args.jobs, chosen, what, sys.argv[1:])
            if options.study is not None:
                if search is not None:  # an adaptive study: Optuna chooses its points
                    from kleio.integrations.optuna_search import optimize

                    return optimize(run, search)
                return run.run_study(options.study)
            return run.run_tagged(options.tags[0])
        raise KleioError("no command given: try `kleio python train.py` or `kleio run ID`")
    if args.jobs > 1:
        raise KleioError("--jobs runs the trials of a study or a tag: give --study S or --tags T")
    if is_program(command[0]):
        return run.run_command(command, os.getcwd())
    from kleio.core.model.names import could_be_name  # not on a run's path

    if len(command) == 1 and (
        re.fullmatch(_LOOKS_LIKE_ID, command[0]) or could_be_name(command[0])
    ):
        try:  # an ambiguous prefix is an error that lists the candidates
            document = resolve_trial(context.store, command[0])
        except UnknownTrial:
            pass
        else:
            return run.resume(document)
    from kleio.cli.suggestions import command_not_found

    raise command_not_found(command[0], args.kleio_commands if args.implicit else ())


def _study_to_run(store, study: str | None):
    """The adaptive search of ``study`` (:mod:`kleio.core.model.search`), or None; a
    study that holds no trial and no search is a typo, refused in one line."""
    if study is None:
        return None
    from kleio.core.model.errors import KleioError
    from kleio.core.model.search import read_search

    search = read_search(store, study)
    if search is None and not store.find_trials(study=study, fields=["_id"], limit=1):
        raise KleioError(
            f"no study named {study}: `kleio studies` lists them, `kleio sweep --study "
            f"{study} COMMAND` saves one"
        )
    return search
