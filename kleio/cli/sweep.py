"""``kleio sweep [options] COMMAND...``: save the trials of a study without running them.

A command of its own rather than words under ``kleio save``: ``save`` records a command
as it is written, and a script that takes ``--layers [64,64]`` as a JSON list must not
find its one trial made into two because Kleio grew a sweep grammar.

With ``--optimize KEY --budget N`` it saves no trial: it defines an adaptive study, whose
workers ask Optuna for each point (:mod:`kleio.integrations.optuna_search`).
"""

from __future__ import annotations

import argparse
import os
import sys

from kleio.cli import arguments, words

split_words = words.command_after_options

#: Trials a sweep saves without ``--yes`` (or a yes on a terminal).
ASK_ABOVE = 1000
#: The samplers of --optimize (as kleio.core.model.search names them: --help loads no core).
SAMPLERS = ("tpe", "random", "cmaes", "qmc")
#: The largest budget (kleio.core.model.search.MAX_BUDGET).
MAX_BUDGET = 100_000


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
        "kleio sweep --samples 20 --sample-seed 1 python train.py --lr 'loguniform(1e-4,1e-1)'; "
        "kleio sweep --optimize loss:min --budget 50 python train.py --lr 'loguniform(1e-4,1e-1)'",
    )
    parser.add_argument(
        "--samples",
        type=arguments.counted("points"),
        metavar="N",
        help="points drawn at random for the random forms (uniform, loguniform, choice, "
        "randint), each crossed with the grid",
    )
    parser.add_argument(
        "--sample-seed",
        type=int,
        metavar="S",
        help="the seed of the random points: the same seed draws the same points "
        "(with --optimize, the sampler's seed)",
    )
    parser.add_argument(
        "--optimize",
        metavar="[-]KEY",
        help="save no trial: workers (kleio run --study NAME) ask Optuna for each point and "
        "tell it the trial's KEY, a statistic summary as --sort reads it (loss:min; "
        "loss for loss:last), the lowest sought, or with -KEY the highest (-acc:max); "
        "needs --budget and kleio[optuna]",
    )
    parser.add_argument(
        "--budget",
        type=arguments.counted("trials", MAX_BUDGET),
        metavar="N",
        help="with --optimize: the points the study tries, failed ones included",
    )
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        help="with --optimize: Optuna's sampler (default: tpe; cmaes needs cmaes, qmc scipy)",
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
    study = (
        check_study(args.study)
        if args.study is not None
        else default_study(command, [d.name for d in dimensions])
    )
    if args.optimize is not None or args.budget is not None or args.sampler is not None:
        return _define(args, context, command, study)
    total = count(command, args.samples)
    if total > MAX_COMMANDS:
        raise KleioError(
            f"this sweep makes {total:,} trials, more than the {MAX_COMMANDS:,} one sweep may save"
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
    from kleio.core.model.search import read_search

    if read_search(context.store, study) is not None:
        raise KleioError(
            f"study {study} is an adaptive study (kleio sweep --optimize): its workers "
            "choose its points; give this sweep another --study NAME"
        )
    args.study = study
    saved = save_study(runner(args, context), commands, os.getcwd(), study)
    _report(context, saved, len(commands), study)
    return 0


def _define(args: argparse.Namespace, context, command: list[str], study: str) -> int:
    """``kleio sweep --optimize KEY --budget N``: define the adaptive study (once)."""
    from kleio.core.model.errors import KleioError
    from kleio.core.model.search import Search, parse_objective, read_search, save_search

    if args.optimize is None:
        given = "--budget" if args.budget is not None else "--sampler"
        raise KleioError(f"{given} goes with --optimize KEY: the statistic the study seeks")
    if args.budget is None:
        raise KleioError("--optimize needs --budget N: how many points the study tries")
    if args.samples is not None:
        raise KleioError(
            "--samples draws points at random; with --optimize the sampler chooses "
            "them: give --budget N alone"
        )
    if args.tags:
        raise KleioError("--tags goes with a sweep of saved trials, not with --optimize")
    objective, maximize = parse_objective(args.optimize)
    search = Search(
        study,
        command,
        os.getcwd(),
        args.project,
        objective,
        maximize,
        args.budget,
        args.sampler or "tpe",
        args.sample_seed,
    )
    from kleio.integrations.optuna_search import create_study, search_space, study_progress

    space = search_space(search)  # a grid too big, a bad form: said before anything is written
    if args.dry_run:
        context.stdout.write(f"study {study}: {search.describe()}\n")
        from kleio.core.model.commandline import shell_join

        context.stdout.write(f"command: {shell_join(command)}\n")
        for name, (_, distribution) in space.items():
            context.stdout.write(f"  {name}: {distribution}\n")
        context.notify(f"study {study} (--dry-run: nothing saved)")
        return 0
    if read_search(context.store, study) is None and context.store.find_trials(
        study=study, limit=1, fields=["study"]
    ):
        raise KleioError(
            f"study {study} holds trials a sweep saved: give the adaptive study another "
            "--study NAME"
        )
    search, made = save_search(context.store, search)
    told = study_progress(create_study(context.store, search))
    if made:
        context.notify(f"study {study}: {search.describe()}")
        context.notify(f"run it with `kleio run --study {study}` (as many workers as you like)")
    else:
        context.notify(f"study {study} exists: {told} of {search.budget:,} trials run")
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
