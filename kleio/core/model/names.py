"""Human names of trials: what a name may be, the trial a name gives, naming a trial.

A name (``kleio run --name baseline``) is a field of the trial document, ``name``, never
part of its identity: naming or renaming a trial changes no id. Every command that takes
a trial id takes a name too. The rules:

* A name is 1 to 64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or a
  digit (so that it is one word of a shell, and ``kleio tag NAME +best`` never reads it
  as a tag), and it holds at least one character that is not a hexadecimal digit: a
  word of hexadecimal digits is always an id or an id prefix (``cafe``, ``1234``), so a
  name and an id never compete for a word.
* A name is unique in a journal: naming a trial with the name of another is a one-line
  error naming that trial. Kleio checks before it names, and again after: of two
  processes giving one name at once to two trials, at least one backs out (its trial
  keeps no name) and says so, so two trials never keep the same name. The store has no
  unique index to do it in one step: a name is looked up by reading every trial's name
  from the listings (:data:`~kleio.core.model.catalogue.LISTED_FIELDS`), as ``kleio ls``
  does.
* Names are compared exactly (``Baseline`` is not ``baseline``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kleio.core.model.errors import KleioError, SettingsError
from kleio.store.base import UNSET, Store

if TYPE_CHECKING:
    from kleio.core.model.trial import TrialDocument

#: The trial document's field.
FIELD = "name"
#: The longest name.
LONGEST = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX = re.compile(r"[0-9a-fA-F]+")


class NameTaken(KleioError):
    """Another trial has that name."""


def check_name(name: str) -> str:
    """``name`` as given, or a one-line :class:`SettingsError` saying what a name may be."""
    if not _NAME.fullmatch(name) or len(name) > LONGEST:
        raise SettingsError(
            f"bad name {name!r}: a name is 1 to {LONGEST} letters, digits, '.', '_' or '-', "
            "starting with a letter or a digit"
        )
    if _HEX.fullmatch(name):
        raise SettingsError(
            f"bad name {name!r}: it reads as a trial id (hexadecimal digits only); give a "
            "name with another character (a letter after f, '-', '.' or '_')"
        )
    return name


def could_be_name(word: str) -> bool:
    """Whether ``word`` may name a trial (see :func:`check_name`)."""
    return bool(_NAME.fullmatch(word)) and len(word) <= LONGEST and not _HEX.fullmatch(word)


def _holders(store: Store, name: str) -> list[str]:
    """Ids of the trials named ``name``, oldest first: one, unless a race left two for a
    moment."""
    found = store.find_trials(fields=[FIELD, "created"])
    named = [document for document in found if document.get(FIELD) == name]
    named.sort(key=lambda document: (document.get("created") or 0.0, document["_id"]))
    return [document["_id"] for document in named]


def names_in(store: Store) -> dict[str, str]:
    """Every name of the journal, with the id of the trial that has it."""
    return {
        document[FIELD]: document["_id"]
        for document in store.find_trials(fields=[FIELD])
        if document.get(FIELD) is not None
    }


def named_trial(store: Store, name: str) -> TrialDocument | None:
    """The trial named ``name``, or None."""
    if not could_be_name(name):
        return None
    for trial_id in _holders(store, name):
        document = store.get_trial(trial_id)
        if document is not None:
            return document
    return None


def check_free(store: Store, name: str, trial_id: str | None = None) -> None:
    """Raise :class:`NameTaken` if a trial other than ``trial_id`` has ``name``."""
    for holder in _holders(store, name):
        if holder != trial_id:
            raise _taken(name, holder)


def name_trial(store: Store, document: TrialDocument, name: str) -> str | None:
    """Give the trial ``name`` (its former name, if any, is replaced); returns its former
    name. :class:`NameTaken` if another trial has it: then the trial keeps the name it
    had. Updates ``document``."""
    check_name(name)
    trial_id, former = document["_id"], document.get(FIELD)
    if former == name:
        return former
    check_free(store, name, trial_id)
    if not store.update_trial(trial_id, {FIELD: name}, {FIELD: former}):
        current = store.get_trial(trial_id) or {}
        raise KleioError(
            f"trial {trial_id[:7]} was named {current.get(FIELD)!r} meanwhile; try again"
        )
    document[FIELD] = name
    settle(store, document)
    return former


def settle(store: Store, document: TrialDocument) -> None:
    """After naming: if another trial got the same name meanwhile, take it back from this
    one and raise :class:`NameTaken`. Each of two racing processes writes, then reads:
    the later reader sees both and backs out, so two trials never keep one name (both
    may back out, and both say so)."""
    name, trial_id = document.get(FIELD), document["_id"]
    others = [holder for holder in _holders(store, name) if holder != trial_id]
    if not others:
        return
    store.update_trial(trial_id, {FIELD: UNSET}, {FIELD: name})
    document.pop(FIELD, None)
    raise _taken(name, others[0])


def unname_trial(store: Store, document: TrialDocument) -> str | None:
    """Take the trial's name away; returns it (None if it had none). Updates ``document``."""
    former = document.get(FIELD)
    if former is not None:
        store.update_trial(document["_id"], {FIELD: UNSET}, {FIELD: former})
        document.pop(FIELD, None)
    return former


def _taken(name: str, holder: str) -> NameTaken:
    return NameTaken(
        f"the name {name!r} is taken by trial {holder[:7]}: choose another, or rename that "
        f"trial first (`kleio name {holder[:7]} NEW`)"
    )
