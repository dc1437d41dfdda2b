"""Arguments several commands share, defined once: a trial id, a selection of trials,
tags, the options of a run and the command it runs, and where Kleio's words end and
the script's begin.

Registering arguments loads no behaviour: ``kleio --help`` and ``kleio ls`` never import
the launcher.
"""

from __future__ import annotations

import argparse
import os

from kleio.cli import completion
from kleio.core.capture.programs import which
from kleio.core.model.status import STATUSES


def trial_id(parser: argparse.ArgumentParser, name: str = "id") -> None:
    """The positional ``ID``: a trial id or any unique prefix of it."""
    parser.add_argument(name, help="trial id or unique prefix").completer = completion.trial_ids


def selection(parser: argparse.ArgumentParser) -> None:
    """``--tags``, ``--status`` and ``--project``: which trials a listing shows."""
    parser.add_argument(
        "--tags", metavar="A;B", help="only trials with all these tags"
    ).completer = completion.tags
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


#: Options whose value may start with ``-`` (``--sort -loss``): ``kleio.cli.main`` joins
#: them to their value before parsing, where argparse would take it for an option.
DASHED_VALUES = ("--sort",)


def trial_query(args: argparse.Namespace):
    """The :class:`~kleio.core.reading.query.Query` of ``selection``, ``trial_ids`` and
    ``query_options``."""
    from kleio.core.reading.query import Query

    return Query(trial_selection(args), args.where, args.sort, args.limit)


def trial_selection(args: argparse.Namespace):
    """The :class:`~kleio.core.reading.selection.Selection` of ``selection``, ``trial_ids`` and
    ``query_options``."""
    from kleio.core.reading.query import parse_since
    from kleio.core.reading.selection import Selection, split_statuses, split_tags

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
    parser.add_argument(
        "--tags", metavar="A;B", help="tags of the trial, separated by ; or ,"
    ).completer = completion.tags
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
    from kleio.core.capture.snapshot import COMPONENTS

    for component in COMPONENTS:
        parser.add_argument(
            component.option,
            dest="allow",
            action="append_const",
            const=component.name,
            help=f"{what} its {component.name} changed since it was recorded",
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
    from kleio.core.capture.snapshot import COMPONENTS

    allowed = set(getattr(args, "allow", None) or ())
    if "any" in allowed:
        allowed = {component.name for component in COMPONENTS}
    return frozenset(allowed)


def option_width(parser: argparse.ArgumentParser, word: str) -> int:
    """How many words the option ``word`` of ``parser`` takes, itself included (``--tags
    a`` 2, ``--tags=a`` 1, ``--capture`` 1); 0 when ``word`` is no option of ``parser``.

    Names match exactly: a prefix (``--c`` for ``--capture``) is no option of Kleio's.
    """
    if not word.startswith("-") or word == "-":
        return 0
    name, equals, _ = word.partition("=") if word.startswith("--") else (word, "", "")
    action = parser._option_string_actions.get(name)
    if action is None:
        return 0
    return 1 if equals or action.nargs == 0 else 2


def command_after_options(
    parser: argparse.ArgumentParser, words: list[str]
) -> tuple[list[str], dict[str, list[str]]]:
    """``run`` and ``save``: Kleio's options, then the command from its first word on.

    Kleio's options end at the first word that is none of them, or at ``--``; everything
    after reaches the script unchanged, even words spelled like Kleio's options. An
    unknown option before the command stays Kleio's, for argparse to refuse.
    """
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            return words[:index], {"command": words[index + 1 :]}
        width = option_width(parser, word)
        if width == 0:
            if word.startswith("-") and word != "-":
                return words[: index + 1], {"command": words[index + 1 :]}
            break
        index += width
    return words[:index], {"command": words[index:]}


def options_around_id(
    parser: argparse.ArgumentParser, words: list[str]
) -> tuple[list[str], dict[str, list[str]]]:
    """``branch``: Kleio's options on both sides of the id, up to ``--``; other words
    after the id, and everything after ``--``, are the script's options to change."""
    options: list[str] = []
    positionals: list[str] = []
    changes: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            changes.extend(words[index + 1 :])
            break
        width = option_width(parser, word)
        if width:
            options.extend(words[index : index + width])
            index += width
            continue
        if positionals:
            changes.append(word)
        elif word.startswith("-") and word != "-":
            options.append(word)  # an unknown option before the id: argparse refuses it
        else:
            positionals.append(word)
        index += 1
    # Options first: argparse's remainder positional would take options after the id.
    return options + positionals, {"changes": changes}


def runner(args: argparse.Namespace, context):
    """The :class:`~kleio.core.running.execution.Runner` of ``run``, ``save`` and ``branch``."""
    from kleio.core.reading.selection import split_tags
    from kleio.core.running.execution import Runner, RunOptions

    options = RunOptions(
        tags=split_tags(args.tags),
        project=getattr(args, "project", None),
        capture=getattr(args, "capture", False),
        switch_over=getattr(args, "switch_over", False),
        allowed=allowed_changes(args),
        working_root=os.path.abspath(args.working_dir)
        if getattr(args, "working_dir", None)
        else None,
        hook=not getattr(args, "no_hook", False),
        sample_interval=getattr(args, "sample_interval", None),
    )
    return Runner(context.store, context.settings, dict(os.environ), context.notify, options)


def is_program(word: str) -> bool:
    """An executable on PATH, or a path that exists (``./train.sh``, ``train.py``)."""
    return bool(word) and (which(word) is not None or os.path.exists(word))


def command_not_found(word: str, suggest: bool):
    """The error for a command that names nothing to run; with ``suggest``, the Kleio
    commands ``word`` looks like a typo of (one letter wrong, missing, extra or swapped;
    two for names longer than 5 letters)."""
    from kleio.cli.main import COMMANDS
    from kleio.core.model.errors import CommandNotFound, SettingsError

    if not word.strip():
        return SettingsError("the command is empty: try `kleio python train.py`")
    message = f"command not found: {word} (no program, file or trial id of that name)"
    close = [name for name in COMMANDS if _edits(word, name) <= (2 if len(name) > 5 else 1)]
    if suggest and close:
        message = f"{message}; did you mean {' or '.join(f'`kleio {n}`' for n in close)}?"
    return CommandNotFound(message)


def _edits(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) turning ``a`` into ``b``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (a[i - 1] != b[j - 1]),
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]
