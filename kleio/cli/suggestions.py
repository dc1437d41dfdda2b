"""The error for a command that names nothing to run, with the Kleio commands it looks
like a typo of (``kleio lss`` means ``kleio ls``: nothing runs, nothing is recorded)."""

from __future__ import annotations

from collections.abc import Iterable


def command_not_found(word: str, commands: Iterable[str] = ()):
    """The error for a command that names nothing to run, naming the ``commands`` that
    ``word`` looks like a typo of (one letter wrong, missing, extra or swapped; two for
    names longer than 5 letters)."""
    from kleio.core.model.errors import CommandNotFound, SettingsError

    if not word.strip():
        return SettingsError("the command is empty: try `kleio python train.py`")
    message = f"command not found: {word} (no program, file or trial id of that name)"
    close = [name for name in commands if _edits(word, name) <= (2 if len(name) > 5 else 1)]
    if close:
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
