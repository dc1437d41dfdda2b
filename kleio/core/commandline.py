"""The configuration a command line expresses, and command lines made from one.

``python train.py data/ --lr 0.1 --layers 64 64 --config cfg.yaml --verbose`` gives::

    {"_pos_0": "data/", "lr": 0.1, "layers": [64, 64], "config": {...content of cfg.yaml...},
     "verbose": True}

Rules: ``--key value``, ``--key=value``, ``-k value``; several values make a list; an
option followed by another option (or nothing) is a flag, ``True``; a repeated option
collects its values in a list; after ``--`` everything is positional. Values are typed
like YAML scalars but stricter: integers, floats (``1e-3`` too), ``true``/``false``;
everything else stays text. A value naming an existing ``.yaml``, ``.yml`` or ``.json``
file is replaced by the file's parsed content, so a changed file is a changed
configuration. For a Python interpreter, its own options and the script (or ``-m
module``) are not configuration.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kleio.core.errors import KleioError

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
POSITIONAL = "_pos_{}"

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_PYTHON = re.compile(r"(python|pypy)[\d.]*")
#: Interpreter options that take a value (``python -W error script.py``).
_PYTHON_OPTIONS_WITH_VALUE = {"-W", "-X", "--check-hash-based-pycs"}


class ConfigFileError(KleioError):
    """A configuration file named on the command line cannot be parsed."""

    exit_code = 2


def typed(text: str) -> Any:
    """``"3"`` -> 3, ``"0.1"`` -> 0.1, ``"true"`` -> True; anything else unchanged."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _is_option(word: str) -> bool:
    return word.startswith("-") and len(word) > 1 and not _FLOAT.fullmatch(word)


@dataclass
class Command:
    """A command line split into the program and the arguments that configure it."""

    argv: tuple[str, ...]
    #: Index in ``argv`` of the first configuring argument.
    start: int
    #: The script or program file, when there is one (for its hash outside git).
    program: str | None = None
    interpreter: str | None = None
    #: ``(name, values, written with "=")`` in order.
    options: list[tuple[str, list[str], bool]] = field(default_factory=list)
    #: Positionals before the first option.
    leading: list[str] = field(default_factory=list)
    #: Positionals after ``--``; ``separator`` tells whether ``--`` was written.
    trailing: list[str] = field(default_factory=list)
    separator: bool = False

    @property
    def prefix(self) -> list[str]:
        return list(self.argv[: self.start])

    @property
    def positionals(self) -> list[str]:
        return self.leading + self.trailing

    def words(self) -> list[str]:
        """The command line again, from its parts."""
        words = self.prefix + self.leading
        for name, values, joined in self.options:
            if joined:
                words.append(f"{name}={values[0]}")
            else:
                words.append(name)
                words.extend(values)
        if self.separator:
            words.append("--")
        return words + self.trailing


def split_command(argv: Sequence[str]) -> Command:
    """Find the program and parse its arguments (order kept, values untyped)."""
    argv = tuple(argv)
    if not argv:
        raise KleioError("no command given: try `kleio python train.py`")
    start, program, interpreter = 1, argv[0], None
    if _PYTHON.fullmatch(os.path.basename(argv[0])):
        interpreter, program = argv[0], None
        index = 1
        while index < len(argv) and argv[index].startswith("-") and argv[index] != "-":
            word = argv[index]
            if word in ("-m", "-c"):
                program = (
                    None if word == "-c" else argv[index + 1] if index + 1 < len(argv) else None
                )
                index += 2
                break
            index += 2 if word in _PYTHON_OPTIONS_WITH_VALUE else 1
        else:
            if index < len(argv):
                program = argv[index]
                index += 1
        start = min(index, len(argv))
    command = Command(argv, start, program, interpreter)
    words = list(argv[start:])
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            command.separator = True
            command.trailing = words[index + 1 :]
            break
        if _is_option(word):
            name, equals, value = word.partition("=")
            if equals:
                command.options.append((name, [value], True))
                index += 1
                continue
            values = []
            index += 1
            while index < len(words) and not _is_option(words[index]) and words[index] != "--":
                values.append(words[index])
                index += 1
            command.options.append((name, values, False))
            continue
        command.leading.append(word)  # before any option: a value would follow one
        index += 1
    return command


def option_key(name: str) -> str:
    """``--learning-rate`` -> ``learning-rate``; ``-k`` -> ``k``."""
    return name.lstrip("-")


def load_config_file(path: str) -> Any:
    """The parsed content of a YAML or JSON file; errors name the file and the line."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as error:
        raise ConfigFileError(f"cannot read configuration file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"configuration file {path} is not UTF-8 text") from None
    if path.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigFileError(
                f"{path}: line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}"
            ) from None
    import yaml

    from kleio.core.settings import describe_yaml_error

    try:
        return jsonable(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise ConfigFileError(f"{path}: {describe_yaml_error(error)}") from None


def jsonable(value: Any) -> Any:
    """YAML content as JSON can hold it: keys as text, dates as ISO text."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _value(text: str, cwd: str) -> Any:
    if text.endswith(CONFIG_SUFFIXES):
        path = os.path.join(cwd, os.path.expanduser(text))
        if os.path.isfile(path):
            return load_config_file(path)
    return typed(text)


def configuration_of(command: Command, cwd: str | None = None) -> dict[str, Any]:
    """The typed configuration of a command (see the module documentation)."""
    cwd = cwd or os.getcwd()
    configuration: dict[str, Any] = {}
    for index, text in enumerate(command.positionals):
        configuration[POSITIONAL.format(index)] = _value(text, cwd)
    for name, texts, _ in command.options:
        values = [_value(text, cwd) for text in texts]
        value = True if not values else values[0] if len(values) == 1 else values
        key = option_key(name)
        if key in configuration:
            previous = configuration[key]
            merged = previous if isinstance(previous, list) and len(texts) == 1 else [previous]
            configuration[key] = [*merged, value]
        else:
            configuration[key] = value
    return configuration


def config_files_of(command: Command, cwd: str | None = None) -> list[str]:
    """The arguments that name configuration files, existing or not."""
    cwd = cwd or os.getcwd()
    texts = command.positionals + [t for _, values, _ in command.options for t in values]
    return [text for text in texts if text.endswith(CONFIG_SUFFIXES)]


def with_options(argv: Sequence[str], changes: Sequence[tuple[str, list[str]]]) -> list[str]:
    """``argv`` with options replaced (same key) or appended (new key), in place.

    ``changes`` are ``(name, values)`` pairs such as ``("--lr", ["0.01"])``; a flag has no
    values. A replaced option keeps its spelling (``--lr=0.1`` stays joined); an option
    given several times is replaced by one. Positional arguments never change.
    """
    command = split_command(argv)
    pending = {option_key(name): (name, list(values)) for name, values in changes}
    options = []
    for name, values, joined in command.options:
        key = option_key(name)
        if key not in pending:
            options.append((name, values, joined))
        elif pending[key] is not None:
            new_values = pending[key][1]
            options.append((name, new_values, joined and len(new_values) == 1))
            pending[key] = None
    options.extend(
        (name, values, False)
        for name, values in (change for change in pending.values() if change is not None)
    )
    command.options = options
    return command.words()


def format_commandline(argv: Sequence[str]) -> str:
    import shlex

    return shlex.join(argv)
