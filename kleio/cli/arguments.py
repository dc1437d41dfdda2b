"""Arguments several commands share, defined once: a trial id, a selection of trials,
tags, the options of a run and the command it runs.

Registering arguments loads no behaviour: ``kleio --help`` and ``kleio ls`` never import
the launcher.
"""

from __future__ import annotations

import argparse
import os
import re

from kleio.core.status import STATUSES


def trial_id(parser: argparse.ArgumentParser, name: str = "id") -> None:
    """The positional ``ID``: a trial id or any unique prefix of it."""
    parser.add_argument(name, help="trial id or unique prefix")


def split_tags(text: str | None) -> list[str]:
    """``"a;b"`` or ``"a,b"`` -> ``["a", "b"]``."""
    if not text:
        return []
    return [tag.strip() for tag in re.split(r"[;,]", text) if tag.strip()]


def split_statuses(text: str | None) -> list[str]:
    """``"lost,broken"`` -> ``["lost", "broken"]``; an unknown status is an error."""
    from kleio.core.errors import SettingsError

    wanted = [status.strip() for status in (text or "").split(",") if status.strip()]
    unknown = [status for status in wanted if status not in STATUSES]
    if unknown:
        raise SettingsError(f"unknown status {unknown[0]!r}: choose among {', '.join(STATUSES)}")
    return wanted


def selection(parser: argparse.ArgumentParser) -> None:
    """``--tags``, ``--status`` and ``--project``: which trials a listing shows."""
    parser.add_argument("--tags", metavar="A;B", help="only trials with all these tags")
    parser.add_argument(
        "--status",
        metavar="S,S",
        help=f"only trials with one of these statuses ({', '.join(STATUSES)})",
    )
    parser.add_argument("--project", help="only trials of this project")


def trial_ids(parser: argparse.ArgumentParser, what: str = "trials") -> None:
    """Positional ``ID...``: ids or unique prefixes, optional."""
    parser.add_argument(
        "ids", nargs="*", metavar="ID", help=f"{what} with these ids or unique prefixes"
    )


def query_options(parser: argparse.ArgumentParser) -> None:
    """``--where``, ``--sort``, ``--limit`` and ``--since`` (see :mod:`kleio.core.query`)."""
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


#: Options whose value may start with ``-`` (``--sort -loss``): ``kleio.cli.main`` joins
#: them to their value before parsing, where argparse would take it for an option.
DASHED_VALUES = ("--sort",)


def trial_query(args: argparse.Namespace):
    """The :class:`~kleio.core.query.Query` of ``selection``, ``trial_ids`` and
    ``query_options``."""
    from kleio.core.query import Query

    return Query(trial_selection(args), args.where, args.sort, args.limit)


def trial_selection(args: argparse.Namespace):
    """The :class:`~kleio.core.selection.Selection` of ``selection``, ``trial_ids`` and
    ``query_options``."""
    from kleio.core.query import parse_since
    from kleio.core.selection import Selection

    since = getattr(args, "since", None)
    return Selection(
        tags=split_tags(args.tags),
        statuses=split_statuses(args.status),
        project=args.project,
        ids=list(getattr(args, "ids", None) or ()),
        since=parse_since(since) if since else None,
    )


def where(parser: argparse.ArgumentParser, what: str) -> None:
    """``--where KEY=VALUE``, repeatable."""
    parser.add_argument(
        "--where",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help=f"only {what} whose KEY equals VALUE (repeatable)",
    )


def capture(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--capture", action="store_true", help="journal the output without echoing it"
    )


def run_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``run`` and ``save`` that describe the trial, then COMMAND."""
    from kleio.core.snapshot import COMPONENTS

    parser.add_argument("--tags", metavar="A;B", help="tags of the trial, separated by ; or ,")
    parser.add_argument("--project", help="project name (default: the git repository's folder)")
    for component in COMPONENTS:
        parser.add_argument(
            component.option,
            dest="allow",
            action="append_const",
            const=component.name,
            help=f"branch the trial if its {component.name} changed since it was recorded",
        )
    parser.add_argument(
        "--allow-any-change",
        dest="allow",
        action="append_const",
        const="any",
        help="allow any of the above",
    )
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


def allowed_changes(args: argparse.Namespace) -> frozenset[str]:
    """The identity components a run may change (``--allow-*-change``)."""
    from kleio.core.snapshot import COMPONENTS

    allowed = set(getattr(args, "allow", None) or ())
    if "any" in allowed:
        allowed = {component.name for component in COMPONENTS}
    return frozenset(allowed)


def command_words(args: argparse.Namespace) -> list[str]:
    """The command to run, without a leading ``--``."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return command


def runner(args: argparse.Namespace, context):
    """The :class:`~kleio.core.execution.Runner` of ``run``, ``save`` and ``branch``."""
    from kleio.core.execution import Runner, RunOptions

    options = RunOptions(
        tags=split_tags(args.tags),
        project=getattr(args, "project", None),
        capture=getattr(args, "capture", False),
        switch_over=getattr(args, "switch_over", False),
        allowed=allowed_changes(args),
    )
    return Runner(context.store, context.settings, dict(os.environ), context.notify, options)
