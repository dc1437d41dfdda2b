"""``kleio branch [options] ID [options] --opt value ... [-- ...]``: a child trial with
options changed.

Kleio's options (``--timestamp``, ``--tags``, ``--no-run``, ``--allow-*``...) are Kleio's
before and after ID, up to ``--``; any other word after ID, and everything after
``--``, changes the script's options.
"""

from __future__ import annotations

import argparse

from kleio.cli import arguments, words


def split_words(
    parser: argparse.ArgumentParser, given: list[str]
) -> tuple[list[str], dict[str, list[str] | bool]]:
    """:func:`~kleio.cli.words.options_around_id`, and whether ``--`` separated the
    script's options (``separated``): then ``--name`` before it is surely Kleio's."""
    kleio, foreign = words.options_around_id(parser, given)
    return kleio, {**foreign, "separated": "--" in given}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "branch",
        help="branch a trial with options changed, from a point of its history",
        description="Create a child of trial ID whose command line has the given options "
        "replaced or added, starting from a point of the parent's history, and run it. "
        "Kleio's own options are Kleio's before and after ID, up to --; every other word "
        "after ID, and everything after --, changes the script's options.",
        epilog="examples: kleio branch 3f9c2e0 --timestamp epoch=10 --lr 0.01; "
        "kleio branch 3f9c2e0 -- --timestamp 3 (the script's own --timestamp)",
    )
    parser.add_argument(
        "--timestamp",
        metavar="KEY=VALUE|TIME",
        help="branch point: the last statistic where KEY equals VALUE, or an "
        "ISO time (default: the end of the parent)",
    )
    parser.add_argument(
        "--tags", metavar="A;B", help="tags added to the parent's"
    ).completer = arguments.complete_tags
    arguments.trial_name(parser, "the branch")
    arguments.capture(parser)
    arguments.execution(parser)
    arguments.working_dir(parser)
    parser.add_argument(
        "--no-run", action="store_true", help="record the branch without running it"
    )
    arguments.allow_changes(parser, "branch even if")
    arguments.trial_id(parser)
    parser.add_argument(
        "changes", nargs=argparse.REMAINDER, help="options of the script to change, e.g. --lr 0.01"
    )


def execute(args: argparse.Namespace, context) -> int:
    from kleio.cli.running import runner
    from kleio.core.model.trial import resolve_trial, short_id
    from kleio.core.running.branching import make_branch

    parent = resolve_trial(context.store, args.id)
    _check_name_is_kleios(args, parent)
    run = runner(args, context)
    branch = make_branch(run, parent, args.changes, args.timestamp)
    context.notify(f"branched trial {short_id(parent['_id'])} into trial {short_id(branch['_id'])}")
    if args.no_run:
        context.notify(f"trial saved with id: {branch['_id']}", plain=True)
        return 0
    return run.run(branch)


def _check_name_is_kleios(args: argparse.Namespace, parent) -> None:
    """``--name`` after the id is Kleio's (the branch's name); a script with an option
    ``--name`` of its own makes that a guess the user must not lose to: without ``--``
    to separate the script's options, it is refused."""
    from kleio.core.capture.resolved import resolved_configuration
    from kleio.core.model.errors import SettingsError
    from kleio.core.model.trial import short_id

    if args.trial_name is None or getattr(args, "separated", False):
        return
    commandline = parent.get("commandline") or []
    given = any(word == "--name" or word.startswith("--name=") for word in commandline)
    if given or "name" in resolved_configuration(parent):  # typed, or the parser's default
        label = short_id(parent["_id"])
        raise SettingsError(
            f"the script of trial {label} takes --name too: to name the branch write "
            f"`kleio branch {label} --name {args.trial_name} -- OPTIONS`, to change the "
            f"script's --name write `kleio branch {label} -- --name {args.trial_name}`"
        )
