"""Studies: the trials of a sweep, saved by one command and run by any number of workers.

``kleio sweep COMMAND`` expands the sweep expressions of a command
(:mod:`kleio.core.model.sweep`) into commands, and saves the trial of each as ``kleio
save`` would: the same trial, with the same id, as the plain command makes. So a sweep
saved twice saves nothing the second time, and a point run before is not saved again.

The trials carry the study's name in their ``study`` field, which the store indexes
(:data:`~kleio.core.model.catalogue.INDEXED_FIELDS`): ``kleio run --study NAME`` runs
them, each exactly once however many workers run at once, and every reader selects on it
(``ls``, ``compare``, ``plot``, ``ui``, ``rm``, ``export``: ``--study NAME``). A trial is in
one study at most: a point saved before joins the study if it was in none, and stays in
its study otherwise (it is the same trial: one execution answers both).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from kleio.core.model.errors import SettingsError
from kleio.core.model.trial import TrialDocument
from kleio.store.base import Store
from kleio.value import Value

#: The trial document's field.
FIELD = "study"
#: The longest study name.
LONGEST = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_OTHER = re.compile(r"[^A-Za-z0-9._-]+")


def check_study(name: str) -> str:
    """``name`` as given, or a one-line :class:`SettingsError` saying what a study name is."""
    if not _NAME.fullmatch(name) or len(name) > LONGEST:
        raise SettingsError(
            f"bad study name {name!r}: a study name is 1 to {LONGEST} letters, digits, "
            "'.', '_' or '-', starting with a letter or a digit"
        )
    return name


def default_study(argv: Sequence[str], swept: Sequence[str]) -> str:
    """The name of a study whose command does not say one: its script's name and the
    keys it sweeps, ``train-lr-seed`` for ``python train.py --lr [..] --seed range(3)``."""
    scripts = [word for word in argv[1:] if not word.startswith("-") and "." in word]
    program = scripts[0] if scripts else argv[0]
    stem = os.path.splitext(os.path.basename(program))[0] or "study"
    parts = [stem, *(key.rsplit(".", 1)[-1] for key in swept)]
    name = "-".join(_OTHER.sub("_", part).strip("_") or "x" for part in parts)
    name = name.lstrip("._-") or "study"
    return name[:LONGEST]


def join_study(store: Store, document: TrialDocument, study: str) -> bool:
    """Put the trial in ``study`` if it is in none; whether it is in ``study`` now."""
    current = document.get(FIELD)
    if current is None:
        store.update_trial(document["_id"], {FIELD: study})
        document[FIELD] = study
        return True
    return current == study


class Saved(Value):
    """What saving a study did: the trials it ``made``, those that existed and
    ``joined`` the study, those that were in it already (``kept``), and those left in
    another study (``elsewhere``: their ids)."""

    FIELDS = ("made", "joined", "kept", "elsewhere")

    def __init__(self, made: int = 0, joined: int = 0, kept: int = 0, elsewhere=()):
        self.made, self.joined, self.kept = made, joined, kept
        self.elsewhere = list(elsewhere)


def save_study(runner, commands: Sequence[Sequence[str]], cwd: str, study: str) -> Saved:
    """Save the trial of each command in ``study`` (see the module documentation) with
    ``runner`` (a :class:`~kleio.core.running.execution.Runner`): the code and the
    environment are looked at once, for the first command, and shared by the others."""
    saved = Saved()
    if not commands:
        return saved
    first = runner.snapshot(list(commands[0]), cwd, runner.options.project)
    snapshots = [first, *(runner.snapshot_like(first, list(argv)) for argv in commands[1:])]
    known = runner.store.get_trials([snapshot.spec.id for snapshot in snapshots])
    for snapshot in snapshots:
        document = runner.save_snapshot(snapshot, quiet=True)
        if document["_id"] not in known and document.get(FIELD) == study:
            saved.made += 1
        elif document.get(FIELD) is None or document.get(FIELD) == study:
            was = document.get(FIELD)
            join_study(runner.store, document, study)
            if was is None:
                saved.joined += 1
            else:
                saved.kept += 1
        else:
            saved.elsewhere.append(document["_id"])
    return saved
