"""Shell completion (bash, zsh, fish) of commands, options, trial ids and tags.

Enabled once per shell with ``eval "$(register-python-argcomplete kleio)"`` (fish:
``register-python-argcomplete --shell fish kleio | source``). The shell then runs
``kleio`` with ``_ARGCOMPLETE`` set; :func:`kleio.cli.main.main` calls :func:`complete`
only then, so argcomplete is never imported when ``kleio`` runs a command.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any, NoReturn

#: Trials read to complete an id or a tag: the newest first.
_LOOKED_AT = 2000


def complete(parser: argparse.ArgumentParser) -> NoReturn:
    """Print the completions of the shell's command line and exit."""
    import argcomplete

    argcomplete.autocomplete(parser)
    raise SystemExit(0)  # pragma: no cover - autocomplete exits when _ARGCOMPLETE is set


def _store(parsed_args: argparse.Namespace):
    """The store of the command line being completed, as the command would open it."""
    from kleio.cli.context import Context

    return Context.of(parsed_args).store


def _quietly(find: Any) -> Iterable[str]:
    """A completion never prints an error in the middle of the user's line."""
    try:
        return find()
    except Exception:  # a broken store or settings complete nothing
        return []


def trial_ids(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Ids of the trials starting with ``prefix``: short ids, or as long as the prefix;
    then the names starting with it (``ba`` may start an id or ``baseline``)."""
    text = prefix.strip().lower()
    names = list(_quietly(lambda: _names(prefix.strip(), parsed_args))) if text else []
    if text and not all(character in "0123456789abcdef" for character in text):
        return names

    def find() -> list[str]:
        store = _store(parsed_args)
        try:
            documents = store.find_trials(
                id_prefix=text or None, limit=_LOOKED_AT, fields=["status"]
            )
        finally:
            store.close()
        width = max(7, len(text))
        return list(dict.fromkeys(document["_id"][:width] for document in documents))

    return [*_quietly(find), *names]


def _names(prefix: str, parsed_args: argparse.Namespace) -> list[str]:
    store = _store(parsed_args)
    try:
        documents = store.find_trials(fields=["name"])
    finally:
        store.close()
    return sorted({d["name"] for d in documents if (d.get("name") or "").startswith(prefix)})


def tags(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Tags of recent trials starting with the last tag of ``prefix`` (``a;b`` lists)."""
    head, separator, last = prefix.rpartition(";") if ";" in prefix else ("", "", prefix)

    def find() -> list[str]:
        store = _store(parsed_args)
        try:
            documents = store.find_trials(limit=_LOOKED_AT, fields=["tags"])
        finally:
            store.close()
        found = dict.fromkeys(
            tag for document in documents for tag in document.get("tags") or [] if tag
        )
        return [f"{head}{separator}{tag}" for tag in found if tag.startswith(last)]

    return list(_quietly(find))
