"""``kleio sweep [options] COMMAND...``: save the trials of a study without running them.

A command of its own rather than words under ``kleio save``: ``save`` records a command
as it is written, and a script that takes ``--layers [64,64]`` as a JSON list must not
find its one trial made into two because Kleio grew a sweep grammar.
"""

from __future__ import annotations

import argparse
import os
import sys

from kleio.cli import arguments, words

split_words = words.command_after_options

#: Trials a sweep saves without ``--yes`` (or a yes on a terminal).
ASK_ABOVE = 1000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="save the trials of a study: every point of the values swept in COMMAND",
        description="Expand the sweep expressions of COMMAND ([0.1,0.01], range(5), "
        "linspace(a,b,n), logspace(a,b,n), uniform(a,b), loguniform(a,b), choice(a,b), "
        "randint(a,b)) into commands, and save the trial of each in a study, without "
        "running it: the same trial, with the same id, as the plain command makes. Run "
        "them with `kleio run --study NAME` (as many workers as you like). Kleio's options "
        "come before COMMAND (or before --); every word from COMMAND on is the script's.",
        epilog="examples: kleio sweep python train.py --lr [0.1,0.01,0.001] --seed range(3); "
        "kleio sweep --samples 20 --sample-seed 1 python train.py --lr 'loguniform(1e-4,1e-1)'",
    )
    parser.add_argument(
        "--samples",
        type=_positive,
        metavar="N",
        help="points drawn at random for the random forms (uniform, loguniform, choice, "
        "randint), each crossed with the grid",
    )
    parser.add_argument(
        "--sample-seed",
        type=int,
        metavar="S",
        help="the seed of the random points: the same seed draws the same points",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the commands of the trials and their count; save nothing",
    )
    parser.add_argument(
        "--yes", action="store_true", help=f"save more than {ASK_ABOVE:,} trials without asking"
    )
    arguments.run_options(
        parser,
        study_help="the study's name (default: the script's and the keys swept, train-lr-seed)",
        named=False,
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of points, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of points >= 1, not {text!r}")
    return value


def execute(args: argparse.Namespace, context) -> int:
    from kleio.cli.running import is_program, runner
    from kleio.core.model.commandline import shell_join
    from kleio.core.model.errors import KleioError
    from kleio.core.model.sweep import MAX_COMMANDS, count, expand, swept
    from kleio.core.running.study import check_study, default_study, save_study

    command = args.command
    if not command:
        raise KleioError(
            "no command given: try `kleio sweep python train.py --lr [0.1,0.01] --seed range(3)`"
        )
    if not is_program(command[0]):
        from kleio.cli.suggestions import command_not_found

        raise command_not_found(command[0])
    dimensions = swept(command)
    if not dimensions:
        raise KleioError(
            "nothing to sweep in the command: write the values of an option as [a,b,c], "
            "range(n), linspace(a,b,n)... (see `kleio sweep --help`), or save one trial "
            "with `kleio save`"
        )
    total = count(command, args.samples)
    if total > MAX_COMMANDS:
        raise KleioError(
            f"this sweep makes {total:,} trials, more than the {MAX_COMMANDS:,} one sweep may save"
        )
    study = (
        check_study(args.study)
        if args.study is not None
        else default_study(command, [d.name for d in dimensions])
    )
    commands = expand(command, samples=args.samples, sample_seed=args.sample_seed, limit=None)
    # Two random draws may round to one value: one command, one trial.
    commands = [list(argv) for argv in dict.fromkeys(map(tuple, commands))]
    if args.dry_run:
        for argv in commands:
            context.stdout.write(shell_join(argv) + "\n")
        context.notify(f"{_trials(len(commands))} in study {study} (--dry-run: nothing saved)")
        return 0
    if len(commands) > ASK_ABOVE and not args.yes and not _agreed(len(commands), study):
        raise KleioError(
            f"this sweep makes {len(commands):,} trials: give --yes to save them "
            "(--dry-run lists them)"
        )
    args.study = study
    saved = save_study(runner(args, context), commands, os.getcwd(), study)
    _report(context, saved, len(commands), study)
    return 0


def _trials(n: int) -> str:
    return "1 trial" if n == 1 else f"{n:,} trials"


def _agreed(total: int, study: str) -> bool:
    """A yes to the question, on a terminal; no elsewhere."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write(f"kleio: save {total:,} trials in study {study}? [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        return False
    return answer.strip().lower() in ("y", "yes")


def _report(context, saved, total: int, study: str) -> None:
    parts = [f"{saved.made:,} saved" if saved.made != 1 else "1 saved"]
    if saved.joined:
        parts.append(f"{saved.joined:,} saved before, now in the study")
    if saved.kept:
        parts.append(f"{saved.kept:,} in the study already")
    if saved.elsewhere:
        from kleio.core.model.trial import short_id

        named = ", ".join(short_id(trial) for trial in saved.elsewhere[:3])
        more = "..." if len(saved.elsewhere) > 3 else ""
        parts.append(f"{len(saved.elsewhere):,} in another study ({named}{more})")
    context.notify(f"study {study}: {_trials(total)}, {'; '.join(parts)}")
    if saved.made or saved.joined:
        context.notify(f"run them with `kleio run --study {study}` (as many workers as you like)")
