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
    from kleio.core.model.catalogue import open_journal
    from kleio.core.model.settings import load_settings

    flags = {
        "db_address": getattr(parsed_args, "db_address", None),
        "db_name": getattr(parsed_args, "db_name", None),
        "home": getattr(parsed_args, "home", None),
    }
    config = getattr(parsed_args, "run_config", None) or getattr(parsed_args, "config", None)
    settings = load_settings(flags, config)
    return open_journal(settings.db_address, settings.db_name)


def _quietly(find: Any) -> Iterable[str]:
    """A completion never prints an error in the middle of the user's line."""
    try:
        return find()
    except Exception:  # a broken store or settings complete nothing
        return []


def trial_ids(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Ids of the trials starting with ``prefix``: short ids, or as long as the prefix."""
    text = prefix.strip().lower()
    if text and not all(character in "0123456789abcdef" for character in text):
        return []

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

    return list(_quietly(find))


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
