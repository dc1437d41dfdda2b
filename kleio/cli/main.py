# PYTHON_ARGCOMPLETE_OK  (argcomplete: this command completes)
"""The ``kleio`` command: global options, the subcommand, and errors turned into one line.

``run`` is the default subcommand: ``kleio python train.py`` is
``kleio run python train.py``. Each subcommand is a module of this package with
``register(subparsers)`` (its arguments) and ``execute(args, context) -> int``;
a module imports what its command does inside ``execute``, so building the parser loads
no behaviour (``kleio --version`` and ``kleio ls`` never import the launcher, help never
imports the store).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence

from kleio import __version__

TYPE_CHECKING = False  # typing's import costs `kleio --version` 4 ms
if TYPE_CHECKING:
    from typing import IO

# Nothing else at import: `kleio --version` is the interpreter, this module and
# argparse (the store's contract alone imports dataclasses, json and uuid: 15 ms).

#: Subcommand -> module of ``kleio.cli`` implementing it, in the order of ``--help``.
#: A module whose command takes a program's words (``run``) defines
#: ``split_words(parser, words)``: Kleio's words, and the others by the attribute they fill
#: (see :mod:`kleio.cli.words`).
COMMANDS = {
    "run": "run",
    "save": "save",
    "sweep": "sweep",
    "studies": "studies",
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
    "plot": "plot",
    "ui": "ui",
    "tag": "tag",
    "note": "note",
    "name": "name",
    "diff": "diff",
    "checkout": "checkout",
    "rm": "rm",
    "gc": "gc",
    "export": "export",
    "import": "import_",
    "import-tensorboard": "import_tensorboard",
}
DEFAULT_COMMAND = "run"


class _Parser(argparse.ArgumentParser):
    """Options are matched by their whole name only: ``kleio python train.py --c 1``
    must never read ``--c`` as an abbreviation of one of Kleio's options."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def option_width(self, word: str) -> int:
        """How many words the option ``word`` takes, itself included (``--tags a`` 2,
        ``--tags=a`` 1, ``--capture`` 1); 0 when ``word`` is no option of this parser.

        Names match exactly: a prefix (``--c`` for ``--capture``) is no option of Kleio's.
        """
        if not word.startswith("-") or word == "-":
            return 0
        name, equals, _ = word.partition("=") if word.startswith("--") else (word, "", "")
        action = self._option_string_actions.get(name)
        if action is None:
            return 0
        return 1 if equals or action.nargs == 0 else 2

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse asks shutil for the terminal's width, on every add_argument: shutil
        # imports the compression modules, 3 ms of every run's start.
        return self.formatter_class(prog=self.prog, width=_terminal_width() - 2)

    def error(self, message: str):  # one line and the usage, exit 2, like argparse
        from kleio.core.capture.programs import which
        from kleio.store import mask_address

        self.print_usage(sys.stderr)
        # argparse quotes the words it refused: a misplaced --database may hold a password.
        message = " ".join(mask_address(word) for word in message.split(" "))
        name = self.prog.rpartition(" ")[2]
        if name in COMMANDS and which(name):
            message += f" (`kleio {name}` is Kleio's; `kleio run {name} ...` runs the program)"
        self.exit(2, f"kleio: error: {message}\n")


def _terminal_width() -> int:
    """The terminal's columns as ``shutil.get_terminal_size`` gives them: ``COLUMNS``,
    else the terminal of the standard output, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


#: The addresses of the backends (:data:`kleio.store.BACKENDS`), written out: the table
#: comes with the store's contract, which `kleio --help` has no use for (a test checks
#: this is the store's own ``schemes_help()``).
_ADDRESSES = "mongodb://..., mongodb+srv://..., sqlite:///PATH or a file path"


def build_parser(commands: Iterable[str] = COMMANDS) -> _Parser:
    """The ``kleio`` parser with the global options and the subcommands ``commands``
    (all by default; more can be added with :func:`_add_commands`)."""
    parser = _Parser(
        prog="kleio",
        description="Journal every execution of a command: code version, environment, "
        "configuration, output, statistics and artifacts.",
        epilog="Any other command line runs under Kleio: `kleio python train.py --lr 0.1`. "
        'Shell completion (bash, zsh): eval "$(register-python-argcomplete kleio)".',
    )
    parser.add_argument("--version", action="version", version=f"kleio {__version__}")
    parser.add_argument("--config", metavar="FILE", help="settings file (YAML)")
    parser.add_argument(
        "--database",
        metavar="ADDRESS",
        dest="db_address",
        help=f"database address: {_ADDRESSES}",
    )
    parser.add_argument("--db-name", metavar="NAME", help="MongoDB database name (default kleio)")
    parser.add_argument(
        "--home", metavar="DIR", help="Kleio's folder (default ~/.local/share/kleio)"
    )
    parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=_Parser)
    _add_commands(parser, commands)
    return parser


def _add_commands(parser: argparse.ArgumentParser, commands: Iterable[str]) -> None:
    """Register the subcommands ``commands``: each imports its module (a run needs one
    module of 23: the others' imports and parsers cost ``kleio python`` 15 ms)."""
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name in commands:
        importlib.import_module(f"kleio.cli.{COMMANDS[name]}").register(subparsers)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[name]


def _command_position(parser: _Parser, argv: list[str]) -> int | None:
    """Where the global options end: the index of the subcommand (or of the command
    ``run`` runs), None when ``--help``, ``--version`` or nothing comes first."""
    index = 0
    while index < len(argv):
        if argv[index] in ("-h", "--help", "--version"):
            return None
        width = parser.option_width(argv[index])
        if width == 0:
            return index
        index += width
    return None


def main(
    argv: Sequence[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """``kleio ARGV``; its exit status. ``stdout`` and ``stderr`` default to the process's.

    The first word after the global options decides: a Kleio command runs; any other
    word is a command for ``run`` (which runs a program, resumes a trial or refuses a
    word that is neither, see :mod:`kleio.cli.run`).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    if argv == ["--version"]:  # before the parser: nothing else to load
        stdout.write(f"kleio {__version__}\n")
        return 0
    not_text = next((word for word in argv if not _is_text(word)), None)
    if not_text is not None:
        shown = not_text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        print(
            f"kleio: error: argument {shown} is not UTF-8 text: Kleio journals command lines"
            " as text; rename the file or give the value another way",
            file=stderr,
        )
        return 2
    parser = build_parser(commands=())  # the global options, to find the command
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer, exit
        from kleio.cli.completion import complete

        _add_commands(parser, COMMANDS)
        complete(parser)
    position = _command_position(parser, argv)
    implicit = False
    if position is not None and argv[position] not in COMMANDS and argv[position] != "help":
        argv.insert(position, DEFAULT_COMMAND)
        implicit = True
    # One command runs: only its parser is needed; help and errors show them all.
    known = position is not None and argv[position] in COMMANDS
    _add_commands(parser, [argv[position]] if known else COMMANDS)
    if not argv:
        parser.print_help(stderr)
        return 2
    foreign: dict[str, list[str]] = {}
    if position is not None and argv[position] in COMMANDS:
        module = importlib.import_module(f"kleio.cli.{COMMANDS[argv[position]]}")
        split_words = getattr(module, "split_words", None)
        if split_words is not None:
            subparser = _subparser(parser, argv[position])
            kleio_words, foreign = split_words(subparser, argv[position + 1 :])
            argv = argv[: position + 1] + _dashed_values_joined(kleio_words)
        else:
            argv = argv[: position + 1] + _dashed_values_joined(argv[position + 1 :])
    with _streams(stdout, stderr):  # argparse prints usage and help to sys.stdout/stderr
        try:
            args, unknown = parser.parse_known_args(argv)
            if unknown:  # said with the usage of the command they were given to
                command = getattr(args, "subcommand", None)
                refusing = _subparser(parser, command) if command in COMMANDS else parser
                refusing.error(f"unrecognized arguments: {' '.join(unknown)}")
        except SystemExit as leaving:
            return leaving.code if isinstance(leaving.code, int) else 2
    if args.subcommand is None or args.subcommand == "help":
        parser.print_help(stdout)
        return 0 if args.subcommand == "help" else 2
    # `implicit`: Kleio put `run` before a word that is none of its commands (a typo of
    # one, maybe: see kleio.cli.suggestions).
    vars(args).update(foreign, implicit=implicit, kleio_commands=tuple(COMMANDS))
    # Not before: help and usage errors load neither the settings nor the store.
    from kleio.cli.context import Context
    from kleio.core.model.errors import KleioError
    from kleio.core.model.unreadable import noting_unreadable
    from kleio.store import StoreError

    context = Context.of(args, stdout, stderr)
    module = importlib.import_module(f"kleio.cli.{COMMANDS[args.subcommand]}")
    try:
        # Events and blobs another program damaged are skipped by the readers: said
        # once, after the command's output.
        with noting_unreadable(context.notify):
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
        except (StoreError, KeyboardInterrupt):  # Ctrl-C as Kleio leaves: it leaves
            pass


def _is_text(word: str) -> bool:
    """Whether an argument is text: Python passes bytes that are not UTF-8 as lone
    surrogates, which no journal can store (nor a trial id hash)."""
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dashed_values_joined(words: list[str]) -> list[str]:
    """``--sort -loss`` as ``--sort=-loss`` (argparse would read ``-loss`` as an option),
    for a command whose words are all Kleio's."""
    from kleio.cli.arguments import DASHED_VALUES

    joined: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word in DASHED_VALUES and index + 1 < len(words) and words[index + 1].startswith("-"):
            joined.append(f"{word}={words[index + 1]}")
            index += 2
            continue
        joined.append(word)
        index += 1
    return joined


@contextlib.contextmanager
def _streams(stdout: IO[str], stderr: IO[str]) -> Iterator[None]:
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        yield


#: Where pymongo defines the exit function that closes its monitors (from pymongo 4.9 on;
#: ``pymongo.monitor`` before), registered with :mod:`atexit` when pymongo is imported.
_PYMONGO_MONITORS = ("pymongo.synchronous.monitor", "pymongo.monitor")


def _unregister_pymongos_exit() -> None:
    """Take pymongo's exit function off :mod:`atexit`'s list, when pymongo is loaded.

    It stops pymongo's monitors and joins their threads, which sleep half a second
    between checks of the server: every MongoDB command would end 0.5 s late. The store
    has told them to stop when it closed, and ``os._exit`` ends them: nothing is lost.
    """
    import atexit

    for name in _PYMONGO_MONITORS:
        shutdown = getattr(sys.modules.get(name), "_shutdown_resources", None)
        if shutdown is not None:
            atexit.unregister(shutdown)


def _ignore_interrupts() -> None:
    # The builtin module `signal` wraps, loaded with the interpreter: importing `signal`
    # itself costs 1.2 ms (its enums), a tenth of `kleio --version`.
    import _signal

    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)


def entry() -> None:
    """The ``kleio`` command: :func:`main`, then a prompt exit.

    Once the command is done, its output flushed and its store closed, nothing is left
    to wait for, nor to tear down: Python's own exit clears every module Kleio loaded
    (10 to 15 ms of every command). Every exit function registered (coverage, a logger)
    runs, but pymongo's (see :func:`_unregister_pymongos_exit`); Python's own end of the
    interpreter does not: no module is torn down and no thread is joined. A ^C that
    comes once :func:`main` returned (the trial is recorded, the store closed) is
    ignored: it would only put a traceback of an exit function in place of the exit.
    """
    try:
        code = main()
    except KeyboardInterrupt:  # ^C as main returned: what it did is done, and said
        code = 130
    while True:  # ^C from here on finds nothing left to interrupt: the exit is all
        try:
            _ignore_interrupts()
            break
        except KeyboardInterrupt:  # it came before the call took effect
            continue
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    import atexit

    _unregister_pymongos_exit()
    atexit._run_exitfuncs()
    os._exit(code)
