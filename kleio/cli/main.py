"""The ``kleio`` command: global options, the subcommand, and errors turned into one line.

``run`` is the default subcommand: ``kleio python train.py`` is
``kleio run python train.py``. Each subcommand is a module of this package with
``register(subparsers)`` (its arguments) and ``execute(args, context) -> int``;
a module imports what its command does inside ``execute``, so building the parser loads
no behaviour (``kleio --version`` and ``kleio ls`` never import the launcher).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO

from kleio import __version__
from kleio.core.errors import KleioError
from kleio.store import StoreError, schemes_help

#: Subcommand -> module of ``kleio.cli`` implementing it, in the order of ``--help``.
COMMANDS = {
    "run": "run",
    "save": "save",
    "branch": "branch",
    "switchover": "switchover",
    "ls": "ls",
    "info": "info",
    "cat": "cat",
    "tail": "tail",
    "stats": "stats",
    "artifacts": "artifacts",
    "pdb": "pdb",
    "sync": "sync",
    "compare": "compare",
    "tag": "tag",
    "note": "note",
    "diff": "diff",
    "checkout": "checkout",
    "rm": "rm",
    "gc": "gc",
    "export": "export",
    "import": "import_",
}
DEFAULT_COMMAND = "run"
#: Global options that take a value (to find where the subcommand starts).
_GLOBAL_WITH_VALUE = {"--config", "--database", "--db-name", "--home"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and the usage, exit 2, like argparse
        self.print_usage(sys.stderr)
        self.exit(2, f"kleio: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kleio",
        description="Journal every execution of a command: code version, environment, "
        "configuration, output, statistics and artifacts.",
        epilog="Any other command line runs under Kleio: `kleio python train.py --lr 0.1`.",
    )
    parser.add_argument("--version", action="version", version=f"kleio {__version__}")
    parser.add_argument("--config", metavar="FILE", help="settings file (YAML)")
    parser.add_argument(
        "--database",
        metavar="ADDRESS",
        dest="db_address",
        help=f"database address: {schemes_help()}",
    )
    parser.add_argument("--db-name", metavar="NAME", help="MongoDB database name (default kleio)")
    parser.add_argument(
        "--home", metavar="DIR", help="Kleio's folder (default ~/.local/share/kleio)"
    )
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS.values():
        importlib.import_module(f"kleio.cli.{module}").register(subparsers)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """Insert ``run`` where the global options end, unless a subcommand is named there.

    ``kleio --allow-code-change python train.py`` is ``kleio run --allow-code-change ...``.
    """
    index = 0
    while index < len(argv):
        word = argv[index]
        name = word.split("=", 1)[0]
        if word in ("-h", "--help", "--version"):
            return argv
        if name in _GLOBAL_WITH_VALUE:
            index += 1 if "=" in word else 2
            continue
        if word in COMMANDS or word == "help":
            return argv
        return argv[:index] + [DEFAULT_COMMAND] + argv[index:]
    return argv


def main(
    argv: Sequence[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """``kleio ARGV``; its exit status. ``stdout`` and ``stderr`` default to the process's."""
    from kleio.cli.context import Context

    argv = list(sys.argv[1:] if argv is None else argv)
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    if argv == ["--version"]:  # before the parser: nothing else to load
        stdout.write(f"kleio {__version__}\n")
        return 0
    if DEFAULT_COMMAND in COMMANDS:
        argv = _with_default_command(argv)
    argv = _dashed_values_joined(argv)
    parser = build_parser()
    if not argv:
        parser.print_help(stderr)
        return 2
    with _streams(stdout, stderr):  # argparse prints usage and help to sys.stdout/stderr
        try:
            args = parser.parse_args(argv)
        except SystemExit as leaving:
            return leaving.code if isinstance(leaving.code, int) else 2
    if args.subcommand is None or args.subcommand == "help":
        parser.print_help(stdout)
        return 0 if args.subcommand == "help" else 2
    context = Context(
        {"db_address": args.db_address, "db_name": args.db_name, "home": args.home},
        getattr(args, "run_config", None) or args.config,
        stdout=stdout,
        stderr=stderr,
    )
    module = importlib.import_module(f"kleio.cli.{COMMANDS[args.subcommand]}")
    try:
        return module.execute(args, context)
    except (KleioError, StoreError) as error:
        print(f"kleio: error: {error}", file=stderr)
        return getattr(error, "exit_code", 1)
    except KeyboardInterrupt:
        print("kleio: interrupted", file=stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`kleio ls | head`): not an error.
        stderr.close()
        return 0
    finally:
        try:
            context.close()
        except StoreError:
            pass


def _dashed_values_joined(argv: list[str]) -> list[str]:
    """``--sort -loss`` as ``--sort=-loss``, for a command other than ``run`` (whose
    words after the command belong to the script)."""
    from kleio.cli.arguments import DASHED_VALUES

    command = next((word for word in argv if word in COMMANDS), None)
    if command in (None, DEFAULT_COMMAND, "save", "branch"):
        return argv
    joined: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in DASHED_VALUES and index + 1 < len(argv) and argv[index + 1].startswith("-"):
            joined.append(f"{word}={argv[index + 1]}")
            index += 2
            continue
        joined.append(word)
        index += 1
    return joined


@contextlib.contextmanager
def _streams(stdout: IO[str], stderr: IO[str]) -> Iterator[None]:
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        yield


def entry() -> None:
    """The ``kleio`` command: :func:`main`, then a prompt exit.

    pymongo's background threads sleep half a second between checks, and Python waits
    for them at exit: every MongoDB command would end 0.5 s late. Once the command is
    done, its output flushed and its store closed, nothing is left to wait for.
    """
    code = main()
    if "pymongo" in sys.modules:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    raise SystemExit(code)
