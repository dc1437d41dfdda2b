"""Arguments several commands share, each defined once with what it reads as: a trial
id, a selection of trials (read as a :class:`~kleio.core.reading.query.Query`), tags, the
options of a run and the command it runs.

Registering arguments loads no behaviour: ``kleio --help`` and ``kleio ls`` never import
the launcher. Where Kleio's words end and the script's begin is :mod:`kleio.cli.words`;
what a run makes of its options, :mod:`kleio.cli.running`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

# The help of every command is built from these definitions, so they import nothing of
# the domain: the statuses and the identity components are written out below, and
# tests/cli/test_arguments.py checks that they are the domain's. Their modules would
# bring the store's contract (dataclasses, json, uuid) and 19 of Kleio's modules into
# `kleio --help`.

#: The statuses ``--status`` accepts (:data:`kleio.core.model.status.STATUSES`).
STATUSES = ("new", "reserved", "running", "completed", "broken", "interrupted", "lost")
#: The identity component each ``--allow-*-change`` lets change, by option
#: (:data:`kleio.core.capture.snapshot.COMPONENTS`, their ``option`` and ``name``).
CHANGES = {"--allow-code-change": "code", "--allow-env-change": "environment"}


def complete_trial_ids(**asked: Any) -> list[str]:
    """Trial ids (and names) for the shell (:func:`kleio.cli.completion.trial_ids`): the
    completion module is imported when the shell asks, never when a command runs."""
    from kleio.cli.completion import trial_ids

    return trial_ids(**asked)


def complete_tags(**asked: Any) -> list[str]:
    """Tags for the shell (:func:`kleio.cli.completion.tags`), imported when asked."""
    from kleio.cli.completion import tags

    return tags(**asked)


def trial_id(parser: argparse.ArgumentParser, name: str = "id") -> None:
    """The positional ``ID``: a trial id, any unique prefix of it, or the trial's name."""
    parser.add_argument(name, help="trial id, unique prefix or name").completer = complete_trial_ids


def selection(parser: argparse.ArgumentParser) -> None:
    """``--tags``, ``--status``, ``--project`` and ``--study``: which trials a listing shows."""
    parser.add_argument(
        "--tags", metavar="A;B", help="only trials with all these tags"
    ).completer = complete_tags
    parser.add_argument(
        "--status",
        metavar="S,S",
        help=f"only trials with one of these statuses ({', '.join(STATUSES)})",
    )
    parser.add_argument("--project", help="only trials of this project")
    study(parser, "only trials of this study (see `kleio studies`)")


def study(parser: argparse.ArgumentParser, help: str) -> None:
    """``--study NAME``: the trials a sweep saved under NAME."""
    parser.add_argument("--study", metavar="NAME", help=help)


def trial_ids(parser: argparse.ArgumentParser, what: str = "trials") -> None:
    """Positional ``ID...``: ids or unique prefixes, optional."""
    parser.add_argument(
        "ids", nargs="*", metavar="ID", help=f"{what} with these ids, unique prefixes or names"
    )


def query_options(parser: argparse.ArgumentParser) -> None:
    """``--where``, ``--sort``, ``--limit`` and ``--since``
    (see :mod:`kleio.core.reading.query`)."""
    parser.add_argument(
        "--where",
        metavar="KEY<OP>VALUE",
        action="append",
        default=[],
        help="only trials where a configuration key, statistic summary or field compares "
        "so: lr=0.1, 'loss:min<0.02', tags~sweep (OP: = != < <= > >= ~; repeatable)",
    )
    parser.add_argument(
        "--sort",
        metavar="[-]KEY",
        action="append",
        default=[],
        help="order by a configuration key, statistic summary (loss:min), created or "
        "run_time; -KEY for descending (repeatable: the first sorts first)",
    )
    parser.add_argument(
        "-n", "--limit", type=int, metavar="N", help="at most N trials (after sorting)"
    )
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="only trials created since DATE (2026-11-01, 2026-11-01T12:00, UTC) or within "
        "the last 12h, 7d, 2w...",
    )


def all_configuration(parser: argparse.ArgumentParser, what: str) -> None:
    """``--all``: every configuration key, not only those whose values differ between the
    trials selected; ``what`` says where they are shown (``"columns"``)."""
    parser.add_argument(
        "--all",
        dest="all_configuration",
        action="store_true",
        help=f"every configuration key in the {what}, not only those whose values differ",
    )


#: Options whose value may start with ``-`` (``--sort -loss``, ``--optimize -acc:max``):
#: ``kleio.cli.main`` joins them to their value before parsing, where argparse would take
#: it for an option.
DASHED_VALUES = ("--sort", "--best", "--optimize")


def trial_query(args: argparse.Namespace):
    """The :class:`~kleio.core.reading.query.Query` of ``selection``, ``trial_ids`` and
    ``query_options``."""
    from kleio.core.reading.query import Query

    return Query(trial_selection(args), args.where, args.sort, args.limit)


def trial_selection(args: argparse.Namespace):
    """The :class:`~kleio.core.reading.selection.Selection` of ``selection``, ``trial_ids`` and
    ``query_options``."""
    from kleio.core.model.trial import split_tags
    from kleio.core.reading.query import parse_since
    from kleio.core.reading.selection import Selection, split_statuses

    since = getattr(args, "since", None)
    return Selection(
        tags=split_tags(args.tags),
        statuses=split_statuses(args.status),
        project=args.project,
        ids=list(getattr(args, "ids", None) or ()),
        since=parse_since(since) if since else None,
        study=getattr(args, "study", None),
    )


def conditions(parser: argparse.ArgumentParser, what: str) -> None:
    """``--where KEY<OP>VALUE``, repeatable: the conditions of ``kleio ls``, for records
    that are not trials (statistics, artifacts' metadata); ``what`` names them and
    their verb (``"statistics that"``)."""
    parser.add_argument(
        "--where",
        metavar="KEY<OP>VALUE",
        action="append",
        default=[],
        help=f"only {what} meet this condition: OP is one of = != < <= > >= ~ "
        "(repeatable, all must hold)",
    )


def capture(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--capture", action="store_true", help="journal the output without echoing it"
    )


def trial_name(parser: argparse.ArgumentParser, what: str = "the trial") -> None:
    """``--name NAME``: a human name for the trial, usable wherever an id is."""
    parser.add_argument(
        "--name",
        dest="trial_name",
        metavar="NAME",
        help=f"a name for {what}, unique in the journal, usable wherever an id is "
        "(letters, digits, . _ -; not only hexadecimal digits, which read as an id)",
    )


#: What ``--study`` says in ``run`` and ``save``.
STUDY_OF_A_TRIAL = (
    "the study of the trial (see `kleio studies`); with no command, `kleio run` runs "
    "the study's trials, each once however many run at once"
)


def run_options(
    parser: argparse.ArgumentParser, study_help: str = STUDY_OF_A_TRIAL, named: bool = True
) -> None:
    """The options of ``run``, ``save`` and ``sweep`` that describe the trial (``named``:
    ``--name`` too, for one trial), then COMMAND."""
    parser.add_argument(
        "--tags", metavar="A;B", help="tags of the trial, separated by ; or ,"
    ).completer = complete_tags
    if named:
        trial_name(parser)
    study(parser, study_help)
    parser.add_argument(
        "--project",
        help="project name (default: the git repository's, the same in every copy of it)",
    )
    working_dir(parser)
    allow_changes(parser, "branch the trial if")
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


def working_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--working-dir",
        metavar="ROOT",
        help="make the working folders of new trials under ROOT (default: "
        "$KLEIO_HOME/trials); {trial.working_dir} on the command line names it",
    )


def execution(parser: argparse.ArgumentParser) -> None:
    """``--no-hook`` and ``--sample-interval``: what Kleio watches while the script runs."""
    parser.add_argument(
        "--no-hook",
        action="store_true",
        help="do not record the configuration the script's argument parser resolved "
        "(also KLEIO_HOOK=0)",
    )
    parser.add_argument(
        "--sample-interval",
        metavar="SECONDS",
        type=_seconds,
        help="sample CPU, memory, threads, I/O and GPUs of the script's processes every "
        "SECONDS (default 10, also KLEIO_SAMPLE_INTERVAL; 0: never)",
    )
    parser.add_argument(
        "--tensorboard",
        action="store_true",
        help="at the end, read the scalars of the TensorBoard event files the script wrote "
        "in {trial.working_dir} or the folder it ran in as statistics",
    )
    parser.add_argument(
        "--scalars",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="log the numbers the script prints (loss: 0.31, epoch 3 loss=0.31) as "
        "statistics, as it prints them (also KLEIO_SCALARS=1, or scalars: true in the "
        "settings file)",
    )
    parser.add_argument(
        "--scalar-pattern",
        dest="scalar_patterns",
        action="append",
        metavar="REGEX",
        help="with --scalars (implied): read scalars with this pattern instead of the "
        "default ones, repeatable; groups key and value, or groups named after "
        "statistics: (?P<loss>[0-9.]+); 'default' stands for the default patterns",
    )


def rank(parser: argparse.ArgumentParser) -> None:
    """``--rank N|all``: whose output, of a trial run by several ranks."""
    parser.add_argument(
        "--rank",
        type=_rank,
        default=0,
        metavar="N|all",
        help="of an execution of several ranks (torchrun, srun -n, mpirun), the output of "
        "rank N (default 0), or of all, each line after [rank N]",
    )


def _rank(text: str) -> int | None:
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a rank (0, 1, ...) or all, not {text!r}")
    return value


def counted(noun: str, most: int | None = None) -> Callable[[str], int]:
    """The ``type`` of an option taking a count of ``noun`` from 1 to ``most`` (no
    bound when None): ``--jobs``, ``--samples``, ``--budget``."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of {noun}, not {text!r}") from None
        if most is None and value < 1:
            raise argparse.ArgumentTypeError(f"expected a number of {noun} >= 1, not {text!r}")
        if most is not None and not 1 <= value <= most:
            raise argparse.ArgumentTypeError(f"expected 1 to {most:,} {noun}, not {text!r}")
        return value

    return count


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, not {text!r}")
    return value


def allow_changes(parser: argparse.ArgumentParser, what: str) -> None:
    """``--allow-code-change``, ``--allow-env-change`` (one per identity component) and
    ``--allow-any-change``; ``what`` starts their help (``"branch the trial if"``)."""
    for option, name in CHANGES.items():
        parser.add_argument(
            option,
            dest="allow",
            action="append_const",
            const=name,
            help=f"{what} its {name} changed since it was recorded",
        )
    parser.add_argument(
        "--allow-any-change",
        dest="allow",
        action="append_const",
        const="any",
        help="allow any of the above",
    )


def allowed_changes(args: argparse.Namespace) -> frozenset[str]:
    """The identity components a run may change (``--allow-*-change``)."""
    allowed = set(getattr(args, "allow", None) or ())
    if "any" in allowed:
        allowed = set(CHANGES.values())
    return frozenset(allowed)
