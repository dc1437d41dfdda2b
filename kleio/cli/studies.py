"""``kleio studies``: the studies of the journal, their trials by status, the best so far."""

from __future__ import annotations

import argparse

from kleio.cli import arguments
from kleio.cli.output import Column, display_of, output_options, output_rows, readable


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "studies",
        help="list the studies (sweeps): their trials by status and the best so far",
        description="One row per study saved by `kleio sweep`: its name, its trials by "
        "status, and its best trial so far by --best (a statistic summary or a "
        "configuration key; -KEY for the highest), among the trials that hold it.",
        epilog="examples: kleio studies; kleio studies --best -acc:max; "
        "kleio compare --study NAME --group-by lr",
    )
    arguments.study(parser, "only this study")
    parser.add_argument(
        "--best",
        metavar="[-]KEY",
        help="what the best trial is: the lowest KEY, or with -KEY the highest "
        "(default: the objective of a study of kleio sweep --optimize, else loss:min, "
        "when the study's trials log a loss)",
    )
    output_options(parser)


def execute(args: argparse.Namespace, context) -> int:
    from kleio.core.model.status import STATUSES
    from kleio.core.model.trial import short_id
    from kleio.core.reading.studies import list_studies

    skipped: list = []
    if args.study is not None:
        from kleio.core.running.study import check_study

        check_study(args.study)
    rows = list_studies(
        context.store, context.settings.lease, args.best, args.study, skipped=skipped
    )
    context.warn_skipped(skipped)
    if args.study is not None and not rows:
        from kleio.core.model.errors import KleioError

        raise KleioError(f"no study named {args.study}: `kleio studies` lists them")
    key = rows[0]["best_key"] if rows else (args.best or "loss:min").lstrip("-")
    if args.format != "table":
        columns = [
            Column(name, name)
            for name in ("study", "trials", *STATUSES, "best_key", "best", "best_trial")
        ]
        output_rows(context.stdout, args.format, columns, rows)
        return 0
    if not rows:
        context.notify(
            "no study yet: save one with "
            "`kleio sweep python train.py --lr '[0.1,0.01]' --seed 'range(3)'`"
        )
        return 0
    # Only the statuses some study has trials in: seven mostly empty columns hide the best.
    shown = [status for status in STATUSES if any(row[status] for row in rows)]
    for row in rows:
        row["best_trial"] = short_id(row["best_trial"]) if row["best_trial"] else None
    columns = [
        Column("study", "STUDY"),
        Column("trials", "TRIALS"),
        *(Column(status, status.upper(), lambda n: str(n) if n else "-") for status in shown),
        Column("best", f"BEST {key}", readable),
        Column("best_trial", "BEST TRIAL"),
    ]
    output_rows(context.stdout, "table", columns, rows, display_of(args, context.stdout))
    return 0
