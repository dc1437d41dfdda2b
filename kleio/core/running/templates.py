"""Per-trial folders, and the templates that name them on a command line.

A command line may hold ``{trial.id}``, ``{trial.short_id}``, ``{trial.project}``,
``{trial.working_dir}`` and ``{trial.parent.working_dir}``: Kleio replaces them just
before it starts the command, so ``--save '{trial.working_dir}/model.pt'`` gives each
trial its own file. The trial's identity is computed on the command line as written
(the template), so the same command finds the same trial.

Each trial has a working folder, made when it first runs: ``$KLEIO_HOME/trials/ID`` by
default, or ``ROOT/ID`` under the ``--working-dir ROOT`` given when the trial was
recorded. It is recorded on the trial (``working_dir``) and given to the script as
``KLEIO_TRIAL_WORKING_DIR``. A branch gets a folder of its own, empty; its parent's is
``{trial.parent.working_dir}``. Any other ``{`` is left as it is; a
``{trial.NAME}`` that names nothing above is an error, before anything runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from kleio.core.model.errors import KleioError
from kleio.core.model.trial import TrialDocument, short_id
from kleio.private_files import private_folder
from kleio.store.base import Store

#: The folder of trials' working folders under KLEIO_HOME.
TRIALS_FOLDER = "trials"
FIELDS = ("id", "short_id", "project", "working_dir", "parent.working_dir")
#: A template; re compiles it when a word first holds ``{trial.`` (most command lines
#: hold none, and compiling costs a run's start 0.1 ms).
_TEMPLATE = r"\{trial\.([A-Za-z_][\w.]*)\}"


class TemplateError(KleioError):
    """A ``{trial.NAME}`` that Kleio cannot fill."""

    exit_code = 2


def check_templates(argv: Sequence[str]) -> None:
    """Raise :class:`TemplateError` for a ``{trial.NAME}`` that names no field."""
    for word in argv:
        if "{trial." not in word:
            continue
        for match in re.finditer(_TEMPLATE, word):
            if match[1] not in FIELDS:
                known = ", ".join(f"{{trial.{name}}}" for name in FIELDS)
                raise TemplateError(f"unknown template {match[0]} in {word!r}: Kleio knows {known}")


def default_working_root(home: str | os.PathLike) -> str:
    return str(Path(home) / TRIALS_FOLDER)


def working_dir_of(document: TrialDocument, home: str | os.PathLike) -> str:
    """The trial's working folder: as recorded, else under ``home``."""
    return document.get("working_dir") or os.path.join(default_working_root(home), document["_id"])


def make_working_dir(path: str, home: str | os.PathLike) -> None:
    """Create the folder: for the owner only under KLEIO_HOME (as everything there),
    with the user's permissions elsewhere."""
    try:
        if Path(path).resolve().is_relative_to(Path(home).resolve()):
            private_folder(path)
        else:
            os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise KleioError(
            f"cannot make the working folder {path}: {error.strerror or error}"
        ) from None


def expand_templates(
    argv: Sequence[str], document: TrialDocument, store: Store, home: str | os.PathLike
) -> list[str]:
    """``argv`` with every template replaced by the trial's value (see the module)."""
    if not any("{trial." in word for word in argv):
        return list(argv)
    check_templates(argv)
    values = {
        "id": document["_id"],
        "short_id": short_id(document["_id"]),
        "project": document.get("project") or "",
        "working_dir": working_dir_of(document, home),
    }

    def value(match: re.Match) -> str:
        name = match[1]
        if name not in values:  # parent.working_dir, read when asked for
            parent_id = (document.get("refers") or {}).get("parent")
            parent = store.get_trial(parent_id) if parent_id else None
            if parent is None:
                raise TemplateError(
                    f"{match[0]}: trial {short_id(document['_id'])} has no parent"
                    + (" any more" if parent_id else "")
                )
            values[name] = working_dir_of(parent, home)
        return values[name]

    return [re.sub(_TEMPLATE, value, word) for word in argv]
