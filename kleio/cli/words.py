"""Where Kleio's words end and the script's begin, for the commands whose line holds
both: ``run`` and ``save`` (Kleio's options, then the command) and ``branch`` (Kleio's
options on both sides of the id, then the script's options to change).

Each is a command module's ``split_words(parser, words)``: the words for ``parser`` to
read, and the others by the attribute they fill. A word is one of Kleio's options when
``parser.option_width(word)`` says so (see :class:`kleio.cli.main._Parser`): names
match whole, so ``--c`` is the script's even beside Kleio's ``--capture``.
"""

from __future__ import annotations

import argparse


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
        width = parser.option_width(word)
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
        width = parser.option_width(word)
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
